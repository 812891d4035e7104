"""Brows with emphasis: a raise on stressed syllables and high pitch (Cavé et al. 1996: brow raises go with
F0 rises and focus), none in pauses."""

from __future__ import annotations

import numpy as np

from .prosody import Prosody
from .signals import pulse_window

BROW_RAISE = 0.35  # brow_inner_up / brow_outer_up weight for an accent of strength 1
BROW_RISE_S = 0.2  # slower than a nod: brows rise and settle over ~0.6 s
BROW_LEAD_S = 0.1


def brow_raise(prosody: Prosody, fps: float, emphasis: float) -> np.ndarray:
    """(T,) 0..1 brow raise weight."""
    n = len(prosody.speaking)
    raise_ = np.zeros(n)
    for frame, strength in zip(prosody.accents, prosody.accent_strength):
        frames, bump = pulse_window(n, fps, frame / fps - BROW_LEAD_S, BROW_RISE_S)
        raise_[frames] = np.maximum(raise_[frames], strength * bump)
    return np.clip(raise_ * BROW_RAISE * emphasis, 0.0, 1.0)
