"""The speaking mouth: phone visemes (shape and timing) and the voice's own cues (amplitude, and shape where no
phones are usable) combined into expression weights.

Amplitude always comes from the loudness envelope, so a louder voice opens the mouth wider and silence closes it
whatever the phone recognizer said. The shape (how open, rounded or spread) comes mostly from the phones when
there are any, and from F1/F2 otherwise; the formant cue is always mixed in a little, which keeps singing and
non-English speech (decoded with English phones) from being led astray by wrong phones.
"""

from __future__ import annotations

import numpy as np

from ..types import AudioFeatures
from .prosody import Prosody
from .signals import gaussian_smooth
from .visemes import ARTICULATORS, acoustic_shape, articulator_tracks, tracks_per_frame

# jaw_open at the clip's speech level. The renderer's weight 1 opens the lips 0.135 face heights, a wide vowel of
# the real videos (render.expressions). Calibrated on the lip gap's 95th percentile (python -m bench --only
# quality): the 23 real videos read 0.041-0.172, median 0.097; at 0.55 our clips of closed-mouth portraits read
# median 0.067 (mouths opening two thirds as wide as real speakers'), at 0.75 0.095.
JAW_AT_SPEECH_LEVEL = 0.75
JAW_SHAPE_FLOOR = 0.35  # even the closest vowel (/i/, /u/) opens the jaw this share of an /a/
ENVELOPE_GAMMA = 0.8  # > 1 would hide quiet syllables; < 1 keeps them visible
PHONE_SHAPE_WEIGHT = 0.75  # share of the mouth shape taken from phones when there are phones
ROUND_FUNNEL_SHARE = 0.6  # formant rounding shown as funnel (open round) vs pucker (closed round)
SHAPE_SMOOTH_FRAMES = 0.5  # Gaussian sigma: lips do not jump between frames
# Coarticulation leaves a bilabial's closure at 0.9-0.98; a portrait photographed with open lips (p01) then
# still shows a gap of 2-3% of the face height (measured), so the plateau is pushed to a full 1.
CLOSURE_GAIN = 1.15
STRETCH_AT_FULL_SPREAD = 0.6  # an /i/ spreads the lips, it does not pull the corners as far as a grimace


def speech_mouth(audio: AudioFeatures, prosody: Prosody, lip_scale: float) -> dict[str, np.ndarray]:
    """Expression name -> (T,) weights for the speaking mouth (0 in silence)."""
    n, fps = audio.num_frames, audio.fps
    gate = prosody.gate
    envelope = prosody.envelope**ENVELOPE_GAMMA
    acoustic_open, acoustic_round, acoustic_spread = acoustic_shape(audio.formants[:, 0], audio.formants[:, 1])
    acoustic = {
        "open": acoustic_open,
        "funnel": acoustic_round * ROUND_FUNNEL_SHARE,
        "pucker": acoustic_round * (1.0 - ROUND_FUNNEL_SHARE),
        "spread": acoustic_spread,
    }
    if audio.phone_source != "none" and audio.phones:
        times, tracks = articulator_tracks(audio.phones, audio.duration_s)
        per_frame = tracks_per_frame(times, tracks, fps, n)
        art = {name: per_frame[:, k] for k, name in enumerate(ARTICULATORS)}
        for name, cue in acoustic.items():
            art[name] = PHONE_SHAPE_WEIGHT * art[name] + (1.0 - PHONE_SHAPE_WEIGHT) * cue
    else:
        art = {name: np.zeros(n) for name in ARTICULATORS}
        art.update(acoustic)
    art = {name: gaussian_smooth(track, SHAPE_SMOOTH_FRAMES) for name, track in art.items()}

    close = np.clip(art["close"] * CLOSURE_GAIN, 0.0, 1.0) * (gate > 0.5)
    shape_open = JAW_SHAPE_FLOOR + (1.0 - JAW_SHAPE_FLOOR) * np.clip(art["open"], 0.0, 1.0)
    jaw = JAW_AT_SPEECH_LEVEL * lip_scale * envelope * shape_open * (1.0 - close)
    lips = lip_scale * gate * (1.0 - close)
    return {
        "jaw_open": jaw,
        "mouth_close": close,
        "funnel": art["funnel"] * lips,
        "pucker": art["pucker"] * lips,
        "stretch": art["spread"] * lips * STRETCH_AT_FULL_SPREAD,
        "lower_lip_tuck": art["tuck"] * lip_scale * gate,
        "upper_lip_up": art["lip_up"] * lips,
        "lower_lip_down": art["lip_down"] * lips * np.clip(envelope, 0.0, 1.0),
    }
