"""Phone timelines from pocketsphinx: phone-loop decoding and forced alignment, in worker processes.

pocketsphinx holds the GIL while it decodes (measured: a spinning thread got ~5 ms of a 4 s decode), and
phone-loop decoding is the slowest step of audio analysis (~3 s for 60 s of speech on one idle core here).
So it runs in worker processes, started once, in parallel with the rest of the analysis, only where
silero-vad hears a voice; long audio is cut at its quietest points into one piece per worker.

Everything here takes and returns plain Python values, so that it pickles across the process boundary.
Times are seconds; phones are ARPAbet without stress digits, "SIL" for silence and noise.
"""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .phones_g2p import guess_pronunciation

SPHINX_RATE = 16_000  # Hz: the en-us acoustic model's rate; it wants mono int16
SPHINX_FRAME_S = 0.01  # pocketsphinx's default frame rate is 100 frames/s
# Phone-loop settings: the phone insertion penalty recommended for allphone decoding in the CMUSphinx
# phoneme-recognition tutorial; beams narrowed from 1e-48 (default) to 1e-10 and 2 Gaussians per frame (topn, default
# 4): 2.9 CPU-s per 60 s of speech instead of 3.5 with topn 4 (the default beams cost ~25% more again). Language
# weight 1 instead of the tutorial's 2: on tts/ + aligned/ (78 /p b m/) the phone LM talks the decoder out of
# bilabials it hears; the MotionSequence closed the lips on 46 of them instead of 39 (lw 0.5: 47, 0.25: 48; lw 4:
# 14), with false closures 13 of 53 closures inside speech instead of 10 of 44, for ~12% more decoding time.
# Measured without effect: pip 0.3..3 (no change), topn 4 (33), wider beams 1e-20 (same hits, +25% time).
PHONE_LOOP_SETTINGS = {"lw": 1.0, "pip": 0.3, "beam": 1e-10, "pbeam": 1e-10, "topn": 2}
QUIET_WINDOW_S = 0.1  # a cut between pieces goes in the quietest 100 ms near the even split point
CUT_SEARCH_S = 3.0  # ... searched within +-3 s of it
MIN_PIECE_S = 8.0  # less speech is decoded in one piece: starting a second decode costs more than it saves
MIN_DECODE_SAMPLES = 1600  # 0.1 s: a sliver left between a cut and a span's edge holds no phone worth decoding
# Filler and silence "words" the decoder emits, all shown as a mouth at rest.
_NON_SPEECH = re.compile(r"^(<.*>|\[.*\]|\+.*\+|SIL)$", re.IGNORECASE)

PhoneTuple = tuple[str, float, float]  # (phone, start_s, end_s)


class AlignmentFailed(RuntimeError):
    """The transcript could not be aligned to the audio at all (not even word timings)."""


# One decoder of each kind per worker process, built on first use.
_worker_decoders: dict[str, object] = {}


def _decoder(kind: str):
    from pocketsphinx import Decoder, get_model_path

    if kind not in _worker_decoders:
        if kind == "phone-loop":
            lm = os.path.join(get_model_path(), "en-us", "en-us-phone.lm.bin")
            _worker_decoders[kind] = Decoder(allphone=lm, loglevel="FATAL", **PHONE_LOOP_SETTINGS)
        else:
            _worker_decoders[kind] = Decoder(loglevel="FATAL", bestpath=False)
    return _worker_decoders[kind]


def _decode(decoder, pcm: bytes) -> None:
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()


def _clean_phone(name: str) -> str:
    name = re.sub(r"\d", "", name.upper())
    return "SIL" if _NON_SPEECH.match(name) else name


def phone_loop(pieces: list[tuple[bytes, float]]) -> list[PhoneTuple]:
    """Phone recognition without a transcript on pieces of 16 kHz mono int16 audio, each (pcm, start_s)."""
    decoder = _decoder("phone-loop")
    step = SPHINX_FRAME_S
    phones: list[PhoneTuple] = []
    for pcm, offset_s in pieces:
        _decode(decoder, pcm)
        phones.extend(
            (_clean_phone(seg.word), offset_s + seg.start_frame * step, offset_s + (seg.end_frame + 1) * step)
            for seg in decoder.seg() or ()
        )
    return phones


def align(pcm: bytes, words: list[str]) -> tuple[str, list[PhoneTuple], list[str]]:
    """Forced alignment of ``words`` (normalized, lower case) to ``pcm``.

    Returns (source, phones, warnings) with source "alignment" when the phone-level second pass worked, or
    "words" when it raised and each word's dictionary phones were spread evenly over its aligned span.
    Raises AlignmentFailed when not even the word pass produced a result.
    """
    decoder = _decoder("alignment")
    warnings: list[str] = []
    guessed = [w for w in dict.fromkeys(words) if decoder.lookup_word(w) is None]
    for k, word in enumerate(guessed):  # rebuilding the search graph once, after the last, is enough
        decoder.add_word(word, guess_pronunciation(word), update=k == len(guessed) - 1)
    if guessed:
        shown = ", ".join(guessed[:8]) + (" ..." if len(guessed) > 8 else "")
        warnings.append(f"{len(guessed)} transcript word(s) not in the dictionary, pronounced from spelling: {shown}")
    try:
        decoder.set_align_text(" ".join(words))
        _decode(decoder, pcm)
        segments = [(seg.word, seg.start_frame, seg.end_frame) for seg in decoder.seg() or ()]
    except RuntimeError as exc:
        raise AlignmentFailed(f"word alignment failed: {exc}") from exc
    if not any(not _NON_SPEECH.match(w) for w, _, _ in segments):
        raise AlignmentFailed("word alignment found none of the transcript's words in the audio")
    try:
        decoder.set_alignment()
        _decode(decoder, pcm)
        alignment = decoder.get_alignment()
        phones = [
            (_clean_phone(p.name), p.start * SPHINX_FRAME_S, (p.start + p.duration) * SPHINX_FRAME_S)
            for p in alignment.phones()
        ]
        if phones:
            return "alignment", phones, warnings
    except RuntimeError as exc:
        warnings.append(f"phone-level alignment failed ({exc}); used word timings with dictionary phones")
    return "words", _phones_from_words(decoder, segments), warnings


def _phones_from_words(decoder, segments: list[tuple[str, int, int]]) -> list[PhoneTuple]:
    phones: list[PhoneTuple] = []
    for word, start, end in segments:
        t0, t1 = start * SPHINX_FRAME_S, (end + 1) * SPHINX_FRAME_S
        pronunciation = None if _NON_SPEECH.match(word) else decoder.lookup_word(word)
        names = pronunciation.split() if pronunciation else ["SIL"]
        step = (t1 - t0) / len(names)
        phones.extend((_clean_phone(n), t0 + k * step, t0 + (k + 1) * step) for k, n in enumerate(names))
    return phones


def split_points(samples: np.ndarray, pieces: int, spans: list[tuple[int, int]] | None = None) -> list[int]:
    """Sample indices that cut ``samples`` into ``pieces`` parts with equal shares of ``spans`` (default: all of
    it), each cut moved to the quietest window within CUT_SEARCH_S of its ideal place."""
    n = len(samples)
    union = _union(spans if spans is not None else [(0, n)], n)
    lengths = np.array([b - a for a, b in union], np.int64)
    done_before = np.concatenate([[0], np.cumsum(lengths)])  # samples to decode before each span
    total = int(done_before[-1])
    pieces = max(1, min(pieces, int(total / (MIN_PIECE_S * SPHINX_RATE))))
    if pieces == 1:
        return [0, n]
    win = int(QUIET_WINDOW_S * SPHINX_RATE)
    cuts = [0]
    for k in range(1, pieces):
        share = k * total // pieces  # the sample index where this much of the spans lies behind
        span = int(np.searchsorted(done_before, share, side="left")) - 1
        target = union[span][0] + share - int(done_before[span])
        lo = max(cuts[-1] + win, target - int(CUT_SEARCH_S * SPHINX_RATE))
        hi = min(n - win, target + int(CUT_SEARCH_S * SPHINX_RATE))
        cuts.append(lo + int(np.argmin(_window_energy(samples, lo, hi, win)[::160])) * 160 if hi > lo else target)
    cuts.append(n)
    return cuts


def _union(spans: list[tuple[int, int]], n: int) -> list[tuple[int, int]]:
    """Sorted, non-overlapping [start, stop) spans within [0, n) covering what ``spans`` cover."""
    out: list[list[int]] = []
    for a, b in sorted((max(0, a), min(n, b)) for a, b in spans):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _window_energy(samples: np.ndarray, lo: int, hi: int, win: int) -> np.ndarray:
    """(hi - lo,) energy of the ``win`` samples centred on each index in [lo, hi): only where a cut may go, since
    squares of a whole long clip would cost several times its size in memory."""
    first = max(0, lo - win // 2)
    power = np.concatenate([[0.0], np.cumsum(samples[first : hi + win].astype(np.float64) ** 2)])
    starts = np.clip(np.arange(lo, hi) - win // 2, first, None) - first
    stops = np.minimum(np.arange(lo, hi) + win - win // 2, len(samples)) - first
    return power[stops] - power[starts]


class SphinxWorker:
    """One ``python -m vasa_core.analysis.phones_sphinx`` process, called over a pipe: pickled (name, args) in,
    pickled ("ok", result) or ("error", exception) out.

    A plain subprocess rather than multiprocessing: spawn-mode multiprocessing re-imports the caller's main
    script in every worker (for the demo that is gradio, torch and mediapipe: seconds and hundreds of MB each).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_worker_env()
            )
        return self._proc

    def start(self) -> None:
        with self._lock:
            self._start()

    def call(self, name: str, *args):
        with self._lock:
            proc = self._start()
            try:
                pickle.dump((name, args), proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                proc.stdin.flush()
                status, value = pickle.load(proc.stdout)
            except (EOFError, BrokenPipeError, pickle.UnpicklingError) as exc:
                proc.kill()
                raise RuntimeError(f"the pocketsphinx worker died (exit code {proc.wait()}): {exc!r}") from exc
        if status == "error":
            raise value
        return value

    def close(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.stdin.close()  # the worker's loop ends at end of input
                try:
                    self._proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._proc = None


def _worker_env() -> dict[str, str]:
    # The worker must import this package even when the caller changed directory or runs from a checkout.
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


_WORKER_CALLS = {"phone_loop": phone_loop, "align": align}


def _serve() -> None:
    """The worker's loop. Keeps its own stdout for replies and sends stray prints (from any library) to stderr."""
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    requests = sys.stdin.buffer
    _decoder("phone-loop")
    while True:
        try:
            name, args = pickle.load(requests)
        except EOFError:
            return
        try:
            reply = ("ok", _WORKER_CALLS[name](*args))
        except Exception as exc:  # noqa: BLE001 - sent back and re-raised in the caller
            reply = ("error", exc)
        pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()


class SphinxPool:
    """Worker processes that each hold pocketsphinx decoders; started once (they load while the caller works)."""

    def __init__(self, workers: int) -> None:
        self.workers = [SphinxWorker() for _ in range(max(1, workers))]
        self._threads = ThreadPoolExecutor(len(self.workers), thread_name_prefix="sphinx")
        for worker in self.workers:
            worker.start()

    def phone_loop(self, pcm16: np.ndarray, spans: list[tuple[int, int]]) -> list[Future]:
        """Futures of phone lists, one per worker, in time order, decoding ``spans`` ([start, stop) samples) of
        ``pcm16`` ((N,) int16 at 16 kHz). Work is split at the quietest points near equal shares of the spans."""
        total = sum(b - a for a, b in spans)
        if total == 0:
            return []
        cuts = split_points(pcm16, len(self.workers), spans)
        futures = []
        for worker, (lo, hi) in zip(self.workers, zip(cuts, cuts[1:])):
            clipped = [(max(a, lo), min(b, hi)) for a, b in spans]
            pieces = [(pcm16[a:b].tobytes(), a / SPHINX_RATE) for a, b in clipped if b - a >= MIN_DECODE_SAMPLES]
            if pieces:
                futures.append(self._threads.submit(worker.call, "phone_loop", pieces))
        return futures

    def align(self, pcm16: np.ndarray, words: list[str]) -> Future:
        return self._threads.submit(self.workers[0].call, "align", pcm16.tobytes(), words)

    def close(self) -> None:
        self._threads.shutdown(wait=True, cancel_futures=True)
        for worker in self.workers:
            worker.close()


if __name__ == "__main__":
    # Serve from the module under its package name, so that exceptions sent back (AlignmentFailed) unpickle as
    # vasa_core.analysis.phones_sphinx.AlignmentFailed, not as __main__.AlignmentFailed.
    from vasa_core.analysis.phones_sphinx import _serve as serve

    serve()
