"""Head-pose change between consecutive video frames, measured from how the rigid upper face moves in the image.

Why not the face tracker's pose: fitting the canonical face to mediapipe's landmarks (motion_quality.
rigid_head_angles on upper-face points, quality.head_angles on all 468) reads 0.28-0.36 degrees per frame on a
render whose head does not move at all (p07, head_motion 0, talking; the forehead pixels are identical between
frames). FaceMesh re-regresses the whole mesh as the mouth opens: the fitted pitch follows the mouth opening
(r = 0.91). Tracking at 512 px instead of 320 (0.36), fitting x, y only (0.38) and dropping the nose tip and the
jaw-side outline (0.27) all stay above the 0.2 degrees per frame that issue 4 allows a still head.

Method, per pair of consecutive frames:
1. RIGID_POINTS, skin fixed to the skull and away from mouth, lids and brows, are placed at the tracked
   landmarks of the first frame (landmark jitter of a pixel only moves where the image is sampled).
2. Their image motion to the next frame is measured by pyramidal Lucas-Kanade (sub-pixel), with a
   forward-backward check that drops points it lost.
3. Their 3D positions come from the canonical face model fitted (similarity) to those landmarks: the model's depth
   is the calibration that turns pixel motion into degrees.
4. A small rotation w under weak perspective moves a point P by (w x P)_xy; with translation t and scale s the
   displacements are d = (w x P)_xy + t + s * P_xy, linear in (w, t, s), fitted by Huber-weighted least
   squares (hair or background inside a window at the face outline moves differently from the face).

Validation (bench/motion_quality.py controls_rows; p07 at 320 px talking JFK with head_motion 0, 75 frames, known
rotations added to MotionSequence.head_rotation before rendering): still head 0.005 deg/frame; yaw drift
0.1 / 0.2 / 0.3 / 0.5 deg/frame read 0.11 / 0.21 / 0.32 / 0.55; pitch drift 0.10 / 0.20 / 0.30 / 0.50; yaw
alternating 0 / rate every frame (a step of the full rate each frame, which a temporal filter would flatten) 0.10 /
0.21 / 0.33 / 0.55; yaw and pitch together alternating 0.09 / 0.20 / 0.31 / 0.52. Yaw reads up to 9% high and pitch
does not: the canonical model's depth calibrates the average face, not this one. With natural head motion
(head_motion 1, 250 frames) it read 0.80 and 0.76 where the MotionSequence's own change is 0.77 and 0.74 deg/frame
(JFK, acoustic_corpus). The four real talking heads in
shared/media/videos (125-200 frames each) read 0.25-1.04 deg/frame here, where the landmark fit read 0.71-1.58.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

# mediapipe face-mesh indices on skin that moves only with the skull, each well away from mouth, lids and brows.
FOREHEAD = (10, 151, 109, 338, 67, 297, 108, 337, 69, 299, 104, 333, 103, 332, 54, 284)
NOSE_BRIDGE = (168, 6, 197, 195)  # root to mid-dorsum: the tip and wings move with the upper lip
UNDER_EYE_CHEEKS = (116, 117, 118, 119, 100, 345, 346, 347, 348, 329)
TEMPLES = (127, 356, 162, 389, 21, 251, 139, 368, 143, 372)  # upper face outline, above the jaw's reach
RIGID_POINTS = FOREHEAD + NOSE_BRIDGE + UNDER_EYE_CHEEKS + TEMPLES
EYE_OUTER_CORNERS = (33, 263)

# Lucas-Kanade window, a fifth of the inter-ocular distance (~19 px at 320 px renders): enough skin texture to
# lock on, small enough to keep lids and brows out of the windows. Two pyramid levels (4x coarser) follow the
# largest real steps, a few pixels per frame. Tighter criteria than OpenCV's default (30 iterations, 0.01 px) give
# the sub-pixel precision that 0.1 degrees per frame needs: such a yaw moves the nose bridge ~0.1 px against the
# temples of a 320 px face.
LK_WINDOW_IOD = 0.2
LK_LEVELS = 2
LK_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-3)
FB_MAX_PX = 1.0  # forward-backward disagreement of a lost point; smaller ones are left to the robust fit
MIN_POINTS = 8  # of RIGID_POINTS, for the 6 unknowns with some redundancy
HUBER_K = 1.345  # the usual Huber constant: 95% efficiency on Gaussian errors
NOISE_FLOOR_PX = 0.02  # residual scale floor: below LK's precision a near-exact fit must not down-weight points
ROBUST_ITERATIONS = 5


def rotation_from_displacements(points: np.ndarray, displacements: np.ndarray,
                                weights: np.ndarray | None = None) -> np.ndarray:
    """(3,) yaw, pitch, roll change in degrees (vasa_core/types.py signs) of a rigid move of ``points``.

    points: (N, 3) camera frame (x right, y down, z away, pixels), centred on the face; displacements: (N, 2)
    pixels; weights: (N,) 0..1 per point. Robust least squares for d = (w x P)_xy + t + s * P_xy.
    """
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    n = len(points)
    a = np.zeros((2 * n, 6))  # unknowns: wx, wy, wz, tx, ty, s
    a[:n, 1], a[:n, 2], a[:n, 3], a[:n, 5] = z, -y, 1.0, x
    a[n:, 0], a[n:, 2], a[n:, 4], a[n:, 5] = -z, x, 1.0, y
    b = np.concatenate([displacements[:, 0], displacements[:, 1]])
    prior = np.ones(2 * n) if weights is None else np.concatenate([weights, weights]).astype(np.float64)
    w = prior
    for _ in range(ROBUST_ITERATIONS):
        solution = np.linalg.lstsq(a * w[:, None], b * w, rcond=None)[0]
        residual = np.abs(a @ solution - b)
        scale = max(float(np.median(residual[prior > 0])) / 0.6745, NOISE_FLOOR_PX)  # MAD -> sigma
        w = prior * np.minimum(1.0, HUBER_K * scale / np.maximum(residual, 1e-12))
    wx, wy, wz = solution[:3]
    # rotation_from_euler: yaw is a negative turn about y, pitch a negative turn about x, roll positive about z
    return np.degrees([-wy, -wx, wz])


def pose_steps(frames, landmarks: np.ndarray) -> np.ndarray:
    """(N-1, 3) yaw, pitch, roll change in degrees from each frame to the next; NaN where it cannot be measured.

    frames: N (H, W, 3) uint8 RGB images; landmarks: (N, 478, 3) from FaceAnalyzer.track (NaN where no face).
    """
    from vasa_core.analysis import face_geometry as fg

    idx = list(RIGID_POINTS)
    model = fg.canonical_face().vertices[idx].astype(np.float64) @ fg.FLIP_YZ
    model -= model.mean(axis=0)
    grey = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames]
    out = np.full((len(grey) - 1, 3), np.nan)
    for t in range(len(grey) - 1):
        lm = landmarks[t]
        if not np.all(np.isfinite(lm[idx])):
            continue
        # canonical model posed on this frame's landmarks: the points' depth in pixels
        dst = fg.to_camera_frame(lm[idx]).astype(np.float64)
        u, sig, vt = np.linalg.svd((dst - dst.mean(axis=0)).T @ model)
        fix = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
        scale = float((sig * np.diag(fix)).sum() / (model**2).sum())
        posed = scale * model @ (u @ fix @ vt).T

        iod = float(np.linalg.norm(lm[EYE_OUTER_CORNERS[0], :2] - lm[EYE_OUTER_CORNERS[1], :2]))
        side = int(round(LK_WINDOW_IOD * iod)) | 1
        lk = dict(winSize=(side, side), maxLevel=LK_LEVELS, criteria=LK_CRITERIA)
        p0 = lm[idx, :2].astype(np.float32).reshape(-1, 1, 2)
        p1, found, _ = cv2.calcOpticalFlowPyrLK(grey[t], grey[t + 1], p0, None, **lk)
        back, found_back, _ = cv2.calcOpticalFlowPyrLK(grey[t + 1], grey[t], p1, None, **lk)
        fb = np.linalg.norm((back - p0).reshape(-1, 2), axis=1)
        ok = (found.ravel() == 1) & (found_back.ravel() == 1) & (fb < FB_MAX_PX)
        if ok.sum() < MIN_POINTS:
            continue
        out[t] = rotation_from_displacements(posed, (p1 - p0).reshape(-1, 2).astype(np.float64), ok.astype(float))
    return out


def pose_change(frames, landmarks: np.ndarray) -> float:
    """Mean |(yaw, pitch, roll) change| between consecutive frames, degrees per frame (NaN if none measured)."""
    steps = np.linalg.norm(pose_steps(frames, landmarks), axis=1)
    steps = steps[np.isfinite(steps)]
    return float(steps.mean()) if len(steps) else math.nan


def validation_rotations(num_frames: int, rate: float) -> dict[str, np.ndarray]:
    """Known (num_frames, 3) yaw, pitch, roll offsets that change the pose by ``rate`` degrees every frame.

    A steady yaw drift, and yaw and pitch together alternating between 0 and rate / sqrt(2): the second
    reverses every frame, so an estimator that smoothed over time would read it low.
    """
    ramp = rate * np.arange(num_frames, dtype=np.float32)
    zigzag = np.where(np.arange(num_frames) % 2, rate / math.sqrt(2.0), 0.0).astype(np.float32)
    zero = np.zeros(num_frames, np.float32)
    return {
        f"yaw drift {rate:g} deg/frame": np.stack([ramp, zero, zero], axis=1),
        f"yaw+pitch zigzag {rate:g} deg/frame": np.stack([zigzag, zigzag, zero], axis=1),
    }


def add_head_rotation(motion, offsets: np.ndarray):
    """The MotionSequence with ``offsets`` (T', 3) degrees added to the head rotation of its first T' frames."""
    rotation = motion.head_rotation.copy()
    rotation[: len(offsets)] += offsets
    return dataclasses.replace(motion, head_rotation=rotation)
