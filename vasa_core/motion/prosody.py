"""What the voice is doing, per frame: speaking or not, phrase breaks, loudness envelope, pitch, accents.

Everything is relative to the clip itself (its own speech level and median pitch), so that the recording gain
and the speaker's register do not change how much the face moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..types import AudioFeatures
from .signals import gaussian_smooth, runs

VAD_SPEECH = 0.5  # silero-vad's own default threshold
# Singing and shouting are sometimes scored low by silero-vad; a voiced frame this loud (relative to the clip's
# speech level) counts as voice anyway.
VOICED_LOUD_DB = -15.0
SPEECH_LEVEL_PERCENTILE = 90  # the clip's speech level: loud vowels, not the single loudest frame
ENVELOPE_RANGE_DB = 28.0  # the envelope maps [level - 28 dB, level] to [0, 1]: consonants low, vowels high
ENVELOPE_HEADROOM = 1.6  # louder than the clip's speech level (a shout within a clip) goes up to 1.6
NOISE_FLOOR_DB = -48.0  # below -48 dBFS nothing moves the mouth, whatever the VAD says (hum, hiss)
MIN_PAUSE_S = 0.25  # a silence this long is a phrase break (pauses inside phrases are mostly < 200 ms)
MIN_SPEECH_S = 0.08  # shorter voice islands are clicks or breaths
ACCENT_MIN_GAP_S = 0.35  # at most one pitch accent per ~syllable pair
ACCENT_THRESHOLD = 0.3


@dataclass(frozen=True)
class Prosody:
    speaking: np.ndarray  # (T,) bool, voice present
    gate: np.ndarray  # (T,) float64 0..1, a softened ``speaking`` (fades over ~1 frame)
    envelope: np.ndarray  # (T,) float64 0..1.6 loudness, 1 = the clip's speech level, 0 in silence
    semitones: np.ndarray  # (T,) float64 F0 in semitones relative to the clip's median, NaN unvoiced
    phrase_breaks: tuple[tuple[int, int], ...]  # [start, stop) frames of each pause >= MIN_PAUSE_S
    phrases: tuple[tuple[int, int], ...]  # [start, stop) frames of each stretch of speech between breaks
    accents: np.ndarray  # (K,) int frame indices of pitch accents / emphatic syllables
    accent_strength: np.ndarray  # (K,) float64 0..1


def analyse_prosody(audio: AudioFeatures) -> Prosody:
    fps, n = audio.fps, audio.num_frames
    db = audio.loudness.astype(np.float64) * 60.0 - 60.0
    voiced = audio.f0 > 0
    active = audio.voice_activity >= VAD_SPEECH
    level = float(np.percentile(db[active | voiced], SPEECH_LEVEL_PERCENTILE)) if np.any(active | voiced) else 0.0
    loud_voice = voiced & (db >= level + VOICED_LOUD_DB)
    speaking = (active | loud_voice) & (db > NOISE_FLOOR_DB)
    # Close gaps shorter than a phrase break, drop islands shorter than a syllable.
    for start, stop in runs(~speaking):
        if start > 0 and stop < n and (stop - start) / fps < MIN_PAUSE_S:
            speaking[start:stop] = True
    for start, stop in runs(speaking):
        if (stop - start) / fps < MIN_SPEECH_S:
            speaking[start:stop] = False
    gate = np.clip(gaussian_smooth(speaking.astype(np.float64), 0.5), 0.0, 1.0)
    gate[speaking] = np.maximum(gate[speaking], 0.75)
    envelope = np.clip((db - (level - ENVELOPE_RANGE_DB)) / ENVELOPE_RANGE_DB, 0.0, ENVELOPE_HEADROOM) * gate

    semitones = np.full(n, np.nan)
    if voiced.any():
        semitones[voiced] = 12.0 * np.log2(audio.f0[voiced] / np.median(audio.f0[voiced]))
    pauses = tuple((a, b) for a, b in runs(~speaking) if (b - a) / fps >= MIN_PAUSE_S)
    phrases = tuple(runs(speaking))
    accents, strength = _accents(envelope, semitones, phrases, fps)
    return Prosody(speaking, gate, envelope, semitones, pauses, phrases, accents, strength)


def _accents(
    envelope: np.ndarray, semitones: np.ndarray, phrases: tuple[tuple[int, int], ...], fps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Syllable nuclei (envelope peaks) that stand out in loudness and pitch against their phrase."""
    smooth = gaussian_smooth(envelope, 0.04 * fps)
    half = max(1, int(round(0.08 * fps)))
    candidates: list[tuple[float, int]] = []
    for start, stop in phrases:
        pitch = semitones[start:stop]
        phrase_pitch = np.nanmean(pitch) if np.isfinite(pitch).any() else 0.0
        for i in range(start, stop):
            window = smooth[max(start, i - half) : min(stop, i + half + 1)]
            if smooth[i] < window.max() or smooth[i] < 0.5:
                continue
            lo, hi = max(start, i - half), min(stop, i + half + 1)
            local_pitch = semitones[lo:hi]
            rise = (np.nanmax(local_pitch) - phrase_pitch) if np.isfinite(local_pitch).any() else 0.0
            score = 0.5 * np.clip(rise / 4.0, 0.0, 1.0) + 0.5 * np.clip((smooth[i] - 0.6) / 0.35, 0.0, 1.0)
            if score >= ACCENT_THRESHOLD:
                candidates.append((score, i))
    gap = int(np.ceil(ACCENT_MIN_GAP_S * fps))
    blocked = np.zeros(len(envelope), bool)
    chosen: list[tuple[float, int]] = []
    for score, i in sorted(candidates, reverse=True):  # strongest first; weaker ones too close are dropped
        if not blocked[i]:
            chosen.append((score, i))
            blocked[max(0, i - gap + 1) : i + gap] = True
    chosen.sort(key=lambda c: c[1])
    return np.array([i for _, i in chosen], np.int64), np.array([s for s, _ in chosen], np.float64)
