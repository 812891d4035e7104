"""Phones -> articulator tracks with coarticulation (a dominance model), and the language-free acoustic mouth.

Coarticulation follows Cohen & Massaro (1993): every phone pulls each articulator toward its target with a
dominance that is flat over the phone and decays exponentially outside it; the track is the dominance-weighted
mean of the targets. A phone that does not need an articulator has a low dominance for it, so its neighbours
decide (the lips of /s/ in "soon" are already rounded: rounding looks ahead ~200 ms over such consonants).
Bilabials and labiodentals have dominances so high that their lips close or tuck whatever comes around them.

Articulators (all 0..1): open (jaw and lip aperture), close (lips pressed, /p b m/), funnel and pucker (two
kinds of rounding), spread (corners pulled back), tuck (lower lip under the upper teeth, /f v/), lip_up (upper
lip raised), lip_down (lower lip lowered, showing the lower teeth).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..types import PhoneSegment

ARTICULATORS = ("open", "close", "funnel", "pucker", "spread", "tuck", "lip_up", "lip_down")
_A = {name: i for i, name in enumerate(ARTICULATORS)}
INTERNAL_RATE = 200.0  # Hz: phones are 30-200 ms long; 5 ms steps place their edges exactly enough
DOMINANCE_REACH_S = 0.6  # beyond this, even the slowest decay (rounding look-ahead) has fallen below 5%
LOOKAHEAD_ROUNDING_S = 0.2  # anticipatory lip rounding, Benguerel & Cowan (1974): up to ~4 consonants ahead
EDGE_DECAY_S = 0.035  # ordinary spill of a phone's articulation into its neighbours
LABIAL_DECAY_S = 0.01  # lip closure and tuck: fast, precise; with MUST dominance ~60% closed 20 ms out
# Dominances: a phone that needs an articulator has 1; one that must reach it (lip closure) has much more;
# a phone that does not care has little, so its neighbours decide.
NEEDS = 1.0
MUST = 12.0
INDIFFERENT = 0.08


@dataclass(frozen=True)
class Viseme:
    targets: dict[str, float]  # articulator -> target 0..1; articulators not named have target 0
    dominance: dict[str, float]  # articulator -> dominance; not named: INDIFFERENT


def _vowel(open_: float, funnel: float = 0.0, pucker: float = 0.0, spread: float = 0.0, lip_down: float = 0.0):
    targets = {"open": open_, "funnel": funnel, "pucker": pucker, "spread": spread, "lip_down": lip_down}
    dominance = {name: NEEDS for name in ("open", "funnel", "pucker", "spread", "lip_down", "close", "tuck")}
    return Viseme(targets, dominance)


def _consonant(targets: dict[str, float], dominance: dict[str, float]) -> Viseme:
    return Viseme(targets, dominance)


_BILABIAL = _consonant(
    {"open": 0.0, "close": 1.0}, {"open": MUST, "close": MUST, "tuck": MUST, "lip_down": MUST, "lip_up": NEEDS}
)
_LABIODENTAL = _consonant(
    {"open": 0.12, "tuck": 1.0, "lip_up": 0.25}, {"open": MUST, "tuck": MUST, "close": MUST, "lip_up": NEEDS}
)
_SIBILANT = _consonant({"open": 0.15, "spread": 0.2}, {"open": 3.0, "close": NEEDS, "tuck": NEEDS})
_POSTALVEOLAR = _consonant(
    {"open": 0.22, "funnel": 0.7, "lip_up": 0.2, "lip_down": 0.25},
    {"open": 3.0, "funnel": 2.0, "close": NEEDS, "tuck": NEEDS, "lip_up": NEEDS, "lip_down": NEEDS},
)
_DENTAL = _consonant({"open": 0.22}, {"open": 1.5, "close": NEEDS, "tuck": NEEDS})
_ALVEOLAR = _consonant({"open": 0.25}, {"open": 0.5, "close": NEEDS, "tuck": NEEDS})
_VELAR = _consonant({"open": 0.35}, {"open": 0.3, "close": NEEDS, "tuck": NEEDS})
_SILENCE = _consonant({}, {name: 0.6 for name in ARTICULATORS})

VISEMES: dict[str, Viseme] = {
    "P": _BILABIAL,
    "B": _BILABIAL,
    "M": _BILABIAL,
    "F": _LABIODENTAL,
    "V": _LABIODENTAL,
    "S": _SIBILANT,
    "Z": _SIBILANT,
    "SH": _POSTALVEOLAR,
    "ZH": _POSTALVEOLAR,
    "CH": _POSTALVEOLAR,
    "JH": _POSTALVEOLAR,
    "TH": _DENTAL,
    "DH": _DENTAL,
    "T": _ALVEOLAR,
    "D": _ALVEOLAR,
    "N": _ALVEOLAR,
    "L": _ALVEOLAR,
    "K": _VELAR,
    "G": _VELAR,
    "NG": _VELAR,
    "HH": _consonant({"open": 0.4}, {"open": 0.1, "close": NEEDS, "tuck": NEEDS}),
    "R": _consonant({"open": 0.25, "funnel": 0.45}, {"open": 0.5, "funnel": NEEDS, "close": NEEDS, "tuck": NEEDS}),
    "W": _consonant({"open": 0.1, "pucker": 1.0}, {"open": 2.0, "pucker": 3.0, "close": NEEDS, "tuck": NEEDS}),
    "Y": _consonant({"open": 0.2, "spread": 0.5}, {"open": NEEDS, "spread": NEEDS, "close": NEEDS, "tuck": NEEDS}),
    # Vowels: jaw opening from the vowel's height (F1), rounding and spreading from its frontness and lips.
    "IY": _vowel(0.25, spread=0.8),
    "IH": _vowel(0.4, spread=0.45),
    "EY": _vowel(0.5, spread=0.5),
    "EH": _vowel(0.6, spread=0.35),
    "AE": _vowel(0.8, spread=0.4, lip_down=0.3),
    "AA": _vowel(1.0, lip_down=0.3),
    "AH": _vowel(0.65),
    "AO": _vowel(0.8, funnel=0.5),
    "AW": _vowel(0.85, funnel=0.35),
    "AY": _vowel(0.85, spread=0.2),
    "OW": _vowel(0.55, funnel=0.8),
    "OY": _vowel(0.65, funnel=0.5),
    "UH": _vowel(0.4, funnel=0.5),
    "UW": _vowel(0.3, funnel=0.6, pucker=0.7),
    "ER": _vowel(0.4, funnel=0.45),
    "SIL": _SILENCE,
}
BILABIALS = ("P", "B", "M")
LABIODENTALS = ("F", "V")
_UNKNOWN = _ALVEOLAR  # a phone name we do not know: a neutral, low-dominance consonant


def _decay(name: str, backward: bool) -> float:
    if name in ("funnel", "pucker") and backward:
        return LOOKAHEAD_ROUNDING_S
    if name in ("close", "tuck"):
        return LABIAL_DECAY_S
    return EDGE_DECAY_S


def articulator_tracks(phones: tuple[PhoneSegment, ...], duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Coarticulated articulator tracks on the internal time grid.

    Returns (times, tracks): times (S,) seconds at INTERNAL_RATE, tracks (S, len(ARTICULATORS)) 0..1.
    Silence (no phones) gives all zeros.
    """
    count = max(1, int(np.ceil(duration_s * INTERNAL_RATE)) + 1)
    times = np.arange(count) / INTERNAL_RATE
    numerator = np.zeros((count, len(ARTICULATORS)))
    denominator = np.full((count, len(ARTICULATORS)), 1e-9)
    decay_back = np.array([_decay(a, True) for a in ARTICULATORS])
    decay_fwd = np.array([_decay(a, False) for a in ARTICULATORS])
    for seg in phones:
        vis = VISEMES.get(seg.phone, _UNKNOWN)
        target = np.array([vis.targets.get(a, 0.0) for a in ARTICULATORS])
        strength = np.array([vis.dominance.get(a, INDIFFERENT) for a in ARTICULATORS])
        lo = np.searchsorted(times, seg.start_s - DOMINANCE_REACH_S)
        hi = np.searchsorted(times, seg.end_s + DOMINANCE_REACH_S)
        t = times[lo:hi, None]
        before = np.clip(seg.start_s - t, 0.0, None)
        after = np.clip(t - seg.end_s, 0.0, None)
        dominance = strength * np.exp(-before / decay_back - after / decay_fwd)
        numerator[lo:hi] += dominance * target
        denominator[lo:hi] += dominance
    return times, numerator / denominator


def tracks_per_frame(times: np.ndarray, tracks: np.ndarray, fps: float, num_frames: int) -> np.ndarray:
    """(T, A) per video frame: the mean over each frame's span, except lip closure and tuck, which take the
    span's maximum, so that a closure shorter than a frame still shows in the frame that contains it."""
    index = np.minimum((times * fps).astype(np.int64), num_frames - 1)
    out = np.zeros((num_frames, tracks.shape[1]))
    counts = np.bincount(index, minlength=num_frames).astype(np.float64)
    for k in range(tracks.shape[1]):
        if ARTICULATORS[k] in ("close", "tuck"):
            np.maximum.at(out[:, k], index, tracks[:, k])
        else:
            out[:, k] = np.bincount(index, weights=tracks[:, k], minlength=num_frames) / np.maximum(counts, 1)
    return out


def acoustic_shape(f1: np.ndarray, f2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Language-free mouth shape per frame from formants: (open, round, spread), each 0..1.

    F1 rises with jaw opening (~300 Hz for /i u/ to ~800 Hz for /a/); F2 falls with lip rounding and backness
    (~800 Hz for /u/ to ~2300 Hz for /i/). Values from Peterson & Barney (1952) adult averages. Frames without
    formants (unvoiced) get the neutral shape (0.5, 0, 0).
    """
    voiced = (f1 > 0) & (f2 > 0)
    open_ = np.where(voiced, np.clip((f1 - 300.0) / 500.0, 0.0, 1.0), 0.5)
    round_ = np.where(voiced, np.clip((1300.0 - f2) / 500.0, 0.0, 1.0), 0.0)
    spread = np.where(voiced, np.clip((f2 - 1700.0) / 600.0, 0.0, 1.0), 0.0)
    return open_, round_, spread
