"""Face-mesh topology and the canonical face model: landmark groups, head-pose fitting, Euler angles.

Frames used here (see vasa_core/types.py for the image conventions):
- canonical: mediapipe's canonical face model, centimetres, x toward the image's right when the face is frontal,
  y up, z toward the viewer (assets/face_model/canonical_face_model.obj).
- camera: pixels, x right, y down, z away from the viewer (right-handed). A PortraitAnalysis stores z toward the
  camera, so camera z = -landmark z. The canonical model reaches this frame by a 180-degree turn about x
  (FLIP_YZ), then ``head_rotation``, ``head_scale`` and a translation.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

ASSETS = Path(__file__).resolve().parents[2] / "assets"
CANONICAL_OBJ = ASSETS / "face_model" / "canonical_face_model.obj"

NUM_MESH_POINTS = 468  # face-mesh vertices; 468..477 are the refined iris points
NUM_LANDMARKS = 478
FLIP_YZ = np.diag([1.0, -1.0, -1.0]).astype(np.float32)

# Ordered loops and groups of mediapipe face-mesh indices (from mediapipe's face_mesh_connections, 0.10.21).
FACE_OVAL = (10, 109, 67, 103, 54, 21, 162, 127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400,
             378, 379, 365, 397, 288, 361, 323, 454, 356, 389, 251, 284, 332, 297, 338)
INNER_UPPER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)  # image left -> right
INNER_LOWER_LIP = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
OUTER_UPPER_LIP = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
OUTER_LOWER_LIP = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
INNER_LIP_LOOP = INNER_UPPER_LIP + tuple(reversed(INNER_LOWER_LIP[1:-1]))
# Eyes: index 0 = subject's left (image right), 1 = subject's right (image left), as PortraitAnalysis.eye_openness.
EYE_UPPER = ((263, 466, 388, 387, 386, 385, 384, 398, 362), (33, 246, 161, 160, 159, 158, 157, 173, 133))
EYE_LOWER = ((263, 249, 390, 373, 374, 380, 381, 382, 362), (33, 7, 163, 144, 145, 153, 154, 155, 133))
EYE_CORNERS = ((263, 362), (33, 133))  # outer, inner
# The face-mesh rings above each upper-lid margin vertex (EYE_UPPER[eye][1:-1]): a fold ~2.5 mm up, and the
# crease ~7.5 mm up (canonical model).
UPPER_LID_FOLD = ((467, 260, 259, 257, 258, 286, 414), (247, 30, 29, 27, 28, 56, 190))
UPPER_LID_CREASE = ((445, 444, 444, 443, 442, 442, 413), (225, 224, 224, 223, 222, 222, 189))
EYE_LID_MID = ((386, 374), (159, 145))  # upper, lower lid centre
IRIS_CENTER = (473, 468)
IRIS_RING = ((474, 475, 476, 477), (469, 470, 471, 472))
BROW_UPPER = ((300, 293, 334, 296, 336), (70, 63, 105, 66, 107))  # outer -> inner
BROW_LOWER = ((276, 283, 282, 295, 285), (46, 53, 52, 65, 55))
MOUTH_CORNERS = (61, 291)  # outer corners, image left, image right
CHIN, FOREHEAD, NOSE_TIP = 152, 10, 1
UPPER_LIP_CENTER, LOWER_LIP_CENTER = 13, 14  # inner-lip midpoints

# Canonical-model points (cm) that anchor rigid parts of the head, chosen on a real head's proportions: the
# canonical face spans chin y=-9.4 .. hairline y=+8.3 and nose tip z=+7.6 .. cheek sides z=-2.4, so a head about
# 20 cm deep has its centre near z=-2.5 and the top of the neck (atlas) below and behind it.
HEAD_CENTER_CM = np.array([0.0, 1.0, -2.5], np.float32)
HEAD_PIVOT_CM = np.array([0.0, -5.0, -4.5], np.float32)
EYEBALL_RADIUS_CM = 1.2  # adult eyeball ~24 mm across


@dataclass(frozen=True)
class CanonicalFace:
    vertices: np.ndarray  # (468, 3) float32 cm, canonical frame
    triangles: np.ndarray  # (898, 3) int32


@lru_cache(maxsize=1)
def canonical_face() -> CanonicalFace:
    verts, faces = [], []
    for line in CANONICAL_OBJ.read_text().splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "v":
            verts.append([float(x) for x in parts[1:4]])
        elif parts[0] == "f":
            faces.append([int(p.split("/")[0]) - 1 for p in parts[1:4]])
    return CanonicalFace(np.asarray(verts, np.float32), np.asarray(faces, np.int32))


def hole_triangle_mask(triangles: np.ndarray) -> np.ndarray:
    """(T,) bool: triangles whose three corners all lie on one inner-lip or eye-opening loop (they close holes)."""
    loops = [set(INNER_LIP_LOOP)] + [set(EYE_UPPER[i]) | set(EYE_LOWER[i]) for i in (0, 1)]
    out = np.zeros(len(triangles), bool)
    for loop in loops:
        out |= np.all(np.isin(triangles, list(loop)), axis=1)
    return out


@dataclass(frozen=True)
class HeadPose:
    rotation: np.ndarray  # (3, 3) float32: flipped canonical -> camera frame
    scale: float  # pixels per canonical centimetre
    translation: np.ndarray  # (3,) float32 camera-frame pixels
    residual: float  # RMS fit error in pixels

    def to_camera(self, canonical_cm: np.ndarray) -> np.ndarray:
        """Canonical points (N, 3) cm -> camera-frame points (N, 3) pixels (z away from the viewer)."""
        return (self.scale * (canonical_cm @ FLIP_YZ) @ self.rotation.T + self.translation).astype(np.float32)


def fit_head_pose(landmarks: np.ndarray) -> HeadPose:
    """Similarity (Umeyama) fit of the canonical model to 478 landmarks (pixels, z toward the camera)."""
    src = canonical_face().vertices.astype(np.float64) @ FLIP_YZ
    dst = to_camera_frame(landmarks[:NUM_MESH_POINTS]).astype(np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.diag([1.0, 1.0, d])
    rot = u @ fix @ vt
    scale = float((sig * np.diag(fix)).sum() / (a**2).sum())
    trans = mu_d - scale * rot @ mu_s
    fitted = scale * a @ rot.T + mu_d
    residual = float(np.sqrt(((fitted - dst) ** 2).sum(1).mean()))
    return HeadPose(rot.astype(np.float32), scale, trans.astype(np.float32), residual)


def to_camera_frame(points: np.ndarray) -> np.ndarray:
    """PortraitAnalysis points (x, y, z toward camera) -> camera frame (x, y, z away)."""
    out = np.array(points, np.float32, copy=True)
    out[..., 2] *= -1.0
    return out


def from_camera_frame(points: np.ndarray) -> np.ndarray:
    return to_camera_frame(points)


def rotation_from_euler(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Camera-frame rotation for (yaw, pitch, roll) degrees in the sign conventions of vasa_core/types.py.

    In the camera frame (x right, y down, z away) the face looks along -z; a positive yaw turns it toward +x,
    which is a negative rotation about y; a positive pitch turns it toward -y (up), a negative rotation about x;
    a positive roll is clockwise on screen, a positive rotation about z.
    """
    ty, tx, tz = np.radians([-yaw, -pitch, roll])
    ry = np.array([[np.cos(ty), 0, np.sin(ty)], [0, 1, 0], [-np.sin(ty), 0, np.cos(ty)]])
    rx = np.array([[1, 0, 0], [0, np.cos(tx), -np.sin(tx)], [0, np.sin(tx), np.cos(tx)]])
    rz = np.array([[np.cos(tz), -np.sin(tz), 0], [np.sin(tz), np.cos(tz), 0], [0, 0, 1]])
    return (rz @ rx @ ry).astype(np.float32)


def euler_from_rotation(rot: np.ndarray) -> np.ndarray:
    """Inverse of rotation_from_euler: (3,) float32 yaw, pitch, roll degrees."""
    r = np.asarray(rot, np.float64)
    # rot = Rz(c) Rx(b) Ry(a): r[2,1] = sin(b), r[2,0] = -cos(b) sin(a), r[0,1] = -sin(c) cos(b)
    b = np.arcsin(np.clip(r[2, 1], -1.0, 1.0))
    a = np.arctan2(-r[2, 0], r[2, 2])
    c = np.arctan2(-r[0, 1], r[1, 1])
    return np.array([-np.degrees(a), -np.degrees(b), np.degrees(c)], np.float32)
