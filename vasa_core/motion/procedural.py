"""The procedural motion generator: rules from phonetics and conversation research, seeded randomness.

Each part of the face has its own random stream derived from the seed, so changing one control (say the blink
rate) does not reshuffle the head motion, and the same seed and inputs always give the same sequence.
"""

from __future__ import annotations

import numpy as np

from ..types import EXPRESSION_INDEX, EXPRESSION_NAMES, AudioFeatures, Controls, MotionSequence, PortraitAnalysis
from .brows import brow_raise
from .emotion import PROFILES, scaled
from .eyes import blinks, gaze
from .head import head_motion
from .mouth import speech_mouth
from .prosody import analyse_prosody

_STREAMS = ("head", "blinks", "gaze")


class ProceduralMotionGenerator:
    """Implements MotionGenerator without learned weights; ~10 ms per minute of audio."""

    def generate(self, audio: AudioFeatures, portrait: PortraitAnalysis | None, controls: Controls) -> MotionSequence:
        """``portrait`` may be None (motion for no particular face: no gaze or pose limits from the photo)."""
        n, fps = audio.num_frames, audio.fps
        profile = scaled(PROFILES[controls.emotion], controls.emotion_intensity)
        rng = {
            name: np.random.default_rng(seed)
            for name, seed in zip(_STREAMS, np.random.SeedSequence(controls.seed).spawn(len(_STREAMS)))
        }
        prosody = analyse_prosody(audio)
        expression = np.zeros((n, len(EXPRESSION_NAMES)))

        for name, track in speech_mouth(audio, prosody, controls.lip_expressiveness * profile.lip_amplitude).items():
            expression[:, EXPRESSION_INDEX[name]] += track
        brows = brow_raise(prosody, fps, profile.brow_emphasis)
        expression[:, EXPRESSION_INDEX["brow_inner_up"]] += brows
        expression[:, EXPRESSION_INDEX["brow_outer_up"]] += 0.7 * brows
        for name, weight in profile.offsets.items():
            expression[:, EXPRESSION_INDEX[name]] += weight

        eyes_open = portrait is None or portrait.eyes_open
        if eyes_open:
            target = (controls.gaze_yaw, controls.gaze_pitch + profile.gaze_pitch_deg)
            gaze_track = gaze(prosody, fps, rng["gaze"], target, profile.head_speed)
            lids = blinks(prosody, fps, rng["blinks"], controls.blink_rate * profile.blink_rate, gaze_track)
            expression[:, EXPRESSION_INDEX["blink_l"]] += lids[:, 0]
            expression[:, EXPRESSION_INDEX["blink_r"]] += lids[:, 1]
        else:  # eyes closed in the photo: there is nothing to move
            gaze_track = np.zeros((n, 2))

        rotation, translation, scale = head_motion(prosody, fps, rng["head"], profile, controls.head_motion, portrait)
        return MotionSequence(
            fps=fps,
            expression=np.clip(expression, 0.0, 1.0).astype(np.float32),
            head_rotation=rotation.astype(np.float32),
            head_translation=translation.astype(np.float32),
            head_scale=(scale * controls.distance).astype(np.float32),
            gaze=gaze_track.astype(np.float32),
        )
