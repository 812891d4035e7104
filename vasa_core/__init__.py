"""vasa_core: one portrait + one voice -> a talking-head video (see DESIGN.md for the data flow)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .types import Controls, GenerationOptions, GenerationResult

__version__ = "0.1.0"
__all__ = ["Controls", "GenerationOptions", "GenerationResult", "TalkingHeadPipeline", "__version__"]

if TYPE_CHECKING:
    from .pipeline import TalkingHeadPipeline


def __getattr__(name: str):
    # The pipeline pulls in mediapipe, torch and the safety stack: import it only when asked for.
    if name == "TalkingHeadPipeline":
        from .pipeline import TalkingHeadPipeline

        return TalkingHeadPipeline
    raise AttributeError(f"module 'vasa_core' has no attribute {name!r}")
