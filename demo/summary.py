"""Readable Markdown summaries of a generation and of a verification report, for visitors and auditors."""

from __future__ import annotations

from safety.provenance import ManifestSummary
from safety.screening import ScreeningReport
from safety.verify import VerificationReport
from vasa_core.types import GenerationResult

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
    total_s = sum(t.seconds for t in result.timings)
    rows = [
        ("Invisible watermark", f"`{result.watermark_id}` in every frame; the verifier reads it even after "
                                "re-encoding, and it leads back to this clip's registry record"),
        ("C2PA manifest", _c2pa_text(result.manifest)),
        ("Screening", _screening_text(result.screening)),
        ("Clip", f"{result.width}x{result.height}, {result.fps} fps, {result.duration_s:.1f} s "
                 f"({result.num_frames} frames), made in {total_s:.1f} s"),
        ("Generation id", f"`{result.generation_id}`"),
    ]
    lines = ["### Provenance", "", *_items(rows)]
    if result.warnings:
        lines += ["", "**Notes on this clip**", "", *(f"- {w}" for w in result.warnings)]
    return "\n".join(lines)


def verification_markdown(report: VerificationReport) -> str:
    """The verifier's report in plain words: a headline, then manifest, watermark and registry."""
    watermark, record = report.watermark, report.registry
    if watermark.found:
        watermark_text = (f"**found**: id `{watermark.watermark_id}`, confidence {watermark.confidence:.2f} over "
                          f"{watermark.frames_used} frame(s)")
    else:
        watermark_text = "**not found**"
    if record is not None:
        registry_text = (f"generation `{record.generation_id}`, made {record.created_at:%Y-%m-%d %H:%M} UTC under "
                         f"policy `{record.screening.get('policy', '?')}`")
    else:
        registry_text = report.registry_error or "no record on this server"
    rows = [("C2PA manifest", _c2pa_text(report.c2pa)), ("Invisible watermark", watermark_text),
            ("Registry", registry_text)]
    return "\n".join(["### " + _headline(report), "", *_items(rows)])


def _headline(report: VerificationReport) -> str:
    intact = report.c2pa.state in ("Trusted", "Valid")
    if report.from_this_system and report.registry is not None:
        return "Made with this studio" + (" - signed and intact" if intact else " - traced by its watermark")
    if report.from_this_system:
        return "Made with this studio, but this server has no record of it"
    if report.c2pa.state == "Invalid":
        return "Altered after signing: the C2PA manifest does not match the file"
    if intact:
        return "Signed C2PA content, not from this studio"
    return "No sign that this studio made it (which does not prove it is authentic)"


def _c2pa_text(manifest: ManifestSummary) -> str:
    text = f"**{manifest.state}**: {C2PA_STATE_TEXT.get(manifest.state, manifest.state)}"
    if manifest.failure_codes:
        text += f" (codes: {', '.join(f'`{code}`' for code in manifest.failure_codes)})"
    if manifest.signer:
        text += f"; signer {manifest.signer}"
    if manifest.is_ai_generated:
        text += "; declares the content AI-generated"
    return text


def _screening_text(screening: ScreeningReport) -> str:
    return f"policy `{screening.policy}` - {screening.reason}"


def _items(rows: list[tuple[str, str]]) -> list[str]:
    return [f"- **{label}:** {text}" for label, text in rows]
