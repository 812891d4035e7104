"""Small-region helpers shared by the eye and mouth layers: affine fits, anti-aliased polygon masks, ROI sampling."""

from __future__ import annotations

import cv2
import numpy as np

MASK_SUBPIXEL_BITS = 3  # cv2.fillPoly fixed-point precision: 1/8 px polygon vertices


class AffineFit:
    """Least-squares affine maps (2, 3) from fixed source points (N, 2) to any destinations (N, 2): the solve is
    precomputed, as the renderer fits the same rest landmarks to new positions every frame."""

    def __init__(self, src: np.ndarray) -> None:
        self._pinv = np.linalg.pinv(np.column_stack([src, np.ones(len(src))]))

    def __call__(self, dst: np.ndarray) -> np.ndarray:
        return (self._pinv @ dst).T


def invert_affine(m: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(m.astype(np.float64))


def roi_of(points: np.ndarray, margin: float, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Integer box x0, y0, x1, y1 (exclusive) around points, grown by margin and clipped; None if empty."""
    x0 = int(np.floor(points[:, 0].min() - margin))
    y0 = int(np.floor(points[:, 1].min() - margin))
    x1 = int(np.ceil(points[:, 0].max() + margin)) + 1
    y1 = int(np.ceil(points[:, 1].max() + margin)) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return x0, y0, x1, y1


def polygon_mask(polygon: np.ndarray, box: tuple[int, int, int, int], grow: float = 0.0) -> np.ndarray:
    """(h, w) float32 0..1 anti-aliased fill of polygon (N, 2 pixels) inside box; grow > 0 feathers outward."""
    x0, y0, x1, y1 = box
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    pts = np.round((polygon - [x0, y0]) * (1 << MASK_SUBPIXEL_BITS)).astype(np.int32)
    cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_AA, shift=MASK_SUBPIXEL_BITS)
    out = mask.astype(np.float32) / 255.0
    if grow > 0:
        out = cv2.GaussianBlur(out, (0, 0), grow)
    return out


def sample_affine(image: np.ndarray, inv: np.ndarray, box: tuple[int, int, int, int],
                  border: int = cv2.BORDER_REFLECT) -> np.ndarray:
    """Sample ``image`` for the output pixels of box through the inverse affine ``inv`` (output -> image)."""
    x0, y0, x1, y1 = box
    shift = np.array([[1, 0, x0], [0, 1, y0]], np.float64)
    m = inv @ np.vstack([shift, [0, 0, 1]])
    return cv2.warpAffine(image, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=border)
