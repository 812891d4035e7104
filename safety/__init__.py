"""Provenance safeguards: screening, watermark, C2PA, registry, verifier. Needs no torch."""
