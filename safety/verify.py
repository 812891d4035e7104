"""Verifier: did this clip or image come from this system, when, from what inputs, under what policy?

    python -m safety.verify FILE [--json] [--quick]

Checks the C2PA manifest (Trusted / Valid / Invalid / absent, with failure codes), looks for the watermark in
the frames (which survives re-encoding that strips the manifest), and looks the watermark id up in the registry.
Exit status: 0 = provenance found (valid manifest or watermark), 1 = none found or the manifest is invalid,
2 = the file cannot be read.

JSON output (``--json``; ``VerificationReport.to_dict``), keys stable within ``schema`` "vasa-verify/1":

- ``schema``: "vasa-verify/1"
- ``file``: ``path``, ``kind`` ("video" | "image"), ``bytes``, ``sha256``
- ``c2pa``: ``state`` ("Trusted" | "Valid" | "Invalid" | "absent"), ``failure_codes`` [str], ``untrusted`` bool,
  ``label``, ``title``, ``claim_generator``, ``signer``, ``signed_at``, ``digital_source_type``, ``software_agent``,
  ``generation_id``, ``watermark_id``, ``ingredients`` [{``title``, ``format``, ``relationship``, ``sha256``}],
  ``controls`` {}, ``screening`` {}, ``error`` (null unless the reader failed)
- ``watermark``: ``found`` bool, ``watermark_id`` (12 hex digits or null), ``confidence`` 0..1, ``z_score``,
  ``frames_used``, ``scale``, ``offset_px`` [x, y], ``chroma_gain``
- ``registry``: null, or ``generation_id``, ``watermark_id``, ``created_at`` (ISO 8601 UTC), ``portrait_sha256``,
  ``audio_sha256``, ``video_sha256``, ``software``, ``options`` {}, ``screening`` {}, ``manifest`` {}
- ``registry_error``: null, or why the registry could not be read
- ``from_this_system``: bool, ``verdict``: one sentence
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from safety.config import SafetyConfig
from safety.media import decode_image, is_video, read_video_frames
from safety.provenance import ManifestSummary, read_manifest
from safety.registry import GenerationRecord, Registry
from safety.watermark import DEFAULT_MAX_FRAMES, MIN_SIDE, Watermarker, WatermarkDetection

SCHEMA = "vasa-verify/1"
QUICK_FRAMES = 50  # --quick: 2 s at 25 fps, no alignment search


@dataclass(frozen=True)
class VerificationReport:
    path: str
    kind: str  # "video" | "image"
    size_bytes: int
    sha256: str
    c2pa: ManifestSummary
    watermark: WatermarkDetection
    registry: GenerationRecord | None
    registry_error: str | None
    from_this_system: bool
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "file": {"path": self.path, "kind": self.kind, "bytes": self.size_bytes, "sha256": self.sha256},
            "c2pa": self.c2pa.to_dict(),
            "watermark": json.loads(json.dumps(dataclasses.asdict(self.watermark))),
            "registry": None if self.registry is None else self.registry.to_dict(),
            "registry_error": self.registry_error,
            "from_this_system": self.from_this_system,
            "verdict": self.verdict,
        }


def verify_file(path: Path | str, config: SafetyConfig, quick: bool = False) -> VerificationReport:
    """Verifies an MP4 (or other video) or an image. Raises ValueError if the file cannot be read as either."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
    manifest = read_manifest(data, config)
    video = is_video(path)
    watermark = _detect(path, data, video, config, quick)
    record, registry_error = None, None
    wid = watermark.watermark_id or manifest.watermark_id
    if wid:
        try:
            registry = Registry(config.registry_url)
            try:
                record = registry.find_by_watermark(wid)
            finally:
                registry.close()
        except ValueError as exc:
            registry_error = str(exc)
    found = manifest.state in ("Trusted", "Valid") or watermark.found
    return VerificationReport(
        path=str(path),
        kind="video" if video else "image",
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        c2pa=manifest,
        watermark=watermark,
        registry=record,
        registry_error=registry_error,
        from_this_system=found and (watermark.found or manifest.generation_id is not None),
        verdict=_verdict(manifest, watermark, record),
    )


def _detect(path: Path, data: bytes, video: bool, config: SafetyConfig, quick: bool) -> WatermarkDetection:
    limit = QUICK_FRAMES if quick else DEFAULT_MAX_FRAMES
    try:
        frames = read_video_frames(path, max_frames=limit) if video else iter([decode_image(data)])
        first = next(frames, None)
    except Exception as exc:  # PyAV and Pillow raise many types for undecodable media
        raise ValueError(f"{path} is neither a readable video nor a readable image ({exc})") from exc
    if first is None or min(first.shape[:2]) < MIN_SIDE:
        return WatermarkDetection(False, None, 0.0, 0.0, 0)
    return Watermarker(config).detect(_until_error(first, frames), search=not quick)


def _until_error(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """The frames up to the first decoding error: a truncated upload still gets its readable part checked."""
    yield first
    try:
        yield from rest
    except Exception:  # noqa: BLE001 - any decoder error ends the readable part
        return


def _verdict(manifest: ManifestSummary, watermark: WatermarkDetection, record: GenerationRecord | None) -> str:
    parts = []
    if manifest.state in ("Trusted", "Valid"):
        trust = "trusted signer" if manifest.state == "Trusted" else "signer not in the trust list"
        parts.append(f"C2PA manifest {manifest.state} ({trust}), generation {manifest.generation_id or 'unknown'}")
    elif manifest.state == "Invalid":
        parts.append(f"C2PA manifest INVALID ({', '.join(manifest.failure_codes) or manifest.error}): the file was "
                     "altered after signing")
    else:
        parts.append("no C2PA manifest (stripped by a re-upload, or never signed)")
    if watermark.found:
        parts.append(f"watermark {watermark.watermark_id} found (confidence {watermark.confidence:.2f}, "
                     f"{watermark.frames_used} frames)")
    else:
        parts.append("no watermark found")
    if record is not None:
        parts.append(f"registry: generation {record.generation_id} made {record.created_at.isoformat()} "
                     f"under policy {record.screening.get('policy', '?')}")
    return "; ".join(parts) + "."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m safety.verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="MP4 or image to verify")
    parser.add_argument("--json", action="store_true", help="print the report as JSON (keys: see module docs)")
    parser.add_argument("--quick", action="store_true", help="first 2 s only, no crop/contrast search")
    args = parser.parse_args(argv)
    try:
        report = verify_file(args.file, SafetyConfig.from_env(), quick=args.quick)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    else:
        _print_text(report)
    found = report.c2pa.state in ("Trusted", "Valid") or report.watermark.found
    return 0 if found and report.c2pa.state != "Invalid" else 1


def _print_text(report: VerificationReport) -> None:
    c, w = report.c2pa, report.watermark
    print(f"file       {report.path} ({report.kind}, {report.size_bytes} bytes, sha256 {report.sha256[:16]}...)")
    print(f"C2PA       {c.state}" + (f"  failures: {', '.join(c.failure_codes)}" if c.failure_codes else ""))
    if c.state != "absent":
        print(f"           signer {c.signer}; generator {c.claim_generator}; source type {c.digital_source_type}")
        print(f"           generation {c.generation_id}; watermark id {c.watermark_id}")
        for ing in c.ingredients:
            print(f"           ingredient {ing.title} ({ing.format}) sha256 {ing.sha256}")
    print(f"watermark  {'found ' + str(w.watermark_id) if w.found else 'not found'}  confidence {w.confidence:.2f}  "
          f"z {w.z_score:.1f}  frames {w.frames_used}")
    if report.registry is not None:
        r = report.registry
        print(f"registry   generation {r.generation_id} at {r.created_at.isoformat()}; portrait sha256 "
              f"{r.portrait_sha256[:16]}...; audio sha256 {r.audio_sha256[:16]}...; policy {r.screening.get('policy')}")
    elif report.registry_error:
        print(f"registry   unavailable: {report.registry_error}")
    print(f"verdict    {report.verdict}")


if __name__ == "__main__":
    raise SystemExit(main())
