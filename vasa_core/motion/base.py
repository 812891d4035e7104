"""The motion generator interface: what every generator (procedural today, learned later) implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..types import AudioFeatures, Controls, MotionSequence, PortraitAnalysis


@runtime_checkable
class MotionGenerator(Protocol):
    def generate(self, audio: AudioFeatures, portrait: PortraitAnalysis, controls: Controls) -> MotionSequence:
        """Exactly ``audio.num_frames`` frames at ``audio.fps``; the same inputs and ``controls.seed`` give the
        same sequence."""
        ...
