"""Emotions as static expression offsets plus changes to the motion's dynamics.

The offsets follow FACS prototypes (Ekman & Friesen): happy = AU6 cheek raise + AU12 lip-corner pull; sad =
AU1 inner-brow raise + AU4 brow lowerer + AU15 (no corner-depressor coefficient exists: lowered lids and head
carry it); angry = AU4 + AU7 lid tightener + AU10 upper-lip raise + AU20 a tense, slightly stretched mouth (a
static lip press would fight the speech); surprised = AU1 + AU2 brow raise + AU26 jaw drop. The dynamics follow
what is reported for emotional speech (e.g. Busso et al. 2007: sad speech has slower, smaller head motion with
the head lowered; angry and happy speech more and faster).
All values are for intensity 1 and scale linearly with Controls.emotion_intensity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..types import EXPRESSION_NAMES


@dataclass(frozen=True)
class EmotionProfile:
    offsets: dict[str, float] = field(default_factory=dict)  # expression name -> weight added at rest
    head_amplitude: float = 1.0  # multiplies head-motion amplitude
    head_speed: float = 1.0  # multiplies head-motion frequencies (and shortens nods)
    head_pitch_deg: float = 0.0  # constant head pitch offset, degrees (> 0 = up)
    gaze_pitch_deg: float = 0.0  # constant gaze pitch offset, degrees (> 0 = up)
    lip_amplitude: float = 1.0  # multiplies speech mouth-shape amplitudes
    blink_rate: float = 1.0  # multiplies the blink rate
    brow_emphasis: float = 1.0  # multiplies brow raises on stressed syllables

    def __post_init__(self) -> None:
        unknown = set(self.offsets) - set(EXPRESSION_NAMES)
        if unknown:
            raise ValueError(f"unknown expression names in an emotion profile: {sorted(unknown)}")


NEUTRAL = EmotionProfile()
PROFILES: dict[str, EmotionProfile] = {
    "neutral": NEUTRAL,
    "happy": EmotionProfile(
        offsets={"smile_l": 0.7, "smile_r": 0.7, "cheek_raise": 0.5, "squint": 0.2},
        head_amplitude=1.25,
        head_speed=1.15,
        head_pitch_deg=1.5,
        lip_amplitude=1.0,
        blink_rate=1.0,
        brow_emphasis=1.2,
    ),
    "sad": EmotionProfile(
        offsets={"brow_inner_up": 0.7, "brow_down_l": 0.2, "brow_down_r": 0.2, "blink_l": 0.2, "blink_r": 0.2},
        head_amplitude=0.55,
        head_speed=0.55,
        head_pitch_deg=-5.0,
        gaze_pitch_deg=-4.0,
        lip_amplitude=0.7,
        blink_rate=0.8,
        brow_emphasis=0.5,
    ),
    "angry": EmotionProfile(
        offsets={"brow_down_l": 0.8, "brow_down_r": 0.8, "squint": 0.45, "upper_lip_up": 0.2, "stretch": 0.1},
        head_amplitude=1.2,
        head_speed=1.3,
        head_pitch_deg=-2.0,
        lip_amplitude=1.2,
        blink_rate=0.8,
        brow_emphasis=0.3,
    ),
    "surprised": EmotionProfile(
        offsets={"brow_inner_up": 0.8, "brow_outer_up": 0.9, "jaw_open": 0.12},
        head_amplitude=1.1,
        head_speed=1.1,
        head_pitch_deg=3.0,
        lip_amplitude=1.1,
        blink_rate=0.5,
        brow_emphasis=1.0,
    ),
}


def scaled(profile: EmotionProfile, intensity: float) -> EmotionProfile:
    """The profile at ``intensity`` (0 = neutral, 1 = as tabled): offsets and multipliers interpolated."""

    def lerp(neutral: float, full: float) -> float:
        return neutral + (full - neutral) * intensity

    return EmotionProfile(
        offsets={k: v * intensity for k, v in profile.offsets.items()},
        head_amplitude=lerp(1.0, profile.head_amplitude),
        head_speed=lerp(1.0, profile.head_speed),
        head_pitch_deg=profile.head_pitch_deg * intensity,
        gaze_pitch_deg=profile.gaze_pitch_deg * intensity,
        lip_amplitude=lerp(1.0, profile.lip_amplitude),
        blink_rate=lerp(1.0, profile.blink_rate),
        brow_emphasis=lerp(1.0, profile.brow_emphasis),
    )
