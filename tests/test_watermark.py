"""Watermark: payload coding, embedding quality and cost, robustness rows of issue 5 at small scale, false positives."""

from __future__ import annotations

import io
import time

import av
import cv2
import numpy as np
import pytest

from safety import payload
from safety.config import SafetyConfig
from safety.media import decode_image, read_video_frames
from safety.watermark import BLOCK, QIM_STEP, Z_MIN, Watermarker

EXCERPT = 12  # frames per robustness clip here; bench/watermark_robustness.py uses the 2 s (50 frames)
FPS = 25


@pytest.fixture(scope="module")
def wm() -> Watermarker:
    return Watermarker(SafetyConfig.from_env({"VASA_DATA_DIR": "/nonexistent"}))


@pytest.fixture(scope="module")
def source(shared_media) -> np.ndarray:
    """Frames 25.. of a real talking-head video (512x512), the stand-in for a generated clip."""
    frames = list(read_video_frames(shared_media / "videos" / "v06_real_theresa_may.mp4", max_frames=EXCERPT, start=25))
    return np.stack(frames)


@pytest.fixture(scope="module")
def marked_clip(wm, source) -> tuple[str, np.ndarray]:
    """Marked, then through the pipeline's own encode (CRF 18) and decoded."""
    wid = "5a17c0de4b1d"
    return wid, _h264(wm.embed(source, wid), 18)


def _h264(frames: np.ndarray, crf: int) -> np.ndarray:
    h, w = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f[:h, :w]), format="rgb24")))
        out.mux(stream.encode())
    buf.seek(0)
    with av.open(buf) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def test_payload_roundtrip_and_crc():
    code = payload.encode("0123456789ab")
    assert code.shape == (payload.CODE_BITS,) and set(np.unique(code)) <= {0, 1}
    rng = np.random.default_rng(3)
    noisy = (2.0 * code - 1.0) + rng.normal(0, 0.6, (8, code.size))  # every word has bit errors before decoding
    assert all(np.any((w > 0) != code.astype(bool)) for w in noisy)
    assert [payload.message_to_id(m) for m in payload.viterbi(noisy)] == ["0123456789ab"] * 8
    message = payload.viterbi((2.0 * code - 1.0)[None])[0]
    message[-1] ^= 1  # one CRC bit wrong
    assert payload.message_to_id(message) is None
    for bad in ("0123", "0123456789ag", "0123456789abcd"):
        with pytest.raises(ValueError, match="12 hex digits"):
            payload.encode(bad)


def test_random_words_never_validate():
    words = np.random.default_rng(0).normal(size=(3000, payload.CODE_BITS))
    assert not any(payload.message_to_id(m) for m in payload.viterbi(words))


def test_embed_quality_cost_and_exact_roundtrip(wm, source):
    wid = wm.new_id()
    assert len(wid) == 12 and int(wid, 16) >= 0
    marked = wm.embed(source, wid)
    assert marked.shape == source.shape and marked.dtype == np.uint8
    assert _psnr(marked, source) >= 38.0
    frame = source[:1]
    wm.embed(frame, wid)
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        wm.embed(frame, wid)
        times.append(time.perf_counter() - t0)
    # The <= 10 ms goal is measured by the bench on an idle machine; here a bound that a shared CI box still meets.
    assert np.median(times) < 0.04
    det = wm.detect(marked)
    assert det.found and det.watermark_id == wid and det.confidence > 0.9 and det.frames_used == len(source)


def test_invisible_watermark_decoder_reads_the_channel_bits(wm, source):
    imwatermark = pytest.importorskip("imwatermark")  # the reference decoder (imports torch: slow)
    wid = "00ff00ff00ff"
    marked = wm.embed(source[:1], wid)[0]
    bits = imwatermark.WatermarkDecoder("bits", payload.CODE_BITS).decode(
        np.ascontiguousarray(marked[..., ::-1]), "dwtDctSvd", scales=[0, QIM_STEP, 0], block=BLOCK
    )
    agree = np.mean(np.asarray(bits, np.uint8) == wm.channel_bits(wid))
    assert agree >= 0.99


def _downscale(frames, height):
    w = round(frames.shape[2] * height / frames.shape[1] / 2) * 2
    return np.stack([cv2.resize(f, (w, height), interpolation=cv2.INTER_AREA) for f in frames])


def _jpeg(frames, quality):
    out = []
    for f in frames:
        ok, buf = cv2.imencode(".jpg", f[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        out.append(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return np.stack(out)


def _tone(frames, brightness, contrast):
    x = (frames.astype(np.float32) - 128.0) * (1.0 + contrast) + 128.0 + 255.0 * brightness
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


ROWS = {
    "crf23": lambda f: _h264(f, 23),
    "crf28": lambda f: _h264(f, 28),
    "crf32": lambda f: _h264(f, 32),
    "360p": lambda f: _h264(_downscale(f, 360), 23),
    "jpeg50": lambda f: _jpeg(f, 50),
    "crop10": lambda f: _h264(f[:, 26:-26, 26:-26], 23),  # 10% of each side (5% per edge) removed
    "brightness-10": lambda f: _h264(_tone(f, -0.10, 0.0), 23),
    "contrast+10": lambda f: _h264(_tone(f, 0.0, 0.10), 23),
}


@pytest.mark.parametrize("row", ROWS)
def test_survives_platform_processing(wm, marked_clip, row):
    wid, clip = marked_clip
    attacked = ROWS[row](clip)
    det = wm.detect(attacked)
    assert det.found, f"{row}: z {det.z_score:.1f}"
    assert det.watermark_id == wid


def test_other_key_finds_nothing(marked_clip):
    _, clip = marked_clip
    other = Watermarker(SafetyConfig.from_env({"VASA_DATA_DIR": "/x", "VASA_WATERMARK_KEY": "operator-secret"}))
    assert not other.detect(clip, search=False).found


def test_unmarked_content_never_validates(wm, shared_media):
    """Small-scale false-positive check (the bench runs >= 2000 frames): portraits, real video, noise."""
    rng = np.random.default_rng(1)
    clips = [decode_image(p.read_bytes())[None] for p in sorted((shared_media / "portraits").glob("*"))]
    video = shared_media / "videos" / "v04_real_woman_blue_bg.mp4"
    clips.append(np.stack(list(read_video_frames(video, max_frames=8))))
    clips.append(rng.integers(0, 256, (4, 256, 256, 3), dtype=np.uint8))
    clips.append(np.full((2, 512, 512, 3), 128, np.uint8))
    for i, clip in enumerate(clips):
        det = wm.detect(clip, search=i >= len(clips) - 3)
        assert not det.found and det.watermark_id is None
        assert det.z_score < Z_MIN


def test_rejects_bad_frames(wm):
    with pytest.raises(ValueError, match="uint8"):
        wm.embed(np.zeros((2, 128, 128, 3), np.float32), wm.new_id())
    with pytest.raises(ValueError, match="too small"):
        wm.embed(np.zeros((1, 32, 32, 3), np.uint8), wm.new_id())
