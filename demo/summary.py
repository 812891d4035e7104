"""Readable Markdown summaries of a generation and of a verification report, for visitors and auditors."""

from __future__ import annotations

from typing import Any

from vasa_core.types import GenerationResult, to_jsonable

# What each C2PA state (safety.provenance.STATES) means to a visitor.
C2PA_STATE_TEXT = {
    "Trusted": "signed and intact, and the signer's certificate chains to a trusted root",
    "Valid": "signed and intact, but the signer's certificate is not from a trusted root "
             "(a development certificate, or one this server was not told to trust)",
    "Invalid": "a manifest is present but does not match the file: it was altered after signing",
    "absent": "no C2PA manifest (never signed, or removed by a re-upload or re-encode)",
}


def provenance_markdown(result: GenerationResult) -> str:
    """The provenance of a fresh clip: watermark id, C2PA state, screening decision, size and time."""
    screening = to_jsonable(result.screening)
    manifest = to_jsonable(result.manifest)
    total_s = sum(t.seconds for t in result.timings)
    rows = [
        ("Invisible watermark", f"`{result.watermark_id}` in every frame; the verifier reads it even after "
                                "re-encoding, and it leads back to this clip's registry record"),
        ("C2PA manifest", _manifest_text(manifest)),
        ("Screening", _screening_text(screening, result.options.policy)),
        ("Clip", f"{result.width}x{result.height}, {result.fps} fps, {result.duration_s:.1f} s "
                 f"({result.num_frames} frames), made in {total_s:.1f} s"),
        ("Generation id", f"`{result.generation_id}`"),
    ]
    lines = ["### Provenance", "", *_items(rows)]
    if result.warnings:
        lines += ["", "**Notes on this clip**", "", *(f"- {w}" for w in result.warnings)]
    return "\n".join(lines)


def verification_markdown(report: Any) -> str:
    """The verifier's report (safety.verify.VerificationReport) in plain words."""
    data = to_jsonable(report)
    c2pa = data.get("c2pa") or {}
    watermark = data.get("watermark") or {}
    registry = data.get("registry")
    state = c2pa.get("state")
    rows = [
        ("C2PA manifest", f"**{state or 'none'}**: {C2PA_STATE_TEXT.get(state, state)}" + _codes(c2pa)),
        ("Invisible watermark", _watermark_text(watermark)),
        ("Registry", _registry_text(registry)),
    ]
    verdict = _verdict(state, watermark.get("found"), registry)
    return "\n".join(["### " + verdict, "", *_items(rows)])


def _items(rows: list[tuple[str, str]]) -> list[str]:
    return [f"- **{label}:** {text}" for label, text in rows]


def _verdict(state: str | None, watermark_found: bool | None, registry: Any) -> str:
    if watermark_found and registry:
        return "Made with this studio" + (" - signed and intact" if state in ("Trusted", "Valid") else "")
    if watermark_found:
        return "Carries this studio's watermark, but no registry record was found here"
    if state in ("Trusted", "Valid"):
        return "Signed C2PA content, without this studio's watermark"
    return "No sign that this studio made it (which does not prove it is authentic)"


def _manifest_text(manifest: dict) -> str:
    """From safety.provenance.ManifestSummary as JSON."""
    state = manifest.get("state")
    text = f"**{state}**: {C2PA_STATE_TEXT.get(state, state)}"
    if manifest.get("signer"):
        text += f"; signer {manifest['signer']}"
    if manifest.get("digital_source_type"):
        text += f"; declares the clip AI-generated (`{manifest['digital_source_type'].rsplit('/', 1)[-1]}`)"
    return text


def _screening_text(screening: dict, policy: str) -> str:
    decision = "allowed" if screening.get("allowed") else "refused"
    reason = screening.get("reason")
    return f"{decision} under policy `{policy}`" + (f": {reason}" if reason else "")


def _codes(c2pa: dict) -> str:
    codes = c2pa.get("failure_codes") or c2pa.get("codes") or []
    return f" (codes: {', '.join(f'`{c}`' for c in codes)})" if codes else ""


def _watermark_text(watermark: dict) -> str:
    if not watermark.get("found"):
        return "not found"
    confidence = watermark.get("confidence")
    text = f"found: id `{watermark.get('watermark_id')}`"
    return text + (f", confidence {confidence:.2f}" if isinstance(confidence, (int, float)) else "")


def _registry_text(registry: Any) -> str:
    if not registry:
        return "no record"
    return f"record `{registry.get('generation_id')}`" if isinstance(registry, dict) else str(registry)
