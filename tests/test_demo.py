"""The hosted demo end to end: ``python app.py`` on a free port, driven through gradio_client like a script would.

One server serves the whole module (the models load once, as in production), started with a queue of 1 and one
generation slot so that the busy answer can be provoked with three requests.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from demo.options import CONTROL_SLIDERS, options_from_ui
from demo.settings import DemoSettings, default_concurrency, parse_settings
from demo.summary import verification_markdown
from vasa_core import media
from vasa_core.errors import InputError

pytestmark = pytest.mark.cpu
ROOT = Path(__file__).resolve().parents[1]
PORTRAIT = ROOT / "assets" / "examples" / "woman_stylegan2.jpeg"
SPEECH = ROOT / "assets" / "examples" / "speech_en_jfk.flac"


def unlisted_portrait(folder: Path) -> Path:
    """The example picture as other bytes: no longer on the operator's list of known AI-generated images."""
    path = folder / "unlisted.jpeg"
    path.write_bytes(PORTRAIT.read_bytes() + b"\0")
    return path
SERVER_START_TIMEOUT_S = 300  # model loading on a busy 2-core machine
REQUEST_TIMEOUT_S = 120
MAX_UPLOAD_MB = 2  # the server under test: every test input is below, the oversized one above
OUTPUT_SIZE = 256  # small output keeps each request to a few seconds on CPU


class DemoServer:
    """``python app.py`` in a subprocess on a free local port, with its own data and cache folders."""

    def __init__(self, workdir: Path, *flags: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.data_dir = workdir / "data"
        self.cache_dir = workdir / "gradio-cache"
        self.clips_dir = self.cache_dir / "vasa-clips"
        self.log_path = workdir / "server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VASA_", "GRADIO_"))}
        env.update(VASA_DATA_DIR=str(self.data_dir), GRADIO_TEMP_DIR=str(self.cache_dir),
                   GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(self.port), *flags],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout_s: float = SERVER_START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the demo exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "config", timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(1)
        raise TimeoutError(f"the demo did not answer within {timeout_s} s:\n{self.log_tail()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)
        self._log.close()

    def log_tail(self, chars: int = 4000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def clips(self) -> list[Path]:
        return sorted(self.clips_dir.glob("*.mp4")) if self.clips_dir.is_dir() else []

    def temporary(self) -> list[Path]:
        """The pipeline's and the encoder's hidden work files (.partial-*, .unsigned-*)."""
        return sorted(self.clips_dir.glob(".*")) if self.clips_dir.is_dir() else []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workdir: Path, *flags: str) -> DemoServer:
    server = DemoServer(workdir, *flags)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def write_speech(path: Path, seconds: float, start_s: float = 1.0) -> Path:
    """A cut of the example speech as 16-bit WAV."""
    clip = media.read_audio(SPEECH)
    cut = clip.samples[int(start_s * clip.sample_rate): int((start_s + seconds) * clip.sample_rate)]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(clip.sample_rate)
        w.writeframes((np.clip(cut, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def write_noface(path: Path) -> Path:
    """A textured gradient: a valid image with no face in it."""
    y, x = np.mgrid[0:400, 0:300]
    Image.fromarray(np.stack([x % 256, y % 256, (x + y) % 256], -1).astype(np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = start_server(tmp_path_factory.mktemp("demo"), "--queue-size", "1", "--concurrency", "1",
                     "--max-upload-mb", str(MAX_UPLOAD_MB), "--policy", "consent")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    return write_speech(tmp_path_factory.mktemp("audio") / "speech.wav", 1.5)


def client_for(server: DemoServer):
    from gradio_client import Client

    return Client(server.url, verbose=False, download_files=str(server.workdir / "client-downloads"))


def generate_args(portrait: Path, audio: Path | None, **overrides) -> dict:
    from gradio_client import handle_file

    args = dict(portrait=handle_file(str(portrait)), audio=handle_file(str(audio)) if audio else None,
                size=OUTPUT_SIZE, consent=True)
    args.update(overrides)
    return args


def test_generate_then_verify_through_gradio_client(server, speech):
    from gradio_client import handle_file

    client = client_for(server)
    video, download, summary, report = client.predict(**generate_args(PORTRAIT, speech), api_name="/generate")

    clip = Path(video)
    info = media.probe_video(clip)
    assert max(info.width, info.height) == OUTPUT_SIZE
    assert abs(info.duration_s - media.read_audio(speech).duration_s) <= 1 / 25 + 1e-6
    assert report["screening"]["allowed"] is True
    assert report["watermark_id"] and report["watermark_id"] in summary
    # The visitor downloads exactly the file that was signed: Gradio served it without re-encoding.
    served = server.clips_dir / Path(report["video_path"]).name
    assert served.read_bytes() == clip.read_bytes() == Path(download).read_bytes()
    assert server.temporary() == [], "a work file was left behind"

    text, raw = client.predict(handle_file(str(clip)), api_name="/verify")
    assert raw["watermark"]["found"] is True
    assert raw["watermark"]["watermark_id"] == report["watermark_id"]
    assert raw["c2pa"]["state"] in ("Valid", "Trusted")
    assert raw["registry"] is not None
    assert "Made with this studio" in text
    assert raw["file"]["path"] is None and raw["file"]["kind"] == "video"


@pytest.mark.parametrize(
    "case,message",
    [
        ("noface", "face"),
        ("text-as-png", "not an image"),
        ("no-voice", "No voice was given"),
        ("size-not-offered", "size=300"),
    ],
)
def test_bad_input_comes_back_as_a_clear_message(server, speech, tmp_path, case, message):
    from gradio_client.exceptions import AppError

    portrait, audio, overrides = PORTRAIT, speech, {}
    if case == "noface":
        portrait = write_noface(tmp_path / "gradient.png")
    elif case == "text-as-png":
        portrait = tmp_path / "portrait.png"
        portrait.write_text("this is not a picture")
    elif case == "no-voice":
        audio = None
    else:
        overrides = {"size": 300}
    before = server.clips()
    with pytest.raises(AppError, match=message) as caught:
        client_for(server).predict(**generate_args(portrait, audio, **overrides), api_name="/generate")
    assert "Traceback" not in str(caught.value)
    assert server.clips() == before and server.temporary() == []


def test_policy_refusal_comes_back_with_its_reason(server, speech, tmp_path):
    """Under "consent", a portrait without evidence of being synthetic needs the attestation."""
    from gradio_client.exceptions import AppError

    before = server.clips()
    with pytest.raises(AppError, match="consent") as caught:
        client_for(server).predict(**generate_args(unlisted_portrait(tmp_path), speech, consent=False),
                                   api_name="/generate")
    assert caught.value.title == "Refused by the safety policy"
    assert server.clips() == before


def test_upload_over_the_limit_is_refused_before_it_is_stored(server, tmp_path):
    import httpx

    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(int((MAX_UPLOAD_MB + 1) * 1e6)))
    with big.open("rb") as f:
        response = httpx.post(server.url + "gradio_api/upload", files={"files": ("big.png", f, "image/png")},
                              timeout=REQUEST_TIMEOUT_S)
    assert response.status_code == 413, response.text
    stored = [p for p in server.cache_dir.rglob("big.png")]
    assert stored == []
    with pytest.raises(ValueError, match="maximum file size"):
        client_for(server).predict(**generate_args(big, None), api_name="/generate")


def test_two_concurrent_requests_complete_and_a_third_is_told_busy(server, tmp_path):
    """One slot and a queue of one: the first runs, the second waits and completes, the third is refused."""
    from gradio_client.utils import QueueError, Status

    longer = write_speech(tmp_path / "longer.wav", 2.5)
    first = client_for(server).submit(**generate_args(PORTRAIT, longer), api_name="/generate")
    wait_for_condition(lambda: first.status().code in (Status.PROCESSING, Status.PROGRESS), "the first job to start")
    second = client_for(server).submit(**generate_args(PORTRAIT, longer, seed=1), api_name="/generate")
    wait_for_condition(lambda: second.status().code == Status.IN_QUEUE, "the second job to queue")
    third = client_for(server).submit(**generate_args(PORTRAIT, longer, seed=2), api_name="/generate")
    with pytest.raises(QueueError, match="Queue is full"):
        third.result(timeout=REQUEST_TIMEOUT_S)
    assert first.status().code != Status.FINISHED, "the first job ended before the third arrived: test too fast"

    results = [job.result(timeout=REQUEST_TIMEOUT_S) for job in (first, second)]
    ids = {report["watermark_id"] for _, _, _, report in results}
    assert len(ids) == 2
    for video, *_ in results:
        assert media.probe_video(Path(video)).duration_s > 2.4


def test_cancel_stops_the_running_job_and_keeps_nothing(server, tmp_path):
    from gradio_client.utils import Status

    long_speech = write_speech(tmp_path / "long.wav", 9.0)
    before = server.clips()
    job = client_for(server).submit(**generate_args(PORTRAIT, long_speech), api_name="/generate")
    wait_for_condition(lambda: server.temporary() != [], "rendering to start", timeout_s=REQUEST_TIMEOUT_S)
    assert job.cancel() is True
    # The worker stops at its next chunk and removes its partial file. Had it carried on, the partial file
    # would only vanish once the signed clip was written next to it.
    wait_for_condition(lambda: server.temporary() == [], "the partial file to be removed", timeout_s=30)
    assert server.clips() == before
    assert job.status().code in (Status.CANCELLED, Status.FINISHED)
    # The slot is free again: a short request runs at once.
    short = write_speech(tmp_path / "short.wav", 1.0)
    client_for(server).predict(**generate_args(PORTRAIT, short), api_name="/generate")


def wait_for_condition(condition, what: str, timeout_s: float = 60.0, poll_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s} s for {what}")
        time.sleep(poll_s)


# Settings and options: the operator's flags and the visitor's controls, without a server.


def test_flags_win_over_environment_which_wins_over_defaults():
    env = {"VASA_PORT": "9000", "VASA_POLICY": "synthetic-only", "VASA_QUEUE_SIZE": "3",
           "GRADIO_SERVER_NAME": "0.0.0.0"}
    s = parse_settings(["--port", "9100", "--concurrency", "2"], env)
    assert (s.port, s.policy, s.queue_size, s.host, s.concurrency) == (9100, "synthetic-only", 3, "0.0.0.0", 2)
    d = parse_settings([], {})
    assert (d.port, d.policy, d.host, d.device) == (7860, "consent", "127.0.0.1", "cpu")
    assert d.concurrency == default_concurrency("cpu")


def test_bad_setting_exits_with_a_message_that_names_it(capsys):
    with pytest.raises(SystemExit):
        parse_settings([], {"VASA_POLICY": "anything-goes"})
    assert "policy" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_settings(["--queue-size", "0"], {})
    assert "queue_size" in capsys.readouterr().err


def test_app_refuses_a_certificate_without_its_key_before_loading_models(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VASA_")}
    env["VASA_DATA_DIR"] = str(tmp_path)
    run = subprocess.run([sys.executable, "app.py", "--signing-cert", str(tmp_path / "chain.pem")], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "VASA_SIGNING_KEY" in run.stderr and "Traceback" not in run.stderr


def test_concurrency_is_sized_for_the_device():
    assert default_concurrency("cpu", cpu_count=2) == 1
    assert default_concurrency("cpu", cpu_count=16) == 4
    assert default_concurrency("cuda", cpu_count=2) == 2


def test_signing_and_registry_flags_override_the_environment(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    s = DemoSettings(registry_url="sqlite:///x.db", signing_cert=cert, signing_key=key)
    config = s.safety_config({"VASA_DATA_DIR": str(tmp_path), "VASA_REGISTRY_URL": "sqlite:///y.db"})
    assert (config.registry_url, config.signing_cert, config.signing_key) == ("sqlite:///x.db", cert, key)
    assert DemoSettings().safety_config({"VASA_REGISTRY_URL": "sqlite:///y.db"}).registry_url == "sqlite:///y.db"


def _ui_values(**overrides) -> dict:
    values = {name: spec.default for name, spec in CONTROL_SLIDERS.items()}
    values.update(transcript="  ", emotion="neutral", size=256, seed=None, consent=False)
    values.update(overrides)
    return values


def test_options_take_controls_from_the_visitor_and_policy_from_the_operator():
    settings = DemoSettings(policy="synthetic-only", device="cpu", max_audio_s=30)
    o = options_from_ui(settings, **_ui_values(emotion="happy", gaze_yaw=12.0, distance=1.1, seed=7.0,
                                                transcript=" ask not ", consent=True))
    assert (o.controls.emotion, o.controls.gaze_yaw, o.controls.distance, o.controls.seed) == ("happy", 12.0, 1.1, 7)
    assert (o.policy, o.consent, o.max_audio_s, o.size, o.transcript) == ("synthetic-only", True, 30, 256, "ask not")
    assert options_from_ui(settings, **_ui_values()).transcript is None


@pytest.mark.parametrize("overrides,name", [({"gaze_yaw": 90}, "gaze_yaw"), ({"size": 1024}, "size"),
                                            ({"emotion": "bored"}, "emotion")])
def test_out_of_range_control_is_an_input_error_naming_it(overrides, name):
    with pytest.raises(InputError, match=name):
        options_from_ui(DemoSettings(max_size=512), **_ui_values(**overrides))


def test_verification_summary_does_not_claim_authenticity_for_unmarked_media():
    from safety.provenance import ManifestSummary
    from safety.verify import VerificationReport
    from safety.watermark import WatermarkDetection

    report = VerificationReport(
        path="x.mp4", kind="video", size_bytes=1, sha256="0", c2pa=ManifestSummary(state="absent"),
        watermark=WatermarkDetection(False, None, 0.0, 0.0, 25), registry=None, registry_error=None,
        from_this_system=False, verdict="no C2PA manifest; no watermark found.",
    )
    text = verification_markdown(report)
    assert "No sign that this studio made it" in text and "does not prove" in text
    assert "**not found**" in text and "no record on this server" in text


def test_demo_has_two_named_endpoints_a_bounded_queue_and_a_file_sweeper():
    from types import SimpleNamespace

    from demo.ui import build_demo

    settings = DemoSettings(queue_size=3, concurrency=2, keep_files_s=600)
    demo = build_demo(SimpleNamespace(config=None), settings)
    public = {fn.api_name: fn for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert set(public) == {"generate", "verify"}
    assert public["generate"].concurrency_limit == 2 and public["generate"].concurrency_id == "generate"
    assert public["generate"].preprocess is False  # the uploads reach screening byte for byte
    assert demo._queue.max_size == 3
    assert demo.delete_cache == (60, 600)
