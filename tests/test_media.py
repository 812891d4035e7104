"""vasa_core.media: what people upload in, MP4 out."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from vasa_core import media
from vasa_core.errors import InputError
from vasa_core.types import AudioClip

pytestmark = pytest.mark.cpu


def _png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature + IHDR declaring a huge image, with one tiny IDAT: a decompression-bomb shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


def _jpeg(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **kw)
    return buf.getvalue()


def _tone(rate: int, seconds: float, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def _encode_audio(path: Path, samples: np.ndarray, rate: int, codec: str, fmt: str | None = None) -> Path:
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        resampler = av.AudioResampler(
            format=stream.codec_context.format, layout="mono", rate=rate,
            frame_size=stream.codec_context.frame_size or None,
        )
        src = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        src.sample_rate = rate
        for frame in resampler.resample(src) + resampler.resample(None):
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


# ---- images -------------------------------------------------------------------------------------------


def test_text_file_named_png_is_refused(tmp_path):
    p = tmp_path / "portrait.png"
    p.write_text("this is not an image")
    with pytest.raises(InputError, match="not an image.*JPEG, PNG or WebP"):
        media.read_image(p)


def test_truncated_jpeg_is_refused():
    data = _jpeg(Image.new("RGB", (400, 400), (120, 80, 60)), quality=95)
    with pytest.raises(InputError, match="damaged or truncated"):
        media.read_image(data[: len(data) // 2])


def test_decompression_bomb_is_refused_before_decoding():
    with pytest.raises(InputError, match="too large.*20000x20000"):
        media.read_image(_png_header_only(20000, 20000))


def test_unsupported_format_names_the_accepted_ones():
    buf = io.BytesIO()
    Image.new("RGB", (100, 100)).save(buf, format="BMP")
    with pytest.raises(InputError, match="BMP image.*JPEG, PNG or WebP"):
        media.read_image(buf.getvalue())


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (200, 100), (0, 0, 0))
    img.paste((255, 0, 0), (0, 0, 20, 20))  # red marker top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    out = media.read_image(_jpeg(img, exif=exif.tobytes(), quality=95))
    assert out.shape == (200, 100, 3)
    assert out[5, -5, 0] > 200 and out[5, -5, 1] < 60  # the marker is now top-right


def test_rgba_is_flattened_on_white_and_webp_reads():
    img = Image.new("RGBA", (100, 80), (10, 20, 30, 255))
    img.paste((0, 0, 0, 0), (0, 0, 50, 80))
    buf = io.BytesIO()
    img.save(buf, format="WEBP", lossless=True)
    out = media.read_image(buf.getvalue())
    assert out.shape == (80, 100, 3) and out.dtype == np.uint8
    assert out[40, 10].tolist() == [255, 255, 255]
    assert out[40, 90].tolist() == [10, 20, 30]


def test_fit_size_keeps_aspect_and_even_sides():
    assert media.fit_size(768, 512, 512) == (512, 342)
    assert media.fit_size(633, 630, 513) == (512, 510)  # odd sizes round to even
    h, w = media.fit_size(1280, 1092, 1024)
    assert h == 1024 and w % 2 == 0


# ---- audio --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "suffix,codec,fmt,rate",
    [
        (".wav", "pcm_s16le", "wav", 11025),  # odd sample rate
        (".flac", "flac", "flac", 44100),
        (".m4a", "aac", "mp4", 48000),
        (".ogg", "libopus", "ogg", 48000),
        (".webm", "libopus", "webm", 48000),  # a browser microphone recording
        (".mp3", "libmp3lame", "mp3", 22050),
    ],
)
def test_reads_common_audio_containers(tmp_path, suffix, codec, fmt, rate):
    if codec not in av.codecs_available:
        pytest.skip(f"this FFmpeg build has no {codec} encoder to make the fixture")
    path = _encode_audio(tmp_path / f"a{suffix}", _tone(rate, 1.5), rate, codec, fmt)
    clip = media.read_audio(path)
    assert clip.sample_rate == rate
    assert 1.4 < clip.duration_s < 1.7
    assert 0.15 < float(np.abs(clip.samples).max()) <= 1.0


def test_zero_length_audio_is_refused(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        media.read_audio(p)


def test_silent_audio_is_refused(tmp_path):
    path = _encode_audio(tmp_path / "silence.wav", np.zeros(16000, np.float32), 16000, "pcm_s16le", "wav")
    with pytest.raises(InputError, match="silent"):
        media.read_audio(path)


def test_audio_over_the_limit_is_refused(tmp_path):
    path = _encode_audio(tmp_path / "long.wav", _tone(8000, 5.0), 8000, "pcm_s16le", "wav")
    with pytest.raises(InputError, match="5 s long; the maximum here is 2 s"):
        media.read_audio(path, max_s=2.0)


def test_image_given_as_audio_is_refused(tmp_path):
    with pytest.raises(InputError, match="not an audio or video file|no audio track"):
        media.read_audio(_jpeg(Image.new("RGB", (64, 64))))


def test_video_without_sound_is_refused(tmp_path):
    path = tmp_path / "mute.mp4"
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        for i in range(5):
            f = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            f.pts = i
            out.mux(s.encode(f))
        out.mux(s.encode(None))
    with pytest.raises(InputError, match="no audio track"):
        media.read_audio(path)


def test_resample_keeps_duration_and_pitch():
    clip = AudioClip(_tone(44100, 1.0), 44100)
    out = media.resample(clip, 16000)
    assert out.sample_rate == 16000 and len(out.samples) == 16000
    spectrum = np.abs(np.fft.rfft(out.samples))
    assert abs(np.argmax(spectrum) - 220) <= 1  # 1 Hz bins over one second


# ---- MP4 out ------------------------------------------------------------------------------------------


def _write_clip(path: Path, seconds: float, fps: int = 25, size=(96, 128)) -> AudioClip:
    clip = AudioClip(_tone(22050, seconds), 22050)
    n = int(np.ceil(seconds * fps))
    h, w = size
    with media.Mp4Writer(path, w, h, fps, clip) as writer:
        for start in range(0, n, 10):
            k = min(10, n - start)
            frames = np.full((k, h, w, 3), 128, np.uint8)
            frames[:, :, : (start % w)] = 40
            writer.write(frames)
    return clip


def test_mp4_has_h264_aac_and_equal_durations(tmp_path):
    path = tmp_path / "out.mp4"
    clip = _write_clip(path, 2.3)
    info = media.probe_video(path)
    assert (info.width, info.height) == (128, 96)
    assert info.num_frames == 58
    assert abs(info.duration_s - clip.duration_s) <= 1 / 25
    assert abs(info.audio_duration_s - info.duration_s) <= 1 / 25
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
        assert c.streams.audio[0].codec_context.name == "aac"
    head = path.read_bytes()[:4096]
    assert head.find(b"moov") != -1 and (head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat")), (
        "faststart: the moov atom must precede the media data"
    )


def test_mp4_partial_file_is_removed_on_error(tmp_path):
    path = tmp_path / "out.mp4"
    clip = AudioClip(_tone(16000, 1.0), 16000)
    with pytest.raises(RuntimeError):
        with media.Mp4Writer(path, 64, 64, 25, clip) as writer:
            writer.write(np.zeros((5, 64, 64, 3), np.uint8))
            raise RuntimeError("renderer failed")
    assert list(tmp_path.iterdir()) == []


def test_mp4_refuses_odd_dimensions(tmp_path):
    with pytest.raises(ValueError, match="even"):
        media.Mp4Writer(tmp_path / "x.mp4", 65, 64, 25, AudioClip(_tone(16000, 1.0), 16000))


def test_video_file_given_as_audio_uses_its_sound_track(tmp_path):
    path = tmp_path / "talk.mp4"
    written = _write_clip(path, 1.6)
    clip = media.read_audio(path)
    assert abs(clip.duration_s - written.duration_s) < 0.05
    spectrum = np.abs(np.fft.rfft(clip.samples[: clip.sample_rate]))
    assert abs(np.argmax(spectrum) - 220) <= 2  # the 220 Hz tone survived AAC


def test_audio_is_resampled_while_decoding_and_streams_again_at_its_own_rate(tmp_path):
    samples = _tone(44100, 3.0)
    path = _encode_audio(tmp_path / "voice.flac", samples, 44100, "flac", "flac")
    at_16k = media.read_audio(path, rate=16000)
    assert at_16k.sample_rate == 16000 and abs(at_16k.duration_s - 3.0) < 0.01
    spectrum = np.abs(np.fft.rfft(at_16k.samples))
    assert abs(np.argmax(spectrum) * 16000 / len(at_16k.samples) - 220.0) < 1.0  # same pitch after resampling
    pieces = list(media.iter_audio(path))
    assert len(pieces) > 1 and {p.sample_rate for p in pieces} == {44100}
    np.testing.assert_allclose(np.concatenate([p.samples for p in pieces]), media.read_audio(path).samples, atol=1e-6)


def test_audio_longer_than_its_header_says_still_decodes_whole(tmp_path):
    # A WebM from a browser microphone often declares no duration: the buffer must grow, not truncate.
    if "libopus" not in av.codecs_available:
        pytest.skip("this FFmpeg build has no libopus encoder to make the fixture")
    path = _encode_audio(tmp_path / "mic.webm", _tone(48000, 4.0), 48000, "libopus", "webm")
    clip = media.read_audio(path, rate=16000)
    assert 3.9 < clip.duration_s < 4.1
