"""Audio -> per-video-frame features: loudness, voice activity, F0, formants, and a phone timeline.

Frame i of the output video covers [i / fps, (i + 1) / fps); every per-frame value summarises that span, so
the motion generator never has to think about analysis hop sizes. The language-independent cues (loudness,
voicing, F0, formants) carry singing and non-English speech; phones (English) sharpen lip timing.

CPU cost on 60 s of speech (measured here): phone-loop decoding ~2.9 s, split over two worker processes (see
phones_sphinx); meanwhile in this process silero-vad ~0.2 s and Praat pitch + formants ~0.6 s.
"""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..media import resample
from ..types import AudioClip, AudioFeatures, PhoneSegment
from .phones_g2p import normalize_transcript
from .phones_sphinx import SPHINX_RATE, AlignmentFailed, PhoneTuple, SphinxPool

ANALYSIS_RATE = SPHINX_RATE  # Hz: every feature is computed at the phone recogniser's rate
LOUDNESS_FLOOR_DB = -60.0  # AudioFeatures.loudness maps -60..0 dBFS RMS to 0..1
# silero-vad's 16 kHz sequence model (ships in the silero-vad wheel): 512-sample frames, each prefixed with the
# previous frame's last 64 samples, LSTM state carried between ONNX calls (silero_vad/sequence_vad.py).
VAD_MODEL_FILE = "silero_vad_16k_sequence.onnx"
VAD_FRAME = 512
VAD_CONTEXT = 64
VAD_BLOCK_FRAMES = 512  # frames per ONNX call, ~16 s of audio
VAD_STATE = (1, 1, 128)
# Praat settings. A 60 Hz floor reaches low male voices; an 800 Hz ceiling keeps sung soprano notes (speech
# tops out near 500 Hz). Burg formants up to 5500 Hz is Praat's recommendation for female and child voices; it
# also serves male voices well enough for the F1/F2 cues that the mouth uses (jaw opening, rounding).
PITCH_FLOOR_HZ = 60.0
PITCH_CEILING_HZ = 800.0
FORMANT_CEILING_HZ = 5500.0
FORMANT_COUNT = 5
# Burg's method resamples to twice the formant ceiling first; FFmpeg's resampler (media.resample) does that ~3x
# faster than Praat's sinc resampler (measured on 60 s with scipy's, which it matches: 0.37 s vs 1.27 s in all).
FORMANT_RATE = 11_000
# Analysis step: 20 ms (two values per 25-fps frame; 10 ms doubled the Praat time for nothing), finer for
# higher frame rates so that every frame gets at least two values.
MAX_ANALYSIS_STEP_S = 0.02
MIN_PRAAT_S = 0.2  # shorter audio is padded with silence: Praat's pitch window needs 3 periods of the floor
# Long audio is analysed in windows (Praat holds float64 copies and per-frame candidates: on 10 min, its peak
# was +139 MB with 60 s windows, +101 MB with 20 s, +86 MB for a 10 s clip whole; 20 s windows cost 14% more
# time than 60 s), each with 1 s of context either side: far more than Praat's longest analysis window (50 ms).
WINDOW_S = 20.0
WINDOW_MARGIN_S = 1.0
# Phone decoding runs where silero-vad gives at least 0.2 (lenient: a missed syllable costs more than a decoded
# pause), padded by 0.25 s so that onsets and offsets keep their context; pauses under 0.6 s are decoded through.
PHONE_VAD_THRESHOLD = 0.2
PHONE_PAD_S = 0.25
PHONE_MERGE_GAP_S = 0.6
MIN_FPS = 1.0  # any video frame rate; outside this range the caller has mixed up units
MAX_FPS = 240.0


def _vad_model_path() -> Path:
    # Locate the file without importing silero_vad, whose __init__ imports torch (seconds, and unneeded).
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("silero-vad is not installed: pip install silero-vad (see requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / VAD_MODEL_FILE


class AudioAnalyzer:
    """Loads silero-vad and starts the pocketsphinx workers once; ``analyze`` is then cheap to call.

    Not thread-safe (one ONNX session, one worker pool): share it behind a lock, as the pipeline does.
    """

    def __init__(self, phone_workers: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1  # a recurrent net on 512-sample frames gains nothing from more
        self._vad = ort.InferenceSession(str(_vad_model_path()), options, providers=["CPUExecutionProvider"])
        workers = phone_workers if phone_workers is not None else min(2, os.cpu_count() or 1)
        self._sphinx = SphinxPool(workers)

    def close(self) -> None:
        """Stops the worker processes (they also end with the interpreter)."""
        self._sphinx.close()

    def __enter__(self) -> AudioAnalyzer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def analyze(
        self, clip: AudioClip, fps: float, transcript: str | None = None, recognise_phones: bool = True
    ) -> AudioFeatures:
        """Per-frame features of ``clip`` at ``fps``; with a transcript (English), phones come from alignment.

        ``recognise_phones=False`` skips phone recognition (streaming: decoding needs more context than a short window).
        """
        if not (MIN_FPS <= fps <= MAX_FPS):
            raise InputError(f"fps={fps!r} is out of range: accepted {MIN_FPS:g}..{MAX_FPS:g} frames per second.")
        if clip.samples.ndim != 1 or len(clip.samples) == 0:
            raise InputError(
                f"The audio has shape {clip.samples.shape}; expected mono samples (N,) with N > 0. "
                "Decode it with vasa_core.media.read_audio, which mixes to mono."
            )
        audio = resample(clip, ANALYSIS_RATE).samples.astype(np.float32, copy=False)
        pcm16 = to_pcm16(audio)
        duration_s = len(audio) / SPHINX_RATE
        num_frames = max(1, math.ceil(duration_s * fps - 1e-9))
        warnings: list[str] = []

        words = normalize_transcript(transcript) if transcript else []
        if transcript is not None and transcript.strip() and not words:
            warnings.append("the transcript has no words (letters or digits); phones come from phone-loop decoding")
        pending_alignment = self._sphinx.align(pcm16, words) if words else None
        vad_probs = self._vad_probabilities(audio)
        spans = speech_spans(vad_probs, len(audio))
        pending_loop = None if (words or not recognise_phones) else self._sphinx.phone_loop(pcm16, spans)

        # Meanwhile, here: the frame features (the workers decode on the other core).
        loudness = frame_loudness(audio, SPHINX_RATE, fps, num_frames)
        vad_times = (np.arange(len(vad_probs)) + 0.5) * VAD_FRAME / SPHINX_RATE
        voice_activity = np.interp(frame_centres(fps, num_frames), vad_times, vad_probs).astype(np.float32)
        f0, formants = pitch_and_formants(audio, SPHINX_RATE, fps, num_frames)

        source, phones = "phone-loop", []
        if pending_alignment is not None:
            try:
                source, phones, align_warnings = pending_alignment.result()
                warnings.extend(align_warnings)
            except AlignmentFailed as exc:
                warnings.append(f"forced alignment failed ({exc}); phones come from phone-loop decoding instead")
                pending_loop = self._sphinx.phone_loop(pcm16, spans)
        if pending_loop is not None:
            phones = [p for future in pending_loop for p in future.result()]
        segments = phone_segments(phones, duration_s)
        if not any(s.phone != "SIL" for s in segments):
            source = "none"
        return AudioFeatures(
            fps=float(fps),
            num_frames=num_frames,
            duration_s=duration_s,
            loudness=loudness,
            voice_activity=voice_activity,
            f0=f0,
            formants=formants,
            phones=segments,
            phone_source=source,
            warnings=tuple(warnings),
        )

    def _vad_probabilities(self, audio: np.ndarray) -> np.ndarray:
        """(ceil(N / VAD_FRAME),) float32 speech probability per 32 ms frame of 16 kHz ``audio``."""
        count = max(1, math.ceil(len(audio) / VAD_FRAME))
        h = np.zeros(VAD_STATE, np.float32)
        c = np.zeros(VAD_STATE, np.float32)
        probs = []
        for start in range(0, count, VAD_BLOCK_FRAMES):  # one block at a time: memory flat in the audio's length
            stop = min(count, start + VAD_BLOCK_FRAMES)
            # Row k is frame k prefixed with the previous frame's tail: audio[k*512 - 64 : (k+1)*512], zero-padded.
            lo = start * VAD_FRAME - VAD_CONTEXT
            flat = np.zeros((stop - start) * VAD_FRAME + VAD_CONTEXT, np.float32)
            src_lo, src_hi = max(0, lo), min(len(audio), stop * VAD_FRAME)
            flat[src_lo - lo : src_hi - lo] = audio[src_lo:src_hi]
            rows = np.lib.stride_tricks.sliding_window_view(flat, VAD_CONTEXT + VAD_FRAME)[::VAD_FRAME]
            p, h, c = self._vad.run(
                ["speech_probs", "hn", "cn"], {"input": np.ascontiguousarray(rows), "h": h, "c": c}
            )
            probs.append(p.reshape(-1))
        return np.concatenate(probs)


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    """(N,) int16 of float ``audio`` in [-1, 1], converted a window at a time (no whole-clip float temporaries)."""
    out = np.empty(len(audio), np.int16)
    step = int(WINDOW_S * ANALYSIS_RATE)
    for lo in range(0, len(audio), step):
        out[lo : lo + step] = np.clip(audio[lo : lo + step], -1.0, 1.0) * 32767.0
    return out


def speech_spans(vad_probs: np.ndarray, length: int) -> list[tuple[int, int]]:
    """[start, stop) sample ranges worth phone decoding: voice (lenient threshold) padded, close ones merged.

    Decoding only these saves the phone loop's time in pauses and keeps it from hallucinating phones in noise.
    """
    voiced = np.flatnonzero(vad_probs >= PHONE_VAD_THRESHOLD)
    if len(voiced) == 0:
        return []
    pad, gap = int(PHONE_PAD_S * SPHINX_RATE), int(PHONE_MERGE_GAP_S * SPHINX_RATE)
    spans: list[list[int]] = []
    for frame in voiced:
        start, stop = max(0, frame * VAD_FRAME - pad), min(length, (frame + 1) * VAD_FRAME + pad)
        if spans and start <= spans[-1][1] + gap:
            spans[-1][1] = stop
        else:
            spans.append([start, stop])
    return [(a, b) for a, b in spans]


def frame_centres(fps: float, num_frames: int) -> np.ndarray:
    """(T,) float64 seconds, the middle of each video frame's span."""
    return (np.arange(num_frames) + 0.5) / fps


def _frame_bounds(rate: int, fps: float, num_frames: int, length: int) -> np.ndarray:
    return np.minimum(np.round(np.arange(num_frames + 1) * rate / fps).astype(np.int64), length)


def frame_loudness(audio: np.ndarray, rate: int, fps: float, num_frames: int) -> np.ndarray:
    """(T,) float32 0..1: RMS over each frame's span in dBFS, -60..0 mapped to 0..1."""
    bounds = _frame_bounds(rate, fps, num_frames, len(audio))
    energy = np.zeros(num_frames, np.float64)
    step = max(1, int(WINDOW_S * fps))
    for first in range(0, num_frames, step):  # a window at a time: float64 squares of the whole clip are big
        last = min(num_frames, first + step)
        lo, hi = bounds[first], bounds[last]
        power = np.concatenate([[0.0], np.cumsum(audio[lo:hi].astype(np.float64) ** 2)])
        edges = bounds[first : last + 1] - lo
        energy[first:last] = power[edges[1:]] - power[edges[:-1]]
    counts = np.maximum(np.diff(bounds), 1)
    rms = np.sqrt(np.maximum(energy, 0.0) / counts)
    db = 20.0 * np.log10(np.maximum(rms, 1e-10))
    return np.clip((db - LOUDNESS_FLOOR_DB) / -LOUDNESS_FLOOR_DB, 0.0, 1.0).astype(np.float32)


def _per_frame(times: np.ndarray, values: np.ndarray, fps: float, num_frames: int) -> np.ndarray:
    """Median of the defined (> 0) analysis values inside each frame span; 0 unless at least half are defined."""
    scalar = values.ndim == 1
    values = values.reshape(len(values), -1).astype(np.float64)
    index = np.floor(times * fps).astype(np.int64)  # analysis times increase, so frames come grouped
    keep = (index >= 0) & (index < num_frames)
    index, values = index[keep], values[keep]
    out = np.zeros((num_frames, values.shape[1]), np.float32)
    if len(index):
        first = np.searchsorted(index, index, side="left")
        slot = np.arange(len(index)) - first
        grid = np.full((num_frames, int(slot.max()) + 1, values.shape[1]), np.nan)
        grid[index, slot] = np.where(np.all(values > 0, axis=1, keepdims=True), values, np.nan)
        present = np.zeros(num_frames, np.int64)
        np.add.at(present, index, 1)
        defined = np.isfinite(grid[:, :, 0]).sum(axis=1)
        use = (defined > 0) & (defined * 2 >= present)
        out[use] = np.nanmedian(grid[use], axis=1)
    return out[:, 0] if scalar else out


def pitch_and_formants(audio: np.ndarray, rate: int, fps: float, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(T,) F0 in Hz and (T, 3) F1..F3 in Hz per frame, 0 where unvoiced / undefined (formants only when voiced).

    Praat holds float64 copies of what it analyses, so long audio goes through in windows of WINDOW_S, each
    with WINDOW_MARGIN_S of context either side; a window keeps the values at times it owns.
    """
    step = min(MAX_ANALYSIS_STEP_S, 0.5 / fps)
    window, margin = int(WINDOW_S * rate), int(WINDOW_MARGIN_S * rate)
    pitch_parts: list[tuple[np.ndarray, np.ndarray]] = []
    formant_parts: list[tuple[np.ndarray, np.ndarray]] = []
    for lo in range(0, max(1, len(audio)), window):
        hi = min(len(audio), lo + window)
        start = max(0, lo - margin)
        pitch, formants = _praat_tracks(audio[start : hi + margin], rate, step)
        for (times, values), parts in ((pitch, pitch_parts), (formants, formant_parts)):
            times = times + start / rate
            owned = (times >= lo / rate) & ((times < hi / rate) | (hi == len(audio)))
            parts.append((times[owned], values[owned]))
    f0 = _per_frame(*(np.concatenate(v) for v in zip(*pitch_parts)), fps, num_frames)
    formants = _per_frame(*(np.concatenate(v) for v in zip(*formant_parts)), fps, num_frames)
    formants[f0 <= 0] = 0.0  # formants of noise and fricatives say nothing about the mouth's shape
    return f0, formants


def _praat_tracks(
    audio: np.ndarray, rate: int, step: float
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((times, F0 Hz), (times, (n, 3) F1..F3 Hz)) of one stretch of audio, times in seconds from its start."""
    import parselmouth
    from parselmouth.praat import call

    # Praat refuses sounds shorter than its analysis window (3 periods of the pitch floor); silence after the end
    # changes nothing inside it, and values past the last frame are dropped.
    audio = np.pad(audio.astype(np.float64), (0, max(0, int(MIN_PRAAT_S * rate) - len(audio))))
    sound = parselmouth.Sound(audio, float(rate))
    pitch = sound.to_pitch_ac(time_step=step, pitch_floor=PITCH_FLOOR_HZ, pitch_ceiling=PITCH_CEILING_HZ)
    narrow = parselmouth.Sound(resample(AudioClip(audio.astype(np.float32), rate), FORMANT_RATE).samples, FORMANT_RATE)
    formant = narrow.to_formant_burg(
        time_step=step, max_number_of_formants=FORMANT_COUNT, maximum_formant=FORMANT_CEILING_HZ
    )
    tracks = np.stack([call(formant, "To Matrix", k).values[0] for k in (1, 2, 3)], axis=1)
    return (
        (np.asarray(pitch.xs()), pitch.selected_array["frequency"]),
        (np.asarray(formant.xs()), np.nan_to_num(tracks, nan=0.0)),
    )


def phone_segments(phones: list[PhoneTuple], duration_s: float) -> tuple[PhoneSegment, ...]:
    """Time-ordered PhoneSegments clipped to the audio, adjacent silences merged, empty spans dropped."""
    out: list[PhoneSegment] = []
    for name, start, end in sorted(phones, key=lambda p: p[1]):
        start, end = max(0.0, start), min(duration_s, end)
        if end <= start:
            continue
        if out and name == "SIL" and out[-1].phone == "SIL":
            out[-1] = PhoneSegment(out[-1].start_s, end, "SIL")
        else:
            out.append(PhoneSegment(float(start), float(end), name))
    return tuple(out)
