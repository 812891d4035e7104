"""Person matte refinement and the background clean plate (person removed, hole filled by a push-pull pyramid)."""

from __future__ import annotations

import cv2
import numpy as np

# Guided-filter radius as a fraction of the longer image side (~5 px at 512) and its edge-preserving epsilon
# (on 0..1 intensities): soft enough to keep hair strands partial, firm enough not to bleed into flat backgrounds.
GUIDED_RADIUS_FRAC = 0.01
GUIDED_EPS = 1e-3
# Matte levels mapped to 0 and 1 by a smoothstep after the guided filter (keeps the soft edge, drops haze).
MATTE_FLOOR, MATTE_CEIL = 0.12, 0.9
# The hole inpainted in the clean plate: person matte above this level, grown by this fraction of the longer side
# so that no halo of hair or skin colour survives in the plate; never more than a fraction of the face width, as
# the person layer carries what lies inside the hole (background there moves with the head's edge).
PLATE_MATTE_LEVEL = 0.05
PLATE_GROW_FRAC = 0.025
PLATE_GROW_MAX_FACE = 0.05


def refine_matte(image: np.ndarray, raw: np.ndarray, face_hull: np.ndarray) -> np.ndarray:
    """Soft person matte (H, W) float32 0..1 from a raw segmentation probability map.

    face_hull: (N, 2) float32 pixel polygon that must be inside the person (segmenters miss cartoon and
    painted faces more often than photos).
    """
    h, w = raw.shape
    prob = np.clip(raw.astype(np.float32), 0.0, 1.0)
    hull = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(hull, np.round(cv2.convexHull(face_hull.astype(np.float32))).astype(np.int32), 255)
    hull = cv2.GaussianBlur(hull, (0, 0), max(1.0, 0.004 * max(h, w))).astype(np.float32) / 255.0
    prob = np.maximum(prob, hull)
    # Keep only the connected region that contains the face: stray blobs would become floating cut-outs.
    binary = (prob > 0.5).astype(np.uint8)
    count, labels = cv2.connectedComponents(binary)
    if count > 2:
        cy, cx = np.mean(face_hull[:, 1]), np.mean(face_hull[:, 0])
        keep = labels[int(np.clip(cy, 0, h - 1)), int(np.clip(cx, 0, w - 1))]
        if keep > 0:
            stray = (labels > 0) & (labels != keep)
            prob = np.where(stray, 0.0, prob).astype(np.float32)
    guide = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    radius = max(2, int(round(GUIDED_RADIUS_FRAC * max(h, w))))
    refined = np.clip(cv2.ximgproc.guidedFilter(guide, prob, radius, GUIDED_EPS), 0.0, 1.0)
    # segmenters leave faint probability over busy backgrounds: such pixels would travel with the head
    t = np.clip((refined - MATTE_FLOOR) / (MATTE_CEIL - MATTE_FLOOR), 0.0, 1.0)
    return (t * t * (3 - 2 * t)).astype(np.float32)


def push_pull_fill(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill pixels where known == 0 from their surroundings at every scale (no seams, no streaks).

    image: (H, W, C) uint8; known: (H, W) float32 0..1 confidence. Returns uint8 of the same shape.
    """
    w0 = np.clip(known.astype(np.float32), 0.0, 1.0)
    c0 = image.astype(np.float32) * w0[..., None]
    colours, weights = [c0], [w0]
    while min(colours[-1].shape[:2]) > 2:
        colours.append(cv2.pyrDown(colours[-1]))
        weights.append(cv2.pyrDown(weights[-1]))
        if colours[-1].ndim == 2:
            colours[-1] = colours[-1][..., None]
    filled = colours[-1] / np.maximum(weights[-1], 1e-6)[..., None]
    for c, w in zip(reversed(colours[:-1]), reversed(weights[:-1])):
        up = cv2.pyrUp(filled, dstsize=(c.shape[1], c.shape[0]))
        if up.ndim == 2:
            up = up[..., None]
        wn = np.minimum(w * 4.0, 1.0)[..., None]  # a level is trusted where a quarter of its support is known
        filled = np.where(wn > 0, c / np.maximum(w, 1e-6)[..., None], up) * wn + up * (1 - wn)
    out = image.astype(np.float32) * w0[..., None] + filled * (1 - w0[..., None])
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def clean_plate(image: np.ndarray, matte: np.ndarray, face_width: float) -> np.ndarray:
    """The background with the person removed: (H, W, 3) uint8, equal to ``image`` away from the person."""
    h, w = matte.shape
    grow = max(2, int(round(min(PLATE_GROW_FRAC * max(h, w), PLATE_GROW_MAX_FACE * face_width))))
    hole = (matte > PLATE_MATTE_LEVEL).astype(np.uint8)
    hole = cv2.dilate(hole, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    plate = push_pull_fill(image, 1.0 - hole.astype(np.float32))
    return _match_grain(plate, image, hole.astype(bool))


def _match_grain(plate: np.ndarray, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Add noise with the background's own high-frequency level inside the filled hole (a fill is too smooth)."""
    if hole.all() or not hole.any():
        return plate
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    detail = gray - cv2.GaussianBlur(gray, (0, 0), 1.5)
    sigma = 1.4826 * float(np.median(np.abs(detail[~hole])))  # robust: edges and highlights are not grain
    rng = np.random.default_rng(0)  # fixed: the plate is part of a deterministic analysis
    noise = rng.normal(0.0, sigma, hole.shape).astype(np.float32)
    noisy = plate.astype(np.float32) + np.where(hole, noise, 0.0)[..., None]
    return np.clip(noisy + 0.5, 0, 255).astype(np.uint8)
