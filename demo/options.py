"""The one place where the demo's control values become GenerationOptions, and where their ranges live.

The sliders are built from CONTROL_SLIDERS, so the UI, its help text and the mapping cannot drift apart.
Defaults come from vasa_core.types.Controls, ranges from its validation (narrowed where the full range
only makes sense for research).
"""

from __future__ import annotations

from dataclasses import dataclass

from vasa_core.errors import InputError
from vasa_core.types import EMOTIONS, Controls, GenerationOptions

from .settings import DemoSettings

DEFAULT_CONTROLS = Controls()


@dataclass(frozen=True)
class SliderSpec:
    """One numeric control as the UI shows it."""

    label: str
    minimum: float
    maximum: float
    step: float
    default: float
    info: str  # one line of help under the slider


CONTROL_SLIDERS: dict[str, SliderSpec] = {
    "emotion_intensity": SliderSpec("Emotion intensity", 0.0, 1.0, 0.05, DEFAULT_CONTROLS.emotion_intensity,
                                    "0 = a hint of the emotion, 1 = fully expressed"),
    "gaze_yaw": SliderSpec("Gaze left / right (degrees)", -30.0, 30.0, 1.0, DEFAULT_CONTROLS.gaze_yaw,
                           "0 = looks at the camera; positive = toward the image's right"),
    "gaze_pitch": SliderSpec("Gaze down / up (degrees)", -20.0, 20.0, 1.0, DEFAULT_CONTROLS.gaze_pitch,
                             "0 = looks at the camera; positive = up"),
    "distance": SliderSpec("Head distance", 0.8, 1.2, 0.01, DEFAULT_CONTROLS.distance,
                           "1 = as in the photo; above 1 = closer (larger), below 1 = farther"),
    "head_motion": SliderSpec("Head motion", 0.0, 2.0, 0.05, DEFAULT_CONTROLS.head_motion,
                              "0 = still head, 1 = natural, 2 = animated"),
    "blink_rate": SliderSpec("Blinks per minute", 0.0, 40.0, 1.0, DEFAULT_CONTROLS.blink_rate,
                             "people blink about 10-30 times a minute"),
    "lip_expressiveness": SliderSpec("Lip expressiveness", 0.5, 1.5, 0.05, DEFAULT_CONTROLS.lip_expressiveness,
                                     "scales the mouth shapes: below 1 mumbles, above 1 articulates"),
}
EMOTION_CHOICES = EMOTIONS


def options_from_ui(
    settings: DemoSettings,
    *,
    transcript: str | None,
    emotion: str,
    emotion_intensity: float,
    gaze_yaw: float,
    gaze_pitch: float,
    distance: float,
    head_motion: float,
    blink_rate: float,
    lip_expressiveness: float,
    size: int | str,
    seed: float | int | None,
    consent: bool,
) -> GenerationOptions:
    """UI (or API) values -> GenerationOptions under the operator's settings; InputError on a value out of range.

    The policy, device and audio limit are the operator's, never the visitor's.
    """
    try:
        size = int(size)
        if size not in settings.size_choices:
            raise ValueError(f"size={size} is not offered here: accepted {', '.join(map(str, settings.size_choices))}")
        controls = Controls(
            emotion=emotion,
            emotion_intensity=float(emotion_intensity),
            gaze_yaw=float(gaze_yaw),
            gaze_pitch=float(gaze_pitch),
            distance=float(distance),
            head_motion=float(head_motion),
            blink_rate=float(blink_rate),
            lip_expressiveness=float(lip_expressiveness),
            seed=DEFAULT_CONTROLS.seed if seed is None else int(seed),
        )
        return GenerationOptions(
            controls=controls,
            transcript=(transcript or "").strip() or None,
            size=size,
            device=settings.device,
            policy=settings.policy,
            consent=bool(consent),
            max_audio_s=settings.max_audio_s,
        )
    except (TypeError, ValueError) as exc:
        raise InputError(f"A control has a value this demo does not accept: {exc}. Reset it and try again.") from exc
