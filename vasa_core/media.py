"""Media I/O: what people upload in, H.264 + AAC MP4 out.

Images go through Pillow (JPEG, PNG, WebP), audio and video through PyAV (FFmpeg), so a browser's WebM
recording, a phone's M4A or a video file all work as audio input.
"""

from __future__ import annotations

import errno
import io
import math
import os
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np
from PIL import Image, ImageOps

from .errors import InputError, VasaError
from .types import AudioClip

IMAGE_FORMATS = ("JPEG", "PNG", "WEBP")
MAX_IMAGE_BYTES = 40 * 1024 * 1024  # a 40 MB upload is already far beyond any portrait's need
MAX_IMAGE_PIXELS = 50_000_000  # 50 MP: above every phone camera; larger is a likely decompression bomb
MIN_IMAGE_SIDE = 64  # pixels; a face cannot be analysed below this
MAX_AUDIO_BYTES = 500 * 1024 * 1024  # 10 min of WAV at 48 kHz stereo is ~110 MB; video files are bigger
SILENCE_PEAK = 10 ** (-60 / 20)  # -60 dBFS: quieter than any microphone's noise floor
AAC_RATE = 48_000  # Hz, the AAC rate every player accepts
AAC_FRAME = 1024  # samples per AAC frame (ISO 14496-3)
AAC_BITRATE = 128_000  # bit/s mono: transparent for speech and singing
X264_PRESET = "veryfast"  # DESIGN.md: 490-567 fps at 512 px on 2 cores; medium is 2.5x slower
X264_CRF = 18  # visually lossless, so the watermark and texture survive our own encode

# Pillow's own bomb check fires inside Image.open without the dimensions; ours runs before any decoding.
Image.MAX_IMAGE_PIXELS = None


class StorageError(VasaError):
    """The output could not be written (disk full, no permission). Nothing partial is left behind."""

    exit_code = 4


def read_image(data: bytes | Path | str, name: str | None = None) -> np.ndarray:
    """Decode a portrait to (H, W, 3) uint8 RGB with EXIF orientation applied and alpha flattened on white."""
    raw, label = _read_bytes(data, MAX_IMAGE_BYTES, "image", name)
    try:
        img = Image.open(io.BytesIO(raw))
        fmt = img.format
        width, height = img.size
    except Exception:
        raise InputError(
            f"{label} is not an image we can read. Accepted: JPEG, PNG or WebP. "
            "Export the portrait in one of these formats and try again."
        ) from None
    if fmt not in IMAGE_FORMATS:
        raise InputError(f"{label} is a {fmt} image. Accepted: JPEG, PNG or WebP. Convert it and try again.")
    if width * height > MAX_IMAGE_PIXELS:
        raise InputError(_too_many_pixels(label, width, height))
    if min(width, height) < MIN_IMAGE_SIDE:
        raise InputError(f"{label} is {width}x{height} pixels; the shorter side must be at least {MIN_IMAGE_SIDE}.")
    try:
        img.load()
        img = ImageOps.exif_transpose(img)
    except Exception as exc:
        raise InputError(
            f"{label} is damaged or truncated ({exc}). Upload the original file again or re-save it."
        ) from None
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(flat, rgba)
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def _too_many_pixels(label: str, width: int, height: int) -> str:
    return (
        f"{label} is too large ({width}x{height}): at most {MAX_IMAGE_PIXELS // 1_000_000} megapixels are accepted. "
        "Scale it down (a 1024-pixel portrait is plenty) and try again."
    )


def read_audio(
    data: bytes | Path | str, max_s: float = 600.0, name: str | None = None, rate: int | None = None
) -> AudioClip:
    """Decode the first audio track of any container FFmpeg reads to mono float32, at its own rate or at ``rate``.

    With ``rate`` the decoder resamples as it goes, so a long recording never exists in memory at its full rate
    (10 min of 44.1 kHz float32 is 106 MB; at the analysis rate of 16 kHz, 38 MB). A path is read from disk
    as it decodes; only bytes given as bytes are held in memory.
    """
    with _open_audio(data, name) as (container, stream, label):
        source_rate = int(stream.rate or stream.codec_context.sample_rate)
        out_rate = rate or source_rate
        declared = _declared_duration(container, stream)
        if declared is not None and declared > max_s + 1.0:
            raise InputError(_too_long(label, declared, max_s))
        limit = int((max_s + 1.0) * out_rate)
        # Filled in place: collecting pieces and concatenating them would hold the audio twice.
        buffer = np.empty(min(limit, int(((declared or 0.0) + 1.0) * out_rate)), np.float32)
        total = 0
        try:
            for chunk in _decoded_chunks(container, stream, out_rate):
                if total + len(chunk) > limit:
                    raise InputError(_too_long(label, (total + len(chunk)) / out_rate, max_s))
                if total + len(chunk) > len(buffer):  # the container under-declared its duration
                    grown = np.empty(min(limit, max(2 * len(buffer), total + len(chunk))), np.float32)
                    grown[:total] = buffer[:total]
                    buffer = grown
                buffer[total : total + len(chunk)] = chunk
                total += len(chunk)
        except InputError:
            raise
        except Exception as exc:
            if total == 0:
                raise InputError(f"{label} could not be decoded ({exc}). Re-export it as WAV or MP3.") from None
    samples = buffer[:total] if total > len(buffer) // 2 else buffer[:total].copy()
    if total < out_rate * 0.1:
        raise InputError(f"{label} is empty (under 0.1 s of sound). Upload a recording of speech or singing.")
    np.clip(samples, -1.0, 1.0, out=samples)
    if max(float(samples.max()), -float(samples.min())) < SILENCE_PEAK:  # np.abs would copy the clip
        raise InputError(
            f"{label} is silent (peak below -60 dBFS). Check the microphone or upload another recording."
        )
    return AudioClip(samples=samples, sample_rate=out_rate)


def iter_audio(data: bytes | Path | str, name: str | None = None) -> Iterator[AudioClip]:
    """The first audio track as consecutive mono float32 pieces at its own rate (the encoder's feed).

    Decodes again what ``read_audio`` accepted, piece by piece, so the whole clip is never held at full rate.
    """
    with _open_audio(data, name) as (container, stream, _):
        rate = int(stream.rate or stream.codec_context.sample_rate)
        try:
            for chunk in _decoded_chunks(container, stream, rate):
                yield AudioClip(np.clip(chunk, -1.0, 1.0), rate)
        except av.FFmpegError:
            return  # read_audio kept what decoded before a damaged tail; so does the encoder


@contextmanager
def _open_audio(data: bytes | Path | str, name: str | None):
    """(container, first audio stream, label for messages) of an audio or video file, checked for use."""
    source, label = _audio_source(data, name)
    try:
        container = av.open(source, mode="r")
    except Exception:
        raise InputError(
            f"{label} is not an audio or video file we can read. Accepted: WAV, FLAC, MP3, M4A/AAC, "
            "OGG/Opus, WebM, or a video with a sound track."
        ) from None
    with container:
        if not container.streams.audio:
            raise InputError(f"{label} has no audio track. Upload a recording of the voice to animate.")
        stream = container.streams.audio[0]
        if int(stream.rate or stream.codec_context.sample_rate or 0) <= 0:
            raise InputError(f"{label} has an audio track without a sample rate; re-export it as WAV or MP3.")
        yield container, stream, label


def _decoded_chunks(container, stream, rate: int) -> Iterator[np.ndarray]:
    """(n,) float32 mono pieces of ``stream`` at ``rate`` Hz, in order; the resampler's tail last."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    for frame in container.decode(stream):
        for out in resampler.resample(frame):
            yield out.to_ndarray().reshape(-1)
    for out in resampler.resample(None):
        yield out.to_ndarray().reshape(-1)


def _declared_duration(container: av.container.InputContainer, stream: av.audio.AudioStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def _too_long(label: str, seconds: float, max_s: float) -> str:
    return (
        f"{label} is {seconds:.0f} s long; the maximum here is {max_s:.0f} s. "
        "Trim it, or raise the limit (--max-audio-seconds) where you run your own server."
    )


def resample(clip: AudioClip, rate: int) -> AudioClip:
    """Band-limited resampling to ``rate`` Hz with FFmpeg's swresample (within 1e-4 of scipy's polyphase filter on
    speech, measured here, without importing scipy.signal: 1.7 s of every cold start)."""
    if clip.sample_rate == rate:
        return clip
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    frame = av.AudioFrame.from_ndarray(clip.samples.reshape(1, -1).astype(np.float32), format="flt", layout="mono")
    frame.sample_rate = clip.sample_rate
    pieces = [out.to_ndarray().reshape(-1) for out in resampler.resample(frame) + resampler.resample(None)]
    out = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    return AudioClip(samples=out[: round(len(clip.samples) * rate / clip.sample_rate)], sample_rate=rate)


def fit_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(height, width) with the longer side = size, the aspect ratio kept, both even."""
    scale = size / max(height, width)
    return max(2, int(round(height * scale / 2)) * 2), max(2, int(round(width * scale / 2)) * 2)


def _read_bytes(data: bytes | Path | str, limit: int, kind: str, name: str | None) -> tuple[bytes, str]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        label = f"The {kind} file" + (f" '{name}'" if name else "")
        if len(data) == 0:
            raise InputError(f"{label} is empty (0 bytes).")
        if len(data) > limit:
            raise InputError(f"{label} is {len(data) / 1e6:.0f} MB; at most {limit / 1e6:.0f} MB is accepted.")
        return bytes(data), label
    path = Path(data)
    label = f"The {kind} file '{name or path.name}'"
    _check_file(path, label, limit)
    return path.read_bytes(), label


def _check_file(path: Path, label: str, limit: int) -> None:
    if not path.is_file():
        raise InputError(f"{label} does not exist or is not a file ({path}).")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{label} is empty (0 bytes).")
    if size > limit:
        raise InputError(f"{label} is {size / 1e6:.0f} MB; at most {limit / 1e6:.0f} MB is accepted.")


def _audio_source(data: bytes | Path | str, name: str | None) -> tuple[io.BytesIO | str, str]:
    """What av.open reads (a path stays on disk, bytes are wrapped) after the size checks of ``_read_bytes``."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw, label = _read_bytes(data, MAX_AUDIO_BYTES, "audio", name)
        return io.BytesIO(raw), label
    path = Path(data)
    label = f"The audio file '{name or path.name}'"
    _check_file(path, label, MAX_AUDIO_BYTES)
    return str(path), label


def partial_path(final: Path, stage: str) -> Path:
    """A hidden, unique sibling of ``final`` for work in progress (same disk, so os.replace is atomic)."""
    return final.with_name(f".{stage}-{uuid.uuid4().hex}{final.suffix}")


class Mp4Writer:
    """Streams frame chunks and the matching audio into an H.264 + AAC MP4.

    The file is written next to ``path`` under a temporary name and moved into place on success; on any
    exception the partial file is removed. Audio is trimmed or padded to exactly the video's duration. Give the
    whole ``audio`` up front, or (streaming) append it with ``add_audio`` ahead of the frames it plays under.
    """

    def __init__(
        self, path: Path | str, width: int, height: int, fps: int, audio: AudioClip | None = None, threads: int = 0
    ):
        if width % 2 or height % 2:
            raise ValueError(f"H.264 yuv420p needs even dimensions, got {width}x{height}")
        self.path = Path(path)
        self.width, self.height, self.fps = width, height, fps
        self._pending = resample(audio, AAC_RATE).samples if audio is not None else np.zeros(0, np.float32)
        self._resampler: av.AudioResampler | None = None
        self._audio_written = 0
        self._frames_written = 0
        self._threads = threads
        self._tmp: Path | None = None
        self._container = None

    def __enter__(self) -> Mp4Writer:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".mp4", prefix=".partial-", dir=self.path.parent)
        os.close(fd)
        self._tmp = Path(tmp)
        self._container = av.open(str(self._tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
        video = self._container.add_stream("libx264", rate=self.fps)
        video.width, video.height, video.pix_fmt = self.width, self.height, "yuv420p"
        video.options = {"preset": X264_PRESET, "crf": str(X264_CRF)}
        video.codec_context.thread_count = self._threads
        audio = self._container.add_stream("aac", rate=AAC_RATE)
        audio.layout = "mono"
        audio.bit_rate = AAC_BITRATE
        self._video, self._audio_stream = video, audio
        return self

    @property
    def frames_written(self) -> int:
        return self._frames_written

    def write(self, frames: np.ndarray) -> None:
        """Append (N, H, W, 3) uint8 RGB frames and the audio that plays under them."""
        if frames.ndim != 4 or frames.shape[1:] != (self.height, self.width, 3) or frames.dtype != np.uint8:
            raise ValueError(f"expected (N, {self.height}, {self.width}, 3) uint8 frames, got {frames.shape}")
        try:
            for frame in frames:
                vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
                vf.pts = self._frames_written
                self._frames_written += 1
                self._container.mux(self._video.encode(vf))
            self._write_audio_until(self._frames_written * AAC_RATE // self.fps, final=False)
        except OSError as exc:
            raise _storage_error(exc, self.path) from exc

    def add_audio(self, clip: AudioClip) -> None:
        """Append audio (streaming); every call must use the same sample rate."""
        if self._resampler is None:
            self._resampler = av.AudioResampler(format="flt", layout="mono", rate=AAC_RATE)
        frame = av.AudioFrame.from_ndarray(clip.samples.reshape(1, -1).astype(np.float32), format="flt", layout="mono")
        frame.sample_rate = clip.sample_rate
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        if out:
            self._pending = np.concatenate([self._pending, *out])

    def _write_audio_until(self, end: int, final: bool) -> None:
        while self._audio_written < end:
            n = min(AAC_FRAME, end - self._audio_written)
            if not final and (n < AAC_FRAME or len(self._pending) < n):
                return  # AAC wants whole frames: wait for more video time or more audio
            chunk = np.zeros(n, np.float32)
            src = self._pending[:n]
            chunk[: len(src)] = src
            self._pending = self._pending[n:]
            af = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="flt", layout="mono")
            af.sample_rate = AAC_RATE
            af.pts = self._audio_written
            af.time_base = Fraction(1, AAC_RATE)
            self._audio_written += n
            self._container.mux(self._audio_stream.encode(af))

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                try:
                    if self._resampler is not None:
                        tail = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(None)]
                        self._pending = np.concatenate([self._pending, *tail])
                    self._write_audio_until(self._frames_written * AAC_RATE // self.fps, final=True)
                    self._container.mux(self._video.encode(None))
                    self._container.mux(self._audio_stream.encode(None))
                    self._container.close()
                except OSError as err:
                    raise _storage_error(err, self.path) from err
                os.replace(self._tmp, self.path)
                self._tmp = None
            else:
                try:
                    self._container.close()
                except Exception:  # the original exception matters, not the cleanup's
                    pass
        finally:
            if self._tmp is not None:
                self._tmp.unlink(missing_ok=True)


def _storage_error(exc: OSError, path: Path) -> VasaError:
    if exc.errno == errno.ENOSPC:
        return StorageError(f"The disk is full while writing {path}. Free some space and try again.")
    return StorageError(f"Could not write {path}: {exc.strerror or exc}. Check the folder and its permissions.")


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds."""

    width: int  # pixels
    height: int  # pixels
    fps: float  # frames per second (average)
    num_frames: int  # decoded frame count
    duration_s: float  # video stream duration, seconds
    audio_duration_s: float  # 0 if there is no audio track


def probe_video(path: Path | str) -> VideoInfo:
    """Count frames and measure both streams' durations by decoding (containers' headers can lie)."""
    with av.open(str(path)) as container:
        vs = container.streams.video[0]
        fps = float(vs.average_rate or vs.guessed_rate or 25)
        n = sum(1 for _ in container.decode(vs))
        width, height = vs.codec_context.width, vs.codec_context.height
    audio_s = 0.0
    with av.open(str(path)) as container:
        if container.streams.audio:
            a = container.streams.audio[0]
            audio_s = sum(f.samples for f in container.decode(a)) / float(a.rate)
    return VideoInfo(width, height, fps, n, n / fps, audio_s)


def read_video_frames(path: Path | str, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Yield (H, W, 3) uint8 RGB frames of a video file."""
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(container.streams.video[0])):
            if max_frames is not None and i >= max_frames:
                return
            yield frame.to_ndarray(format="rgb24")
