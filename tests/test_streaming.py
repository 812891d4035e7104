"""Live generation: frames come back while audio is still arriving, watermarked; finish() signs the session."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from safety.verify import verify_file
from vasa_core import GenerationOptions, media
from vasa_core.errors import InputError
from vasa_core.streaming import STREAM_LOOKAHEAD_FRAMES

pytestmark = pytest.mark.cpu
ROOT = Path(__file__).resolve().parents[1]
PORTRAIT = ROOT / "assets" / "examples" / "woman_stylegan2.jpeg"
SPEECH = ROOT / "assets" / "examples" / "speech_en_jfk.flac"
OPTIONS = GenerationOptions(size=256, max_audio_s=5.0)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    import os

    os.environ["VASA_DATA_DIR"] = str(tmp_path_factory.mktemp("vasa-data"))
    from vasa_core import TalkingHeadPipeline

    with TalkingHeadPipeline() as pipe:
        yield pipe


@pytest.fixture(scope="module")
def speech():
    clip = media.read_audio(SPEECH)
    return clip.samples[: int(1.6 * clip.sample_rate)], clip.sample_rate


def test_frames_arrive_during_the_stream_and_the_session_is_signed(pipeline, speech, tmp_path):
    samples, rate = speech
    out = tmp_path / "live.mp4"
    step = int(0.2 * rate)
    with pipeline.open_stream(PORTRAIT, out, rate, OPTIONS) as session:
        counts = [len(session.push(samples[i : i + step])) for i in range(0, len(samples), step)]
        first = counts[0]
        result = session.finish()
    assert first == math.floor(0.2 * 25) - STREAM_LOOKAHEAD_FRAMES  # frames lag the audio by the look-ahead only
    assert sum(counts) == math.floor(len(samples) / rate * 25) - STREAM_LOOKAHEAD_FRAMES
    assert result.num_frames == math.ceil(len(samples) / rate * 25)
    info = media.probe_video(out)
    assert info.num_frames == result.num_frames
    assert abs(info.audio_duration_s - len(samples) / rate) <= 1 / 25 + 0.01
    report = verify_file(out, pipeline.config)
    assert report.watermark.found and report.watermark.watermark_id == result.watermark_id
    assert report.c2pa.state in ("Valid", "Trusted")
    assert [t.stage for t in result.timings][-3:] == ["stream", "sign", "record"]


def test_streamed_frames_carry_the_watermark_and_the_mouth_moves(pipeline, speech, tmp_path):
    samples, rate = speech
    with pipeline.open_stream(PORTRAIT, tmp_path / "x.mp4", rate, OPTIONS) as session:
        frames = np.concatenate([session.push(samples[: int(1.2 * rate)])])
        found = pipeline.watermarker.detect(frames)
        assert found.found and found.watermark_id == session.watermark_id
    h = frames.shape[1]
    mouth = frames[:, int(0.55 * h) : int(0.8 * h)].astype(np.float32)
    assert np.abs(np.diff(mouth, axis=0)).mean() > 0.5, "the mouth region should change while speech plays"
    assert list(tmp_path.iterdir()) == [], "a closed (unfinished) session leaves no file"


def test_a_stream_over_the_limit_is_refused_and_leaves_nothing(pipeline, speech, tmp_path):
    samples, rate = speech
    with pipeline.open_stream(PORTRAIT, tmp_path / "x.mp4", rate, GenerationOptions(size=256, max_audio_s=1.0)) as s:
        s.push(samples[: int(0.8 * rate)])
        with pytest.raises(InputError, match="maximum of 1 s"):
            s.push(samples[int(0.8 * rate) : int(1.5 * rate)])
    assert list(tmp_path.iterdir()) == []


def test_a_refused_portrait_opens_no_stream(pipeline, tmp_path):
    unlisted = tmp_path / "unlisted.jpeg"
    unlisted.write_bytes(PORTRAIT.read_bytes() + b"\0")
    from vasa_core.errors import PolicyRefusal

    with pytest.raises(PolicyRefusal):
        pipeline.open_stream(unlisted, tmp_path / "x.mp4", 16000, OPTIONS)
    assert [p.name for p in tmp_path.iterdir()] == ["unlisted.jpeg"]
