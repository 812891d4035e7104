"""Live generation: audio goes in as it arrives, watermarked frames come out a few frames behind it.

How it differs from ``TalkingHeadPipeline.generate`` (which sees the whole recording):
- The mouth and brows follow a sliding window of the last ``STREAM_CONTEXT_S`` seconds of audio, analysed with
  the language-independent cues only (loudness, voicing, pitch, formants): phone recognition needs more context.
- Head motion, gaze and blinks come from one seeded track made when the session opens: they cannot react to
  prosody that has not been spoken yet, and must not restart with every window.
- ``STREAM_LOOKAHEAD_FRAMES`` frames are held back so that the mouth can anticipate the next sound.
The safeguards are the same: every returned frame is watermarked, and ``finish`` signs and records the MP4.
"""

from __future__ import annotations

import io
import math
import time
import wave
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import media
from .errors import InputError
from .render import Renderer
from .types import (
    EXPRESSION_INDEX,
    AudioClip,
    AudioFeatures,
    GenerationOptions,
    GenerationResult,
    MotionSequence,
    PortraitAnalysis,
    StageTiming,
)

if TYPE_CHECKING:
    from .pipeline import TalkingHeadPipeline

STREAM_CONTEXT_S = 2.0  # audio each step analyses: covers loudness normalisation and coarticulation
STREAM_LOOKAHEAD_FRAMES = 2  # 80 ms at 25 fps: anticipatory rounding and closures start about this early
_BACKGROUND_LOUDNESS = 0.5  # a "talking" level, so that sway and blink statistics are those of speech
_BACKGROUND_COLUMNS = (EXPRESSION_INDEX["blink_l"], EXPRESSION_INDEX["blink_r"])
STREAMED_AUDIO_NAME = "streamed-audio.wav"


class StreamSession:
    """One live generation. Not thread-safe: push from one thread. Use as a context manager, or call
    ``finish`` (keeps the signed clip) or ``close`` (discards everything)."""

    def __init__(
        self,
        pipeline: TalkingHeadPipeline,
        portrait: tuple[bytes, str],
        screening,
        analysis: PortraitAnalysis,
        out_path: Path,
        sample_rate: int,
        options: GenerationOptions,
        clock,
    ) -> None:
        if options.motion_path is not None or options.transcript:
            raise InputError("Streaming takes neither a motion file nor a transcript; use generate() for those.")
        if not 8_000 <= sample_rate <= 192_000:
            raise InputError(f"sample_rate={sample_rate} Hz is not supported: accepted 8000..192000 Hz.")
        self._pipeline, self._portrait, self._screening = pipeline, portrait, screening
        self._analysis, self._options, self._clock = analysis, options, clock
        self._rate, self._fps = sample_rate, options.fps
        self._out_path = out_path
        self._max_samples = int(options.max_audio_s * sample_rate)
        self._background = _background_motion(pipeline, analysis, options)
        self._renderer = Renderer(analysis, device=options.device)
        self._watermark_id = pipeline.watermarker.new_id()
        self._unsigned = media.partial_path(out_path, "unsigned")
        self._writer = media.Mp4Writer(self._unsigned, analysis.width, analysis.height, self._fps)
        self._writer.__enter__()
        self._pcm16: list[np.ndarray] = []  # everything heard, for the manifest's audio ingredient
        self._window = np.zeros(0, np.float32)  # the most recent audio: from frame _window_frame on
        self._window_frame = 0
        self._window_sample = 0  # the absolute index of _window[0], the first sample of _window_frame
        self._heard = 0  # samples pushed
        self._emitted = 0  # frames returned
        self._stream_s = 0.0
        self._open = True
        self._warm_up()

    @property
    def watermark_id(self) -> str:
        return self._watermark_id

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Add mono float32 samples in [-1, 1] at the session's rate; returns (N, H, W, 3) uint8 watermarked frames
        (N may be 0 until enough audio has arrived)."""
        self._check_open()
        samples = np.asarray(samples, np.float32).reshape(-1)
        if self._heard + len(samples) > self._max_samples:
            self.close()
            raise InputError(
                f"The stream passed the maximum of {self._options.max_audio_s:.0f} s of audio; nothing was kept."
            )
        start = time.perf_counter()
        self._heard += len(samples)
        self._pcm16.append((np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16))
        self._window = np.concatenate([self._window, samples])
        self._writer.add_audio(AudioClip(samples, self._rate))
        ready = math.floor(self._heard / self._rate * self._fps) - STREAM_LOOKAHEAD_FRAMES
        frames = self._frames_until(ready)
        self._stream_s += time.perf_counter() - start
        return frames

    def finish(self) -> GenerationResult:
        """Render the held-back frames, then sign and record the MP4 of the whole session."""
        self._check_open()
        if self._heard == 0:
            self.close()
            raise InputError("The stream ended before any audio arrived; nothing was generated.")
        start = time.perf_counter()
        self._frames_until(math.ceil(self._heard / self._rate * self._fps - 1e-9))
        self._open = False
        self._writer.__exit__(None, None, None)
        self._stream_s += time.perf_counter() - start
        self._clock.timings.append(StageTiming("stream", self._stream_s))
        generation_id, manifest = self._pipeline._sign_and_record(
            self._unsigned, self._out_path, self._watermark_id, self._portrait,
            (_wav_bytes(np.concatenate(self._pcm16), self._rate), STREAMED_AUDIO_NAME),
            self._options, self._screening, self._clock,
        )
        return GenerationResult(
            video_path=self._out_path,
            generation_id=generation_id,
            watermark_id=self._watermark_id,
            width=self._analysis.width,
            height=self._analysis.height,
            fps=self._fps,
            num_frames=self._emitted,
            duration_s=self._emitted / self._fps,
            options=self._options,
            screening=self._screening,
            manifest=manifest,
            timings=tuple(self._clock.timings),
            warnings=self._analysis.warnings,
        )

    def close(self) -> None:
        """Abandon the session: the partial MP4 is removed and nothing is recorded."""
        if self._open:
            self._open = False
            self._writer.__exit__(InputError, InputError("stream closed"), None)
            self._unsigned.unlink(missing_ok=True)

    def __enter__(self) -> StreamSession:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def _check_open(self) -> None:
        if not self._open:
            raise RuntimeError("this stream session is finished or closed")

    def _warm_up(self) -> None:
        """Load the compiled kernels and models now, so that the first pushed audio is not the one that waits."""
        motion = MotionSequence.still(1, self._fps)
        motion.expression[:, EXPRESSION_INDEX["jaw_open"]] = 0.3  # a still frame takes a shortcut: move something
        motion.head_rotation[:, 0] = 1.0
        self._pipeline.watermarker.embed(self._renderer.render(motion), self._watermark_id)
        with self._pipeline._models_lock:
            silence = AudioClip(np.zeros(round(0.25 * self._rate), np.float32), self._rate)
            self._pipeline.audio_analyzer.analyze(silence, self._fps, recognise_phones=False)

    def _frames_until(self, end: int) -> np.ndarray:
        end = min(end, self._background.num_frames)
        if end <= self._emitted:
            return np.zeros((0, self._analysis.height, self._analysis.width, 3), np.uint8)
        window = AudioClip(self._window, self._rate)
        with self._pipeline._models_lock:
            features = self._pipeline.audio_analyzer.analyze(window, self._fps, recognise_phones=False)
        local = self._pipeline.motion_generator.generate(features, self._analysis, self._options.controls)
        motion = self._merge(local, self._emitted, end)
        frames = self._pipeline.watermarker.embed(self._renderer.render(motion), self._watermark_id)
        self._writer.write(frames)
        self._emitted = end
        self._trim_window()
        return frames

    def _merge(self, local: MotionSequence, start: int, end: int) -> MotionSequence:
        """Mouth and brows from the window's motion, head, gaze and blinks from the session's background track."""
        rows = np.arange(start, end) - self._window_frame
        rows = np.clip(rows, 0, local.num_frames - 1)  # the window's last frame may round one short
        background = self._background.slice(start, end)
        expression = local.expression[rows].copy()
        expression[:, _BACKGROUND_COLUMNS] = background.expression[:, _BACKGROUND_COLUMNS]
        return MotionSequence(
            fps=self._fps,
            expression=expression,
            head_rotation=background.head_rotation,
            head_translation=background.head_translation,
            head_scale=background.head_scale,
            gaze=background.gaze,
        )

    def _trim_window(self) -> None:
        keep_from = max(0, self._emitted - round(STREAM_CONTEXT_S * self._fps))
        first_sample = round(keep_from * self._rate / self._fps)  # absolute, so rounding never accumulates
        if first_sample > self._window_sample:
            self._window = self._window[first_sample - self._window_sample :]
            self._window_frame, self._window_sample = keep_from, first_sample


def _background_motion(pipeline: TalkingHeadPipeline, analysis: PortraitAnalysis, options: GenerationOptions):
    """Seeded head, gaze and blink tracks for the longest allowed session, as if the person were talking."""
    n = math.ceil(options.max_audio_s * options.fps)
    talking = AudioFeatures(
        fps=float(options.fps),
        num_frames=n,
        duration_s=n / options.fps,
        loudness=np.full(n, _BACKGROUND_LOUDNESS, np.float32),
        voice_activity=np.ones(n, np.float32),
        f0=np.zeros(n, np.float32),
        formants=np.zeros((n, 3), np.float32),
        phones=(),
        phone_source="none",
    )
    return pipeline.motion_generator.generate(talking, analysis, options.controls)


def _wav_bytes(pcm16: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm16.tobytes())
    return buf.getvalue()
