"""Head motion from prosody plus seeded low-frequency sway.

Five layers, summed, then scaled by Controls.head_motion and the emotion's amplitude:
- sway: smooth seeded noise (slow, plus a small quicker band), larger while speaking (people hold still while
  listening);
- posture: a new small resting pose per phrase, eased in during the phrase break before it (the "reset");
- nods: a down-and-back pitch pulse on each pitch accent / emphatic syllable, with a little yaw and roll;
- pitch follows the voice's F0 a little (the head rises with the voice, Yehia et al. 2002);
- a small bob with each syllable's loudness (head motion tracks the amplitude envelope, Munhall et al. 2004).

Amplitudes are standard deviations in degrees, set so that the result lies inside what the real talking
videos in shared/media show (bench/motion_quality.py prints both side by side).
"""

from __future__ import annotations

import numpy as np

from ..types import PortraitAnalysis
from .emotion import EmotionProfile
from .prosody import Prosody
from .signals import ease, gaussian_smooth, pulse_window, smooth_noise

SWAY_STD_DEG = np.array([3.0, 2.0, 1.4])  # yaw, pitch, roll while speaking
SWAY_CUTOFF_HZ = np.array([0.7, 0.8, 0.6])  # slow: most head-motion energy is below 1 Hz
MICRO_STD_DEG = np.array([1.0, 1.0, 0.6])  # small quick motion on top (tracked real heads: 0.7-1.6 deg/frame)
# Its band and the syllable bob's smoothing set the head's frame-to-frame jitter (bench quality: rigid landmarks
# off their 5-frame average; 23 real videos 0.21-1.29 % IOD, median 0.46). At 1.8 Hz and 0.04 s ours read 0.88-0.90
# (p07, a01 and a05, 200 frames); at 1.2 Hz and 0.1 s 0.52-0.56, and the pose change per frame 0.94-0.98 -> 0.68-0.71
# deg (real median 0.77).
MICRO_CUTOFF_HZ = 1.2
LISTENING_SWAY = 0.5  # share of the sway left in pauses
LISTENING_EASE_S = 0.5  # the sway calms and livens over half a second
POSTURE_STD_DEG = np.array([2.0, 1.2, 1.2])  # per-phrase resting pose spread
POSTURE_EASE_S = 0.35
NOD_PITCH_DEG = -4.5  # per accent of strength 1 (down)
NOD_SIDE_STD_DEG = np.array([0.8, 0.6])  # random yaw and roll that go with a nod
NOD_RISE_S = 0.15  # time to the nod's lowest point
NOD_LEAD_S = 0.08  # the nod starts slightly before the stressed vowel's loudness peak
F0_PITCH_DEG_PER_SEMITONE = 0.25
F0_PITCH_LIMIT_DEG = 2.5
F0_FOLLOW_S = 0.15  # the head lags the pitch contour a little
SYLLABLE_BOB_DEG = np.array([1.4, -4.0, 1.0])  # yaw, pitch per unit of envelope above its 0.5 s average
SYLLABLE_AVERAGE_S = 0.5
BOB_SMOOTH_S = 0.1
TRANSLATION_PER_DEG = 0.004  # face widths of shift that go with each degree of yaw / pitch (neck sway)
SCALE_STD = 0.006  # +-0.6 % lean toward and away from the camera
SCALE_CUTOFF_HZ = 0.2
# A portrait already turned this far shows little of its far side: turning further that way is damped.
HIDDEN_SIDE_LIMIT_DEG = 30.0


def head_motion(
    prosody: Prosody,
    fps: float,
    rng: np.random.Generator,
    profile: EmotionProfile,
    intensity: float,
    portrait: PortraitAnalysis | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rotation (T, 3) degrees, translation (T, 2) face widths, scale factor (T,)) before the distance control."""
    n = len(prosody.speaking)
    speed = profile.head_speed
    sway = np.stack([smooth_noise(rng, n, fps, c * speed) for c in SWAY_CUTOFF_HZ], axis=1) * SWAY_STD_DEG
    sway += np.stack([smooth_noise(rng, n, fps, MICRO_CUTOFF_HZ * speed) for _ in range(3)], axis=1) * MICRO_STD_DEG
    sway *= (LISTENING_SWAY + (1.0 - LISTENING_SWAY) * ease(prosody.gate, fps, LISTENING_EASE_S))[:, None]

    posture_target = np.zeros((n, 3))
    for start, _ in prosody.phrase_breaks:
        posture_target[start:] = rng.standard_normal(3) * POSTURE_STD_DEG
    posture = ease(posture_target, fps, POSTURE_EASE_S / speed)

    nods = np.zeros((n, 3))
    for frame, strength in zip(prosody.accents, prosody.accent_strength):
        frames, bump = pulse_window(n, fps, frame / fps - NOD_LEAD_S, NOD_RISE_S / speed)
        side = rng.standard_normal(2) * NOD_SIDE_STD_DEG
        nods[frames] += (bump * strength)[:, None] * np.array([side[0], NOD_PITCH_DEG, side[1]])

    follow = np.nan_to_num(prosody.semitones, nan=0.0) * F0_PITCH_DEG_PER_SEMITONE
    follow = ease(np.clip(follow, -F0_PITCH_LIMIT_DEG, F0_PITCH_LIMIT_DEG) * prosody.gate, fps, F0_FOLLOW_S / speed)

    # A band of the loudness envelope: syllable-rate changes, without the frame-to-frame steps a head's mass
    # would not follow. Bobbing is fast motion: a slower emotion (sad) damps it along with the rest's tempo (a
    # faster one does not add to it: its amplitude factor already does).
    envelope = prosody.envelope
    syllables = gaussian_smooth(envelope, BOB_SMOOTH_S * fps) - gaussian_smooth(envelope, SYLLABLE_AVERAGE_S * fps / 2)
    bob = syllables[:, None] * SYLLABLE_BOB_DEG * min(speed, 1.0)

    rotation = sway + posture + nods + bob
    rotation[:, 1] += follow
    rotation -= rotation.mean(axis=0)  # on average the head sits as photographed (nods alone would lower it)
    rotation *= intensity * profile.head_amplitude
    if portrait is not None:
        rotation[:, 0] = _damp_hidden_side(rotation[:, 0], float(portrait.head_pose[0]))
    rotation[:, 1] += profile.head_pitch_deg

    moving = rotation - rotation.mean(axis=0)
    translation = np.stack([moving[:, 0], -moving[:, 1]], axis=1) * TRANSLATION_PER_DEG
    scale = 1.0 + smooth_noise(rng, n, fps, SCALE_CUTOFF_HZ * speed) * SCALE_STD * intensity * profile.head_amplitude
    return rotation, translation, scale


def _damp_hidden_side(yaw: np.ndarray, portrait_yaw: float) -> np.ndarray:
    """Turning further toward the side a turned portrait hides would reveal what the photo never showed."""
    damping = max(0.25, 1.0 - abs(portrait_yaw) / HIDDEN_SIDE_LIMIT_DEG)
    further = np.sign(yaw) == np.sign(portrait_yaw)
    return np.where(further & (portrait_yaw != 0), yaw * damping, yaw)
