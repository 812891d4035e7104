"""Blinks as a seeded random process, and gaze with small saccades around the requested direction."""

from __future__ import annotations

import numpy as np

from .prosody import Prosody

# A blink: the lid closes in ~100 ms, stays ~20 ms, and reopens more slowly in ~180 ms (VanderWerf et al. 2003).
BLINK_CLOSE_S = 0.1
BLINK_HOLD_S = 0.02
BLINK_OPEN_S = 0.18
BLINK_REFRACTORY_S = 0.8  # no second blink sooner (double blinks aside, which we do not make)
# Blinks cluster at phrase breaks and at large gaze shifts (Nakano & Kitazawa 2010; Evinger et al. 1994): the
# hazard is raised in the first 0.6 s of each pause and for 0.2 s at each shift of 3 degrees or more, lowered
# during speech, then normalised so that the mean rate is what the user asked for.
PAUSE_BLINK_WINDOW_S = 0.6
PAUSE_HAZARD = 4.0
GAZE_SHIFT_DEG = 3.0
GAZE_SHIFT_WINDOW_S = 0.2
GAZE_SHIFT_HAZARD = 8.0
SPEECH_HAZARD = 0.7
BLINK_ASYMMETRY = 0.05  # the two lids differ a little in depth
LID_PER_DOWN_DEG = 0.015  # looking down lowers the upper lids: blink weight per degree below the horizon

SACCADE_INTERVAL_S = 1.3  # mean fixation time while talking; gamma-distributed (shape 2)
FIXATION_STD_DEG = np.array([1.2, 0.8])  # yaw, pitch spread of fixations around the requested direction
AVERSION_PROBABILITY = 0.35  # at a phrase start, chance of a look away while "thinking" (Argyle & Cook 1976)
AVERSION_DEG = (4.0, 8.0)  # its size range
AVERSION_S = (0.4, 1.0)  # and how long it is held
SACCADE_S = 0.04  # a 2-10 degree saccade takes 30-50 ms


def blinks(prosody: Prosody, fps: float, rng: np.random.Generator, rate_per_min: float, gaze: np.ndarray) -> np.ndarray:
    """(T, 2) blink_l, blink_r weights 0..1; ``gaze`` (T, 2) degrees is where the eyes look."""
    n = len(prosody.speaking)
    hazard = np.where(prosody.speaking, SPEECH_HAZARD, 1.0)
    for start, stop in prosody.phrase_breaks:
        hazard[start : min(stop, start + int(PAUSE_BLINK_WINDOW_S * fps))] = PAUSE_HAZARD
    span = max(1, int(round(SACCADE_S * fps)))  # a saccade's ramp: its whole size shows over this many frames
    moved = np.linalg.norm(gaze[span:] - gaze[:-span], axis=1) >= GAZE_SHIFT_DEG
    shifts = np.flatnonzero(moved[1:] & ~moved[:-1]) + span + 1
    for shift in shifts:
        window = hazard[shift : shift + max(1, int(GAZE_SHIFT_WINDOW_S * fps))]
        np.maximum(window, GAZE_SHIFT_HAZARD, out=window)
    hazard *= (rate_per_min / 60.0) / fps / max(hazard.mean(), 1e-9)
    hazard /= max(1e-9, 1.0 - (rate_per_min / 60.0) * BLINK_REFRACTORY_S)  # the refractory time is not at risk
    draws = rng.random(n)
    onsets: list[int] = []
    for i in range(n):
        if draws[i] < hazard[i] and (not onsets or (i - onsets[-1]) / fps >= BLINK_REFRACTORY_S):
            onsets.append(i)
    lids = np.zeros((n, 2))
    length = int(np.ceil((BLINK_CLOSE_S + BLINK_HOLD_S + BLINK_OPEN_S) * fps)) + 2
    for onset in onsets:
        # The frame shows the lid at its centre time; start the blink at a random phase within the onset frame.
        t0 = (onset + rng.random()) / fps
        depth = 1.0 - rng.random(2) * BLINK_ASYMMETRY
        frames = slice(onset, min(n, onset + length))
        shape = _blink_shape((np.arange(frames.start, frames.stop) + 0.5) / fps - t0)
        lids[frames] = np.maximum(lids[frames], shape[:, None] * depth)
    droop = np.clip(-gaze[:, 1], 0.0, None) * LID_PER_DOWN_DEG
    return np.clip(lids + droop[:, None], 0.0, 1.0)


def _blink_shape(dt: np.ndarray) -> np.ndarray:
    closing = np.clip(dt / BLINK_CLOSE_S, 0.0, 1.0)
    opening = np.clip(1.0 - (dt - BLINK_CLOSE_S - BLINK_HOLD_S) / BLINK_OPEN_S, 0.0, 1.0)
    shape = np.where(dt < BLINK_CLOSE_S, np.sin(0.5 * np.pi * closing) ** 2, opening**2)
    return np.where(dt < 0, 0.0, shape)


def gaze(
    prosody: Prosody, fps: float, rng: np.random.Generator, target: tuple[float, float], speed: float
) -> np.ndarray:
    """(T, 2) gaze yaw, pitch in degrees: fixations scattered around ``target``, aversions at phrase starts."""
    n = len(prosody.speaking)
    offsets = np.zeros((n, 2))
    i = 0
    while i < n:
        stop = i + max(1, int(rng.gamma(2.0, SACCADE_INTERVAL_S / 2.0 / speed) * fps))
        offsets[i:stop] = rng.standard_normal(2) * FIXATION_STD_DEG
        i = stop
    for start, _ in prosody.phrases[1:]:
        if rng.random() < AVERSION_PROBABILITY:
            size = rng.uniform(*AVERSION_DEG)
            angle = rng.uniform(0.0, 2.0 * np.pi)
            hold = int(rng.uniform(*AVERSION_S) * fps)
            offsets[start : start + hold] = size * np.array([np.cos(angle), 0.5 * abs(np.sin(angle))])
    # A saccade is a ramp of SACCADE_S: at 25 fps it lands within one frame.
    width = max(1, int(round(SACCADE_S * fps)))
    if width > 1:
        kernel = np.ones(width) / width
        padded = np.pad(offsets, ((width - 1, 0), (0, 0)), mode="edge")
        offsets = np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(2)], axis=1)
    return offsets + np.asarray(target, np.float64)
