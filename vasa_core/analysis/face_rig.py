"""The deformable mesh over the portrait: the canonical face triangles plus rings of vertices around the face.

Rings are the face oval scaled about its centre, out to a ring that encloses the whole image, so the mesh
covers every pixel with a fixed, complete topology (no Delaunay surprises) and the outermost ring stays still.
Each vertex carries a head weight: 1 follows the head rigidly (face, hair, ears), 0 stays still (torso, border).
"""

from __future__ import annotations

import numpy as np

from vasa_core.analysis.face_geometry import FACE_OVAL, NUM_MESH_POINTS, canonical_face, hole_triangle_mask
from vasa_core.types import PortraitMesh

# Ring scales about the face-oval centre. The first rings are close so that hair and ears just outside the face
# get their own vertices; beyond 2x the face they only carry the smooth fall-off to the still border.
INNER_RING_SCALES = (1.1, 1.25, 1.45, 1.75, 2.2, 2.9, 4.0)
RING_GROWTH = 1.5  # scale ratio between successive outer rings until the image is enclosed
OUTER_RING_MARGIN = 1.5  # the pinned last ring, this much beyond the one cut to the border
# Head-weight fall-off, in face heights below the chin (neck follows partly) and face widths from the head centre
# (hair and background beside the head follow, far background and shoulders do not).
NECK_START_FH, NECK_END_FH = 0.1, 0.55
RADIAL_START_FW, RADIAL_END_FW = 1.3, 2.3


def _smoothstep(x: np.ndarray) -> np.ndarray:
    t = np.clip(x, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def head_weight_at(points: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(N,) float32 head weight of arbitrary pixel positions (N, 2), from the face's own proportions."""
    chin_y = float(landmarks[152, 1])
    face_h = float(np.linalg.norm(landmarks[152, :2] - landmarks[10, :2]))
    oval = landmarks[list(FACE_OVAL), :2]
    face_w = float(oval[:, 0].max() - oval[:, 0].min())
    centre = oval.mean(0)
    below = (points[:, 1] - (chin_y + NECK_START_FH * face_h)) / ((NECK_END_FH - NECK_START_FH) * face_h)
    vertical = 1.0 - _smoothstep(below)
    r = np.linalg.norm(points[:, :2] - centre, axis=1) / face_w
    radial = 1.0 - _smoothstep((r - RADIAL_START_FW) / (RADIAL_END_FW - RADIAL_START_FW))
    return (vertical * radial).astype(np.float32)


def build_mesh(landmarks: np.ndarray, width: int, height: int, ring_depth: float) -> PortraitMesh:
    """PortraitMesh for 478 landmarks (pixels, z toward the camera) in a width x height image.

    ring_depth: z (pixels, toward the camera) given to ring vertices: the depth of the head's centre, so that
    hair and ears move less than the face front when the head turns (parallax).
    """
    oval_idx = np.asarray(FACE_OVAL, np.int32)
    oval = landmarks[oval_idx, :2].astype(np.float64)
    centre = oval.mean(0)
    radii = np.linalg.norm(oval - centre, axis=1)
    corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], np.float64)
    # The outermost ring must enclose the image in every direction: its smallest radius beats the farthest corner.
    needed = np.linalg.norm(corners - centre, axis=1).max() / max(radii.min(), 1.0) * 1.05
    scales = [s for s in INNER_RING_SCALES if s < needed]
    while scales[-1] < needed:
        scales.append(min(scales[-1] * RING_GROWTH, needed))
    # Rings are cut back to the image border along their rays, so the ring at `needed` lies on the border all
    # round: weights given there hold exactly at the border (a triangle spanning it interpolated them, and the
    # pinned border of a shrinking picture moved by up to 0.13 of its side). A last ring further out, uncut,
    # covers the image's corners and is pinned.
    scales.append(needed * OUTER_RING_MARGIN)
    border = np.maximum(_border_scale(oval - centre, centre, width, height), 1.0)  # never inside the face
    n = len(oval_idx)
    verts = [landmarks.astype(np.float32)]
    for k, s in enumerate(scales):
        # the same border point for every ring cut there (coincident vertices, not slivers of rounding error)
        ring = centre + (oval - centre) * (np.minimum(s, border)[:, None] if k < len(scales) - 1 else s)
        z_oval = landmarks[oval_idx, 2]
        t = min(1.0, (s - 1.0) / (INNER_RING_SCALES[1] - 1.0))  # blend from the oval's depth to the head centre's
        z = (1 - t) * z_oval + t * ring_depth
        verts.append(np.column_stack([ring, z]).astype(np.float32))
    vertices = np.concatenate(verts, 0)

    tris = [canonical_face().triangles]
    ring_rows = [oval_idx] + [NUM_MESH_POINTS + 10 + k * n + np.arange(n) for k in range(len(scales))]
    for inner, outer in zip(ring_rows[:-1], ring_rows[1:]):
        for i in range(n):
            j = (i + 1) % n
            a, b, c, d = inner[i], inner[j], outer[j], outer[i]
            # split each quad along its shorter diagonal (fewer slivers)
            if np.linalg.norm(vertices[a, :2] - vertices[c, :2]) <= np.linalg.norm(vertices[b, :2] - vertices[d, :2]):
                tris += [[a, b, c], [a, c, d]]
            else:
                tris += [[a, b, d], [b, c, d]]
    triangles = np.vstack([np.asarray(t, np.int32).reshape(-1, 3) for t in tris])
    holes = np.zeros(len(triangles), bool)
    face_count = len(canonical_face().triangles)
    holes[:face_count] = hole_triangle_mask(triangles[:face_count])

    weight = head_weight_at(vertices, landmarks)
    weight[: NUM_MESH_POINTS + 10] = 1.0
    mesh = PortraitMesh(vertices=vertices, triangles=triangles, hole_triangles=holes, head_weight=weight)
    weight[pinned(mesh)] = 0.0
    return mesh


def _border_scale(rays: np.ndarray, centre: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N,) how far along each ray (centre + t * ray) the image border lies."""
    with np.errstate(divide="ignore", invalid="ignore"):
        tx = np.where(rays[:, 0] > 0, (width - centre[0]) / rays[:, 0],
                      np.where(rays[:, 0] < 0, -centre[0] / rays[:, 0], np.inf))
        ty = np.where(rays[:, 1] > 0, (height - centre[1]) / rays[:, 1],
                      np.where(rays[:, 1] < 0, -centre[1] / rays[:, 1], np.inf))
    return np.minimum(tx, ty)


def pinned(mesh: PortraitMesh) -> np.ndarray:
    """(V,) bool: the outermost ring, which encloses the image and never moves (head motion and scale alike), so
    that every output pixel stays covered by the mesh."""
    out = np.zeros(len(mesh.vertices), bool)
    out[-len(FACE_OVAL):] = True
    return out
