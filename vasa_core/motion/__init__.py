"""Motion: AudioFeatures + PortraitAnalysis + Controls -> MotionSequence (see docs/ARCHITECTURE.md)."""

from .base import MotionGenerator
from .io import load_motion, save_motion
from .procedural import ProceduralMotionGenerator

__all__ = ["MotionGenerator", "ProceduralMotionGenerator", "load_motion", "save_motion"]
