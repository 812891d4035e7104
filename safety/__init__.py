"""Provenance safeguards: screening, watermark, C2PA, registry, verifier. Needs no torch, imports no vasa_core.

- ``safety.config.SafetyConfig.from_env()``: data dir, registry URL, signing chain, trust anchors, gallery, keys.
- ``safety.screening.Screener(config).screen(image_bytes, policy, consent) -> ScreeningReport``.
- ``safety.watermark.Watermarker(config)``: ``new_id()``, ``embed(frames, id)``, ``detect(frames)``.
- ``safety.provenance.Signer(config).sign(src, dst, ManifestInputs) -> ManifestSummary``; ``read_manifest``.
- ``safety.registry.Registry(url)``: ``record(GenerationRecord)``, ``find_by_watermark(id)``.
- ``safety.verify.verify_file(path, config) -> VerificationReport``; CLI ``python -m safety.verify FILE [--json]``.

Submodules load their heavy dependencies (mediapipe, dlib, c2pa) only when imported, so import what you use.
"""
