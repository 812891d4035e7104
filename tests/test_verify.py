"""Verifier: a generated clip verifies; tampering is caught; a re-upload without the manifest is still named."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from safety import verify
from safety.config import SafetyConfig
from safety.media import read_video_frames
from safety.provenance import ManifestInputs, Signer
from safety.registry import GenerationRecord, Registry
from safety.screening import ScreeningReport
from safety.watermark import Watermarker

FRAMES = 25


def encode(frames: np.ndarray, path: Path, crf: int) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def generated(shared_media, tmp_path_factory):
    """What the pipeline leaves behind: a marked, encoded, signed MP4 and its registry row."""
    root = tmp_path_factory.mktemp("gen")
    config = SafetyConfig.from_env({"VASA_DATA_DIR": str(root / "data")})
    frames = np.stack(list(read_video_frames(shared_media / "videos" / "v06_real_theresa_may.mp4", max_frames=FRAMES)))
    wm = Watermarker(config)
    wid = wm.new_id()
    tmp = encode(wm.embed(frames, wid), root / "tmp.mp4", crf=18)
    portrait, audio = b"\x89PNG\r\n\x1a\nportrait", b"RIFF\x00\x00\x00\x00WAVEaudio"
    screening = ScreeningReport(True, None, "Allowed under the open (research) policy.", "open", False)
    final = root / "final.mp4"
    summary = Signer(config).sign(tmp, final, ManifestInputs(
        generation_id="gen-42", watermark_id=wid, portrait=portrait, portrait_filename="face.png", audio=audio,
        audio_filename="voice.wav", controls={"seed": 1}, screening=screening))
    Registry(config.registry_url).record(GenerationRecord(
        generation_id="gen-42", watermark_id=wid, portrait_sha256=hashlib.sha256(portrait).hexdigest(),
        audio_sha256=hashlib.sha256(audio).hexdigest(), options={"controls": {"seed": 1}},
        screening=screening.to_dict(), manifest=summary.to_dict()))
    return config, final, wid, root


def test_generated_clip_verifies(generated):
    config, final, wid, _ = generated
    report = verify.verify_file(final, config)
    assert report.kind == "video"
    assert report.c2pa.state == "Valid" and report.c2pa.watermark_id == wid
    assert report.watermark.found and report.watermark.watermark_id == wid
    assert report.registry is not None and report.registry.generation_id == "gen-42"
    assert report.from_this_system and "gen-42" in report.verdict


def test_reupload_without_manifest_is_traced_through_watermark_and_registry(generated):
    config, final, wid, root = generated
    frames = np.stack(list(read_video_frames(final)))
    reuploaded = encode(frames, root / "reupload.mp4", crf=28)  # platform re-encode: the manifest is gone
    report = verify.verify_file(reuploaded, config)
    assert report.c2pa.state == "absent"
    assert report.watermark.found and report.watermark.watermark_id == wid
    assert report.registry.generation_id == "gen-42" and report.from_this_system


def test_flipped_byte_reads_invalid_and_exits_1(generated, monkeypatch, capsys):
    config, final, _, root = generated
    data = bytearray(final.read_bytes())
    data[data.index(b"mdat") + 100] ^= 0x01
    tampered = root / "tampered.mp4"
    tampered.write_bytes(bytes(data))
    monkeypatch.setenv("VASA_DATA_DIR", str(config.data_dir))
    assert verify.main([str(tampered), "--json", "--quick"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["c2pa"]["state"] == "Invalid" and "assertion.bmffHash.mismatch" in out["c2pa"]["failure_codes"]
    assert "INVALID" in out["verdict"]


def test_json_keys_are_stable(generated, monkeypatch, capsys):
    config, final, _, _ = generated
    monkeypatch.setenv("VASA_DATA_DIR", str(config.data_dir))
    assert verify.main([str(final), "--json", "--quick"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"schema", "file", "c2pa", "watermark", "registry", "registry_error", "from_this_system",
                        "verdict"}
    assert out["schema"] == "vasa-verify/1"
    assert set(out["file"]) == {"path", "kind", "bytes", "sha256"}
    assert {"state", "failure_codes", "untrusted", "generation_id", "watermark_id", "ingredients", "controls",
            "screening", "signer", "digital_source_type", "error"} <= set(out["c2pa"])
    assert set(out["watermark"]) == {"found", "watermark_id", "confidence", "z_score", "frames_used", "scale",
                                     "offset_px", "chroma_gain"}
    assert {"generation_id", "watermark_id", "created_at", "portrait_sha256", "audio_sha256", "options",
            "screening", "manifest"} <= set(out["registry"])


def test_text_output_and_images(generated, monkeypatch, capsys):
    config, final, wid, root = generated
    frame = next(read_video_frames(final))
    still = root / "still.png"
    Image.fromarray(frame).save(still)
    monkeypatch.setenv("VASA_DATA_DIR", str(config.data_dir))
    assert verify.main([str(still)]) == 0
    text = capsys.readouterr().out
    assert f"found {wid}" in text and "gen-42" in text and "C2PA       absent" in text


def test_unreadable_file_exits_2(tmp_path, capsys):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00" * 100)
    assert verify.main([str(junk)]) == 2
    assert "neither a readable video nor a readable image" in capsys.readouterr().err
