"""The layered 2.5D warping renderer: PortraitAnalysis + MotionSequence -> frames."""

from vasa_core.render.renderer import Renderer

__all__ = ["Renderer"]
