"""The CLI end to end: a real clip that verifies, and bad inputs that exit 2 leaving nothing behind."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vasa_core import __main__ as cli
from vasa_core import media

from .test_media import _encode_audio, _png_header_only, _tone

pytestmark = pytest.mark.cpu
ROOT = Path(__file__).resolve().parents[1]
PORTRAIT = ROOT / "assets" / "examples" / "woman_stylegan2.jpeg"
SPEECH = ROOT / "assets" / "examples" / "speech_en_jfk.flac"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    os.environ["VASA_DATA_DIR"] = str(tmp_path_factory.mktemp("vasa-data"))
    from vasa_core.pipeline import TalkingHeadPipeline

    with TalkingHeadPipeline() as pipe:
        yield pipe


@pytest.fixture()
def run_cli(pipeline, monkeypatch, capsys):
    """Runs main() in-process with the module's pipeline (models load once)."""
    import vasa_core.pipeline

    monkeypatch.setattr(vasa_core.pipeline, "TalkingHeadPipeline", lambda *a, **k: _Borrowed(pipeline))

    def run(*args: str) -> tuple[int, str]:
        code = cli.main(["generate", "--quiet", *args])
        return code, capsys.readouterr().err

    return run


class _Borrowed:
    """The module's pipeline, lent to main(): its `with` block must not close it."""

    def __init__(self, pipeline):
        self._pipeline = pipeline

    def __enter__(self):
        return self._pipeline

    def __exit__(self, *exc):
        return None


def _short_speech(tmp_path: Path, seconds: float = 1.2) -> Path:
    clip = media.read_audio(SPEECH)
    cut = clip.samples[int(1.0 * clip.sample_rate) : int((1.0 + seconds) * clip.sample_rate)]
    return _encode_audio(tmp_path / "speech.wav", cut, clip.sample_rate, "pcm_s16le", "wav")


def _bad_image(tmp_path: Path, kind: str) -> Path:
    if kind == "text.png":
        p = tmp_path / "portrait.png"
        p.write_text("hello")
    elif kind == "truncated.jpg":
        p = tmp_path / "portrait.jpg"
        data = PORTRAIT.read_bytes()
        p.write_bytes(data[: len(data) // 3])
    elif kind == "huge.png":
        p = tmp_path / "huge.png"
        p.write_bytes(_png_header_only(20000, 20000))
    else:  # "noface.png": a smooth gradient with texture but no face
        p = tmp_path / "noface.png"
        y, x = np.mgrid[0:400, 0:300]
        img = np.stack([x % 256, y % 256, (x + y) % 256], -1).astype(np.uint8)
        Image.fromarray(img).save(p)
    return p


@pytest.mark.parametrize(
    "kind,message",
    [
        ("text.png", "not an image"),
        ("truncated.jpg", "damaged or truncated"),
        ("huge.png", "too large"),
        ("noface.png", "face"),
    ],
)
def test_bad_image_exits_2_with_a_specific_message(tmp_path, run_cli, kind, message):
    out = tmp_path / "out" / "clip.mp4"
    code, err = run_cli("--image", str(_bad_image(tmp_path, kind)), "--audio", str(_short_speech(tmp_path)),
                        "--out", str(out), "--policy", "open")
    assert code == 2, err
    assert message in err.lower()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


@pytest.mark.parametrize("kind,message", [("empty", "empty"), ("silent", "silent"), ("long", "maximum")])
def test_bad_audio_exits_2_with_a_specific_message(tmp_path, run_cli, kind, message):
    if kind == "empty":
        audio = tmp_path / "a.wav"
        audio.write_bytes(b"")
    elif kind == "silent":
        audio = _encode_audio(tmp_path / "a.wav", np.zeros(16000, np.float32), 16000, "pcm_s16le", "wav")
    else:
        audio = _encode_audio(tmp_path / "a.wav", _tone(8000, 4.0), 8000, "pcm_s16le", "wav")
    out = tmp_path / "out" / "clip.mp4"
    code, err = run_cli("--image", str(PORTRAIT), "--audio", str(audio), "--out", str(out),
                        "--max-audio-seconds", "2")
    assert code == 2, err
    assert message in err.lower()
    assert not out.exists()


def test_out_of_range_control_exits_2(tmp_path, run_cli):
    code, err = run_cli("--image", str(PORTRAIT), "--audio", str(SPEECH), "--out", str(tmp_path / "x.mp4"),
                        "--distance", "3")
    assert code == 2 and "distance" in err


def test_generate_writes_a_signed_watermarked_clip_as_long_as_the_audio(tmp_path, run_cli):
    audio = _short_speech(tmp_path, 2.0)
    out, report = tmp_path / "clip.mp4", tmp_path / "report.json"
    code, err = run_cli("--image", str(PORTRAIT), "--audio", str(audio), "--out", str(out), "--size", "256",
                        "--report", str(report))
    assert code == 0, err
    info = media.probe_video(out)
    clip = media.read_audio(audio)
    assert abs(info.duration_s - clip.duration_s) <= 1 / 25 + 1e-6
    assert abs(info.audio_duration_s - clip.duration_s) <= 1 / 25 + 0.01
    assert max(info.width, info.height) == 256
    data = json.loads(report.read_text())
    assert data["screening"]["allowed"] is True
    assert len(data["watermark_id"]) > 0
    assert {t["stage"] for t in data["timings"]} >= {"screening", "face_analysis", "render", "sign"}
    listing = sorted(p.name for p in tmp_path.iterdir())
    assert not [n for n in listing if n.startswith(".")], f"temporary files left behind: {listing}"


def test_cli_and_verifier_end_to_end_in_subprocesses(tmp_path, shared_media):
    """The README's example, as a user types it: generate on a shared portrait + the JFK speech, then verify."""
    env = dict(os.environ, VASA_DATA_DIR=str(tmp_path / "data"))
    out = tmp_path / "jfk.mp4"
    portrait = shared_media / "portraits" / "p03_ai_flux_man_halfbody_frontal.png"
    audio = shared_media / "audio" / "a01_en_jfk.flac"
    gen = subprocess.run(
        [sys.executable, "-m", "vasa_core", "generate", "--image", str(portrait), "--audio", str(audio),
         "--out", str(out), "--size", "256", "--quiet"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert gen.returncode == 0, gen.stderr
    info = media.probe_video(out)
    assert abs(info.duration_s - 11.0) <= 1 / 25 + 1e-6
    ver = subprocess.run([sys.executable, "-m", "safety.verify", str(out), "--json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert ver.returncode == 0, ver.stderr
    report = json.loads(ver.stdout)
    assert report["watermark"]["found"] is True
    assert report["c2pa"]["state"] in ("Valid", "Trusted")
    assert report["registry"] is not None


def test_policy_refusal_exits_3(tmp_path, run_cli, shared_media):
    code, err = run_cli("--image", str(shared_media / "portraits" / "p19_real_macron_frontal.png"),
                        "--audio", str(_short_speech(tmp_path)), "--out", str(tmp_path / "x.mp4"))
    assert code == 3, err
    assert not (tmp_path / "x.mp4").exists()


def test_help_lists_every_control():
    buf = io.StringIO()
    parser = cli.build_parser()
    sub = parser._subparsers._group_actions[0].choices["generate"]
    sub.print_help(buf)
    for flag in ("--transcript", "--emotion", "--emotion-intensity", "--gaze", "--distance", "--head-motion",
                 "--blink-rate", "--seed", "--size", "--fps", "--device", "--policy", "--consent", "--report"):
        assert flag in buf.getvalue()
