"""Eyes: the eyeball (sclera with the iris removed) and the iris, moved for gaze and clipped by the current lids.

The eyeball content follows the head rigidly (never the lids), so a blink closes the lids over an unsquashed eye.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numba as nb
import numpy as np

from vasa_core.analysis import face_geometry as fg
from vasa_core.analysis.face_matte import push_pull_fill
from vasa_core.render.layers import AffineFit, invert_affine, polygon_mask, roi_of, sample_affine

EYE_MARGIN_WIDTHS = 0.35  # texture margin around each eye, in eye widths
IRIS_EDGE_PX = 0.6  # softness of the iris disc edge (Gaussian sigma in pixels)
FADE_GAP_PX = 1.5  # the eye fades out as the mean lid gap closes below this (no 1-pixel slivers)


@dataclass(frozen=True)
class EyeTexture:
    origin: np.ndarray  # (2,) float32 pixels: top-left of the texture in the portrait
    sclera: np.ndarray  # (h, w, 3) uint8: the eye region with the iris filled by the sclera around it
    iris: np.ndarray  # (h, w, 4) uint8: the iris disc (completed where the lids hid it) and its alpha
    anchors: list[int]  # landmark indices whose rigid motion carries the eyeball
    to_frame: AffineFit  # the anchors' texture pixels -> their frame pixels


def _loop(eye: int) -> list[int]:
    return list(fg.EYE_UPPER[eye]) + list(reversed(fg.EYE_LOWER[eye][1:-1]))


def build_eye_texture(image: np.ndarray, landmarks: np.ndarray, eye: int) -> EyeTexture | None:
    h, w = image.shape[:2]
    pts = landmarks[:, :2]
    width = np.linalg.norm(pts[fg.EYE_CORNERS[eye][0]] - pts[fg.EYE_CORNERS[eye][1]])
    box = roi_of(pts[_loop(eye)], EYE_MARGIN_WIDTHS * width, w, h)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    crop = image[y0:y1, x0:x1]
    opening = polygon_mask(pts[_loop(eye)], box)
    centre = pts[fg.IRIS_CENTER[eye]] - [x0, y0]
    radius = float(np.mean(np.linalg.norm(pts[list(fg.IRIS_RING[eye])] - pts[fg.IRIS_CENTER[eye]], axis=1)))
    yy, xx = np.mgrid[0: y1 - y0, 0: x1 - x0].astype(np.float32)
    dist = np.hypot(xx - centre[0], yy - centre[1])
    disc = np.clip(radius + 0.5 - dist, 0.0, 1.0)
    disc = cv2.GaussianBlur(disc, (0, 0), IRIS_EDGE_PX)
    # sclera: the opening with the iris (grown by a pixel of halo) treated as unknown and filled from around it
    known = np.clip(1.0 - np.clip(radius + 1.5 - dist, 0.0, 1.0), 0.0, 1.0)
    sclera = push_pull_fill(crop, known)
    # iris: what is visible of it, completed under the lids from its own visible pixels
    visible = (disc > 0.5) & (opening > 0.5)
    iris_rgb = push_pull_fill(crop, visible.astype(np.float32)) if visible.any() else crop
    alpha = np.clip(disc * 255.0 + 0.5, 0, 255).astype(np.uint8)
    iris = np.dstack([iris_rgb, alpha])
    anchors = _loop(eye) + list(fg.BROW_LOWER[eye]) + [6, 197]  # lids, brow and nose bridge: the eye socket
    origin = np.array([x0, y0], np.float32)
    return EyeTexture(origin, sclera, iris, anchors, AffineFit(pts[anchors] - origin))


def draw_eye(out: np.ndarray, tex: EyeTexture, rigid: np.ndarray, lids: np.ndarray, gaze_px: np.ndarray) -> None:
    """Composite one eye into ``out`` in place.

    rigid: (478, 2) landmark pixels after head motion only (no expression); lids: (N, 2) the current eye-opening
    polygon; gaze_px: (2,) iris shift in portrait pixels.
    """
    h, w = out.shape[:2]
    n_up = len(fg.EYE_UPPER[0])
    upper, lower = lids[1: n_up - 1], lids[n_up:][::-1]
    opacity = float(np.clip(np.linalg.norm(upper - lower, axis=1).mean() / FADE_GAP_PX, 0.0, 1.0))
    if opacity <= 0.0:
        return
    box = roi_of(lids, 2.0, w, h)
    if box is None:
        return
    inv = invert_affine(tex.to_frame(rigid[tex.anchors]))
    sclera = sample_affine(tex.sclera, inv, box)
    shift = np.array([[1, 0, -gaze_px[0]], [0, 1, -gaze_px[1]]], np.float64)
    inv_iris = shift @ np.vstack([inv, [0, 0, 1]])
    iris = sample_affine(tex.iris, inv_iris, box, border=cv2.BORDER_CONSTANT)
    _blend_eye(out, sclera, iris, polygon_mask(lids, box), np.float32(opacity), box[0], box[1])


@nb.njit(cache=True, fastmath=True, nogil=True)
def _blend_eye(out, sclera, iris, mask, opacity, x0, y0):
    """The iris (RGBA) over the sclera, blended into ``out`` at (x0, y0) by the lid opening ``mask`` x opacity."""
    h, w = mask.shape
    for y in range(h):
        for x in range(w):
            m = mask[y, x] * opacity
            if m <= 0.0:
                continue
            a = iris[y, x, 3] / np.float32(255.0)
            for c in range(3):
                eye = sclera[y, x, c] * (1.0 - a) + iris[y, x, c] * a
                out[y + y0, x + x0, c] = np.uint8(min(out[y + y0, x + x0, c] * (1.0 - m) + eye * m + 0.5, 255.0))


def eye_polygon(points: np.ndarray, eye: int) -> np.ndarray:
    return points[_loop(eye), :2]
