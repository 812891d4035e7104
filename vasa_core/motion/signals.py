"""Small signal helpers shared by the motion generator: smoothing, seeded smooth noise, runs of a mask."""

from __future__ import annotations

import numpy as np


def smooth_noise(rng: np.random.Generator, n: int, fps: float, cutoff_hz: float) -> np.ndarray:
    """(n,) float64 zero-mean, unit-std noise with a Gaussian spectrum falling to 1/e at ``cutoff_hz``.

    White noise shaped in the frequency domain, so the result has the same character at any fps and length.
    Padded by 4 cut-off periods so that short clips are not dominated by the FFT's wrap-around.
    """
    if n == 0:
        return np.zeros(0)
    pad = int(4 * fps / max(cutoff_hz, 1e-3))
    total = n + 2 * pad
    spectrum = np.fft.rfft(rng.standard_normal(total))
    freqs = np.fft.rfftfreq(total, d=1.0 / fps)
    out = np.fft.irfft(spectrum * np.exp(-((freqs / cutoff_hz) ** 2)), n=total)[pad : pad + n]
    out -= out.mean()
    std = out.std()
    return out / std if std > 1e-12 else out


def gaussian_smooth(x: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing along axis 0, edges held (no fade toward zero at the clip ends)."""
    if sigma_frames <= 0 or len(x) < 2:
        return np.asarray(x, np.float64)
    radius = max(1, int(3 * sigma_frames))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_frames) ** 2)
    taps /= taps.sum()
    padded = np.pad(np.asarray(x, np.float64), [(radius, radius)] + [(0, 0)] * (np.ndim(x) - 1), mode="edge")
    if np.ndim(x) == 1:
        return np.convolve(padded, taps, mode="valid")
    return np.stack([np.convolve(padded[:, k], taps, mode="valid") for k in range(padded.shape[1])], axis=1)


def ease(x: np.ndarray, fps: float, tau_s: float) -> np.ndarray:
    """Critically damped follow of a target track (two one-pole passes forward): steps become S-curves.

    Causal on purpose: posture changes start when the phrase break starts, not before.
    """
    if tau_s <= 0 or len(x) == 0:
        return np.asarray(x, np.float64)
    a = 1.0 - np.exp(-1.0 / (tau_s * fps))
    out = np.array(x, np.float64)
    for _ in range(2):  # y[i] = y[i-1] + a * (x[i] - y[i-1]), starting at rest on x[0]; in place, row by row
        for i in range(1, len(out)):
            out[i] = out[i - 1] + a * (out[i] - out[i - 1])
    return out


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index pairs of the True runs of a 1-D boolean mask."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(m[1:] != m[:-1])
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


PULSE_REACH = 8.0  # rise times after the onset at which a pulse has fallen below 1e-4


def pulse(dt: np.ndarray, rise_s: float) -> np.ndarray:
    """A smooth bump of height 1 at ``dt`` = rise_s after its onset (a gamma curve of shape 3): it leaves 0 with zero
    slope, so a nod or brow raise starts gently, and decays over ~3 rise times. 0 before the onset."""
    x = np.clip(dt, 0.0, None) / rise_s
    return x**2 * np.exp(2.0 * (1.0 - x))


def pulse_window(n: int, fps: float, onset_s: float, rise_s: float) -> tuple[slice, np.ndarray]:
    """The frames of a length-n track that a pulse starting at ``onset_s`` reaches, and its values there."""
    lo = max(0, int(np.floor(onset_s * fps)))
    hi = min(n, int(np.ceil((onset_s + PULSE_REACH * rise_s) * fps)) + 1)
    return slice(lo, hi), pulse(np.arange(lo, hi) / fps - onset_s, rise_s)
