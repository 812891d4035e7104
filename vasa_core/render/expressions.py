"""Expression shapes: one smooth displacement field per named coefficient, on the 478 face landmarks.

Two kinds of shapes:
- anatomical shapes (jaw, lips, brows, cheeks) are built on the canonical face model in centimetres, then
  rotated and scaled into each portrait with its head pose, so they keep real-world proportions;
- lid and lip-closing shapes are built from the portrait's own landmarks (a blink closes *this* eye's gap,
  however wide it is drawn, and mouth_close closes *this* mouth's gap).
The jaw is not a linear field: it is a rotation about the jaw hinge, applied in ExpressionRig.deform.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vasa_core.analysis import face_geometry as fg
from vasa_core.types import EXPRESSION_NAMES, PortraitAnalysis

# jaw_open, calibrated on real talking videos (python -m bench.calibrate_face: the four clips in
# shared/media/videos and two MEAD clips, tracked with our face analysis). The inner-lip gap reaches 0.10-0.13 face
# heights at the 95th percentile and 0.154 at most; jaw_open = 1 opens 0.135 (a wide speech vowel). Aligned on
# the upper face and regressed on the gap, each cm of opening moves the lower lip 0.71 down and 0.26 back (its
# outer edge 0.64), the chin 0.33 down and 0.25 back, the inner upper lip 0.26 up but its outer edge only 0.18 and
# the philtrum above it 0.04, and the mouth corners 0.2-0.26 outward, 0.17 back and not down. So the jaw bone
# turns only enough to drop the chin by its share, about JAW_HINGE_CM (the temporomandibular joint, in front of
# the ear), and the lips do the rest as a smooth field. The corners' outward drift is left to stretch and smile:
# it comes with the width of the vowels spoken while the mouth is open, which the motion sets separately.
# `calibrate_face` prints the renderer's shares beside the videos'. Lifting the philtrum with the lip (0.19, a
# 1.8 cm fall-off) and dropping the corners with half the bone (0.19) shortened the nose-to-lip distance and
# sagged the mouth: the gallery's jaw_open frames read 0.33 (p13) and 0.29 (p15) dlib, 0.29 and 0.25 calibrated.
JAW_HINGE_CM = np.array([0.0, -0.5, -4.5], np.float32)
JAW_MAX_DEG = 5.3  # drops the canonical chin by 0.33 of the 2.4 cm gap (0.135 x 17.66 cm face height)
JAW_LIP_DROP_CM = 0.85  # lower lip beyond the bone's share, to 0.74 of the gap
JAW_UPPER_LIFT_CM = 0.63  # 0.26 of the gap
JAW_UPPER_LIFT_SIGMA_CM = 0.67  # upward fall-off of that lift: 0.18 at the outer lip edge, 0.02 at the philtrum
CORNER_JAW = 0.1  # share of the jaw bone's turn the mouth corners follow: they drop 0.03 of the gap
# The skin over the sides of the jaw follows the bone less than the chin does (masseter and cheek): the videos'
# jaw line drops 0.30 of the gap beside the chin (148), 0.25, 0.13, 0.09 further out (176, 150, 136) and 0.06 at the
# jaw's corner (172), where a rigid turn about the hinge dropped it 0.14 (the lower face sagged at the sides:
# p13's jaw_open 0.31 dlib, 0.28 with this). So the bone's weight falls by up to JAW_SIDE_SLIP from JAW_SIDE_FROM_CM
# off the midline over JAW_SIDE_OVER_CM (renderer: 0.32, 0.28, 0.16, 0.10, 0.06).
JAW_SIDE_SLIP, JAW_SIDE_FROM_CM, JAW_SIDE_OVER_CM = 0.6, 1.0, 5.5
JAW_CORNER_BACK_CM, JAW_CORNER_RADIUS = 0.48, 1.2  # 0.2 of the gap
# How strongly mouth_close cancels jaw_open (bilabial closures must really close).
MOUTH_CLOSE_JAW_CANCEL = 1.0
# Lip vertices: between the outer lip lines, grown by this much (cm) so that vertices on the lines are included.
LIP_BAND_CM = 0.05
JAW_RING_FALLOFF = 0.12  # face heights: how far below the chin the jaw's pull fades (1/e)

# Anatomical shape amplitudes in canonical cm at weight 1; Gaussian fall-off radii in cm keep each field smooth.
# The same clips show the mouth width ranging 0.24 .. 0.36 face heights (5th .. 95th percentile, about +-20% of
# its median): a full smile widens the 4.9 cm canonical mouth by 0.9 cm (+18%), stretch by 1.0 cm, and pucker
# narrows it by 1.5 cm. Brows move ~5 mm when raised. The smile's fall-off stays near the corners (zygomaticus
# pulls the corners, cheek_raise lifts the cheeks): at 1.7 cm it dragged the lower face and chin along, and the
# dlib distance of the gallery's smile was 0.324 on p13 and 0.265 on p03 (0.297 and 0.244 at 1.3 cm, same corners).
SMILE_UP, SMILE_OUT, SMILE_BACK, SMILE_RADIUS = 0.55, 0.45, 0.3, 1.3
STRETCH_OUT, STRETCH_DOWN, STRETCH_RADIUS = 0.5, 0.12, 1.8
FUNNEL_IN, FUNNEL_FWD, FUNNEL_OPEN, FUNNEL_RADIUS = 0.2, 0.5, 0.3, 2.2
PUCKER_IN, PUCKER_FWD, PUCKER_RADIUS = 0.3, 0.6, 2.2
UPPER_LIP_UP, LOWER_LIP_DOWN, LIP_RADIUS = 0.3, 0.4, 1.8
LIP_TUCK_UP, LIP_TUCK_BACK = 0.25, 0.35
BROW_INNER_UP, BROW_DOWN, BROW_IN, BROW_OUTER_UP, BROW_RADIUS = 0.45, 0.3, 0.12, 0.4, 1.4
CHEEK_UP, CHEEK_RADIUS = 0.3, 1.8
CHEEK_CENTRES_CM = np.array([[-3.6, -1.6], [3.6, -1.6]], np.float32)
# Eyelids: where a closed lid meets (fraction of the gap from the lower lid), squint's fraction of the gap,
# and the skin above the lid that follows it: at most LID_SKIN_FOLLOW of the lid's travel, fading over
# LID_SKIN_SIGMA eye widths. In a blink the skin above the lid crease hardly moves; pulling it along at 0.6 over
# 0.35 eye widths lowered the brows' lower edge by 2 px and the lid crease by 4 px at 512 px (p12, p13), and the
# dlib distance of the blink frames fell from 0.42 to 0.27 (p12) and 0.34 to 0.29 (p13) with 0.3 and the lid
# margin's source shift of renderer.LID_MARGIN_SHIFT.
LID_MEET = 0.2
SQUINT_FRACTION = 0.3
LID_SKIN_SIGMA = 0.35
LID_SKIN_FOLLOW = 0.3

INNER_UPPER_MID = fg.INNER_UPPER_LIP[1:-1]
INNER_LOWER_MID = fg.INNER_LOWER_LIP[1:-1]


def _gauss(points: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    d2 = ((points - centre) ** 2).sum(-1)
    return np.exp(-0.5 * d2 / radius**2)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    t = np.clip(x, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def jaw_weights(canon: np.ndarray) -> np.ndarray:
    """(468,) 0..1: how much each canonical vertex follows the jaw (lower lip and chin 1, upper lip 0)."""
    xy = canon[:, :2]
    upper_x, upper_y = canon[list(fg.INNER_UPPER_LIP), 0], canon[list(fg.INNER_UPPER_LIP), 1]
    lower_y = canon[list(fg.INNER_LOWER_LIP), 1]
    mid_y = np.interp(xy[:, 0], upper_x, (upper_y + lower_y) / 2)
    corner_y = canon[list(fg.MOUTH_CORNERS), 1].mean()
    # below the mouth-corner line the skin follows the jaw, fading over 1.4 cm above and below it
    w = _smoothstep((corner_y + 0.4 - xy[:, 1]) / 1.4)
    lip_region = (np.abs(xy[:, 0]) <= np.abs(canon[list(fg.MOUTH_CORNERS), 0]).max() + 0.05) & (
        np.abs(xy[:, 1] - corner_y) < 1.6
    )
    w = np.where(lip_region & (xy[:, 1] < mid_y), np.maximum(w, 1.0), w)
    w = np.where(lip_region & (xy[:, 1] >= mid_y), np.minimum(w, 0.0), w)
    for c in fg.MOUTH_CORNERS + (fg.INNER_UPPER_LIP[0], fg.INNER_UPPER_LIP[-1]):
        w[c] = 0.5
    return w.astype(np.float32)


def lip_lens(canon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The open mouth's outline: (468,) 0..1 opening profile on the lip vertices (1 elsewhere), and (468,) bool
    which vertices are lips.

    A speaking mouth opens as a lens between its corners (height ~ sqrt(1 - (x / half width)^2)). Without this
    the lip vertices beside each corner dropped with the whole jaw while the corner dropped by half, and the
    opening became a box with vertical sides, lips thinned to nothing at the corners (seen on p12, p13, p15).
    """
    x, y = canon[:, 0], canon[:, 1]
    corners = canon[list(fg.MOUTH_CORNERS), :2]
    cx, half_w = corners[:, 0].mean(), np.abs(corners[1, 0] - corners[0, 0]) / 2
    top = np.interp(x, *_by_x(canon, fg.OUTER_UPPER_LIP))
    bottom = np.interp(x, *_by_x(canon, fg.OUTER_LOWER_LIP))
    is_lip = (np.abs(x - cx) <= half_w) & (y <= top + LIP_BAND_CM) & (y >= bottom - LIP_BAND_CM)
    lens = np.sqrt(np.clip(1.0 - ((x - cx) / half_w) ** 2, 0.0, 1.0))
    return np.where(is_lip, lens, 1.0).astype(np.float32), is_lip


def _by_x(canon: np.ndarray, line: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(canon[list(line), 0])
    return canon[list(line), 0][order], canon[list(line), 1][order]


def jaw_bone_weights(canon: np.ndarray) -> np.ndarray:
    """jaw_weights with the skin at the jaw's sides slipping over the bone (JAW_SIDE_SLIP), and the lips following
    the bone along the lens: from CORNER_JAW at the corners (where upper and lower lip meet) to all (lower lip) or
    none (upper lip) at the centre."""
    w = jaw_weights(canon)
    lens, is_lip = lip_lens(canon)
    lower = w > 0.5
    w = w * (1.0 - JAW_SIDE_SLIP * _smoothstep((np.abs(canon[:, 0]) - JAW_SIDE_FROM_CM) / JAW_SIDE_OVER_CM))
    w = np.where(is_lip & lower, CORNER_JAW + (1.0 - CORNER_JAW) * lens, w)
    w = np.where(is_lip & ~lower & (w <= 0.5), CORNER_JAW * (1.0 - lens), w)
    return w.astype(np.float32)


def canonical_fields(canon: np.ndarray) -> dict[str, np.ndarray]:
    """Anatomical shapes: name -> (468, 3) float32 displacement in canonical cm (y up, z toward the viewer)."""
    xy = canon[:, :2]
    jw = jaw_weights(canon)
    upper = 1.0 - jw
    fields: dict[str, np.ndarray] = {}
    mouth_c = canon[list(fg.MOUTH_CORNERS), :2].mean(0)
    for name, corner, side in (("smile_r", 61, -1.0), ("smile_l", 291, 1.0)):
        g = _gauss(xy, canon[corner, :2], SMILE_RADIUS)[:, None]
        fields[name] = g * np.array([side * SMILE_OUT, SMILE_UP, -SMILE_BACK], np.float32)
    stretch = np.zeros_like(canon)
    for corner, side in ((61, -1.0), (291, 1.0)):
        g = _gauss(xy, canon[corner, :2], STRETCH_RADIUS)[:, None]
        stretch += g * np.array([side * STRETCH_OUT, -STRETCH_DOWN, 0.0], np.float32)
    fields["stretch"] = stretch
    g = _gauss(xy, mouth_c, FUNNEL_RADIUS)[:, None]
    rel_x = (canon[:, 0] - mouth_c[0])[:, None]
    open_dir = np.where(jw[:, None] > 0.5, -1.0, 1.0) * np.abs(jw[:, None] - 0.5) * 2
    fields["funnel"] = g * np.column_stack(
        [-FUNNEL_IN * rel_x[:, 0], FUNNEL_OPEN * open_dir[:, 0], np.full(len(canon), FUNNEL_FWD)]
    )
    gp = _gauss(xy, mouth_c, PUCKER_RADIUS)[:, None]
    fields["pucker"] = gp * np.column_stack([-PUCKER_IN * rel_x[:, 0], np.zeros(len(canon)),
                                             np.full(len(canon), PUCKER_FWD)])
    upper_c = canon[fg.UPPER_LIP_CENTER, :2]
    lower_c = canon[fg.LOWER_LIP_CENTER, :2]
    gu = (_gauss(xy, upper_c, LIP_RADIUS) * _smoothstep(upper * 2 - 0.5))[:, None]
    fields["upper_lip_up"] = gu * np.array([0.0, UPPER_LIP_UP, 0.0], np.float32)
    gl = (_gauss(xy, lower_c, LIP_RADIUS) * _smoothstep(jw * 2 - 0.5))[:, None]
    fields["lower_lip_down"] = gl * np.array([0.0, -LOWER_LIP_DOWN, 0.0], np.float32)
    gt = (_gauss(xy, lower_c, LIP_RADIUS * 0.6) * _smoothstep(jw * 2 - 0.5))[:, None]
    fields["lower_lip_tuck"] = gt * np.array([0.0, LIP_TUCK_UP, -LIP_TUCK_BACK], np.float32)
    lens = lip_lens(canon)[0][:, None]
    # the upper lip lifts, its skin above hardly: across, the lip fields' fall-off; upward, a short one
    above = np.maximum(xy[:, 1] - upper_c[1], 0.0)
    lift = (_gauss(xy[:, :1], upper_c[:1], LIP_RADIUS) * _gauss(above[:, None], 0.0, JAW_UPPER_LIFT_SIGMA_CM)
            * _smoothstep(upper * 2 - 0.5))[:, None]
    jaw_lips = lens * (gl * np.array([0.0, -JAW_LIP_DROP_CM, 0.0]) + lift * np.array([0.0, JAW_UPPER_LIFT_CM, 0.0]))
    for corner in fg.MOUTH_CORNERS:
        gc = _gauss(xy, canon[corner, :2], JAW_CORNER_RADIUS)[:, None]
        jaw_lips = jaw_lips + gc * np.array([0.0, 0.0, -JAW_CORNER_BACK_CM])
    fields["jaw_open"] = jaw_lips

    inner_up = np.zeros_like(canon)
    outer_up = np.zeros_like(canon)
    brow_down = {0: np.zeros_like(canon), 1: np.zeros_like(canon)}
    for eye in (0, 1):
        brow = list(fg.BROW_UPPER[eye]) + list(fg.BROW_LOWER[eye])
        centre = canon[brow, :2].mean(0)
        side = np.sign(centre[0])
        inner = canon[[fg.BROW_UPPER[eye][-1], fg.BROW_LOWER[eye][-1]], :2].mean(0)
        outer = canon[[fg.BROW_UPPER[eye][0], fg.BROW_LOWER[eye][0]], :2].mean(0)
        above_eye = _smoothstep((xy[:, 1] - canon[fg.EYE_LID_MID[eye][0], 1] - 0.2) / 0.6)
        inner_up += (_gauss(xy, inner, BROW_RADIUS) * above_eye)[:, None] * np.array([0, BROW_INNER_UP, 0])
        outer_up += (_gauss(xy, outer, BROW_RADIUS) * above_eye)[:, None] * np.array([0, BROW_OUTER_UP, 0])
        gd = (_gauss(xy, centre, BROW_RADIUS * 1.3) * above_eye)[:, None]
        brow_down[eye] = gd * np.array([-side * BROW_IN, -BROW_DOWN, 0.0])
    fields["brow_inner_up"] = inner_up
    fields["brow_outer_up"] = outer_up
    fields["brow_down_l"] = brow_down[0]
    fields["brow_down_r"] = brow_down[1]
    cheek = np.zeros_like(canon)
    for c in CHEEK_CENTRES_CM:
        cheek += _gauss(xy, c, CHEEK_RADIUS)[:, None] * np.array([0.0, CHEEK_UP, 0.0])
    fields["cheek_raise"] = cheek
    return {k: np.asarray(v, np.float32) for k, v in fields.items()}


def lid_fields(landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """Portrait-relative lid shapes in image pixels (478, 2): blink_l, blink_r, squint."""
    n = len(landmarks)
    pts = landmarks[:, :2]
    out = {"blink_l": np.zeros((n, 2), np.float32), "blink_r": np.zeros((n, 2), np.float32),
           "squint": np.zeros((n, 2), np.float32)}
    for eye, name in ((0, "blink_l"), (1, "blink_r")):
        up, lo = list(fg.EYE_UPPER[eye][1:-1]), list(fg.EYE_LOWER[eye][1:-1])
        gap = pts[lo] - pts[up]
        width = np.linalg.norm(pts[fg.EYE_CORNERS[eye][0]] - pts[fg.EYE_CORNERS[eye][1]])
        disp = np.zeros((n, 2), np.float32)
        disp[up] = (1 - LID_MEET) * gap
        disp[lo] = -LID_MEET * gap
        # skin between the lid and the brow follows the upper lid, fading with distance (no fold at the lid)
        lid_set = set(up) | set(lo) | set(fg.EYE_CORNERS[eye])
        others = np.array([i for i in range(fg.NUM_MESH_POINTS) if i not in lid_set])
        d = np.linalg.norm(pts[others, None] - pts[up][None], axis=2)
        nearest = np.argmin(d, axis=1)
        above = pts[others, 1] < pts[np.array(up)[nearest], 1]
        fall = np.exp(-0.5 * (d[np.arange(len(others)), nearest] / (LID_SKIN_SIGMA * width)) ** 2) * above
        disp[others] = fall[:, None] * disp[np.array(up)[nearest]] * LID_SKIN_FOLLOW
        out[name] = disp
        out["squint"][lo] += -SQUINT_FRACTION * 0.6 * gap
        out["squint"][up] += SQUINT_FRACTION * 0.4 * gap
    return out


def mouth_close_field(landmarks: np.ndarray, jaw_w: np.ndarray) -> np.ndarray:
    """(478, 3) camera-frame pixels: brings the portrait's own inner lips together (40% upper, 60% lower lip
    travel), in depth too: lips apart over teeth sit at different depths, and would part again when the head turns."""
    pts = fg.to_camera_frame(landmarks)
    up, lo = list(INNER_UPPER_MID), list(INNER_LOWER_MID)
    gap = pts[lo] - pts[up]
    mean_gap = gap.mean(0)
    mouth_w = np.linalg.norm(pts[fg.MOUTH_CORNERS[0], :2] - pts[fg.MOUTH_CORNERS[1], :2])
    centre = pts[[fg.UPPER_LIP_CENTER, fg.LOWER_LIP_CENTER], :2].mean(0)
    g = np.exp(-0.5 * (np.linalg.norm(pts[:, :2] - centre, axis=1) / (0.45 * mouth_w)) ** 2)
    disp = np.zeros((len(pts), 3), np.float32)
    w = np.concatenate([jaw_w, np.zeros(len(pts) - len(jaw_w), np.float32)])
    disp += (g * (1 - w))[:, None] * (0.4 * mean_gap)
    disp -= (g * w)[:, None] * (0.6 * mean_gap)
    disp[up] = 0.4 * gap
    disp[lo] = -0.6 * gap
    return disp


@dataclass(frozen=True)
class ExpressionRig:
    """Per-portrait expression model: linear fields in camera pixels plus the jaw rotation."""

    basis: np.ndarray  # (K, 478, 3) float32 camera-frame pixels per unit weight, K = len(EXPRESSION_NAMES)
    jaw_weight: np.ndarray  # (V,) float32 for every mesh vertex (rings under the chin follow the jaw partly)
    jaw_hinge: np.ndarray  # (3,) float32 camera-frame pixels
    jaw_axis: np.ndarray  # (3,) float32 unit vector, camera frame; positive rotation opens the mouth

    @classmethod
    def for_portrait(cls, analysis: PortraitAnalysis) -> ExpressionRig:
        canon = fg.canonical_face().vertices
        pose = fg.HeadPose(analysis.head_rotation, analysis.head_scale, np.zeros(3, np.float32), 0.0)
        to_cam = pose.scale * fg.FLIP_YZ @ pose.rotation.T  # canonical displacement -> camera pixels (row vectors)
        k = len(EXPRESSION_NAMES)
        basis = np.zeros((k, fg.NUM_LANDMARKS, 3), np.float32)
        for name, field in canonical_fields(canon).items():
            basis[EXPRESSION_NAMES.index(name), : fg.NUM_MESH_POINTS] = field @ to_cam
        for name, field in lid_fields(analysis.landmarks).items():
            basis[EXPRESSION_NAMES.index(name), :, :2] = field
        jw = jaw_weights(canon)
        basis[EXPRESSION_NAMES.index("mouth_close")] = mouth_close_field(analysis.landmarks, jw)
        full_jw = _mesh_jaw_weights(analysis, jaw_bone_weights(canon))
        hinge_cam = fg.fit_head_pose(analysis.landmarks).to_camera(JAW_HINGE_CM[None])[0]
        # canonical +x axis; in the camera frame a positive turn about it moves the chin down (+y) and back (+z)
        axis = pose.rotation @ (fg.FLIP_YZ @ np.array([1.0, 0.0, 0.0], np.float32))
        return cls(basis=basis, jaw_weight=full_jw, jaw_hinge=hinge_cam.astype(np.float32),
                   jaw_axis=(axis / np.linalg.norm(axis)).astype(np.float32))

    def deform(self, points_cam: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Camera-frame mesh vertices (the first V >= 478 rows) with the expression ``weights`` (K,) applied."""
        weights = self._effective(weights)
        out = points_cam.copy()
        for k in np.nonzero(weights)[0]:
            out[: fg.NUM_LANDMARKS] += weights[k] * self.basis[k]
        return self._turn_jaw(out, weights[EXPRESSION_NAMES.index("jaw_open")])

    def jaw_bone(self, points_cam: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """What the lower teeth follow: the jaw bone's rotation and the lower lip that jaw_open carries with it (in
        speech the lower lip rests on the lower incisors), but none of the other lip shapes (lower_lip_down bares
        the teeth)."""
        jaw = EXPRESSION_NAMES.index("jaw_open")
        only_jaw = np.zeros_like(weights)
        only_jaw[jaw] = self._effective(weights)[jaw]
        return self.deform(points_cam, only_jaw)

    @staticmethod
    def _effective(weights: np.ndarray) -> np.ndarray:
        """mouth_close presses the lips together against jaw_open (bilabials must really close)."""
        jaw, close = EXPRESSION_NAMES.index("jaw_open"), EXPRESSION_NAMES.index("mouth_close")
        if weights[jaw] <= 0 or weights[close] <= 0:
            return weights
        out = weights.copy()
        out[jaw] = weights[jaw] * max(0.0, 1.0 - MOUTH_CLOSE_JAW_CANCEL * weights[close])
        return out

    def _turn_jaw(self, points_cam: np.ndarray, jaw: float) -> np.ndarray:
        if jaw <= 0:
            return points_cam
        rot = _axis_rotation(self.jaw_axis, np.radians(JAW_MAX_DEG) * float(jaw))
        rotated = (points_cam - self.jaw_hinge) @ rot.T + self.jaw_hinge
        return points_cam + self.jaw_weight[: len(points_cam), None] * (rotated - points_cam)


def _mesh_jaw_weights(analysis: PortraitAnalysis, jw: np.ndarray) -> np.ndarray:
    """Jaw weights for all mesh vertices: ring vertices take their nearest face-oval vertex's weight, fading
    with distance (soft tissue under the chin stretches with the jaw; without it the chin folds over the neck)."""
    verts = analysis.mesh.vertices[:, :2]
    out = np.zeros(len(verts), np.float32)
    out[: fg.NUM_MESH_POINTS] = jw
    oval = np.asarray(fg.FACE_OVAL)
    face_h = float(np.linalg.norm(analysis.landmarks[fg.CHIN, :2] - analysis.landmarks[fg.FOREHEAD, :2]))
    rings = verts[fg.NUM_LANDMARKS:]
    d = np.linalg.norm(rings[:, None] - verts[oval][None], axis=2)
    nearest = np.argmin(d, axis=1)
    fall = np.exp(-d[np.arange(len(rings)), nearest] / (JAW_RING_FALLOFF * face_h))
    out[fg.NUM_LANDMARKS:] = jw[oval[nearest]] * fall
    return out


def _axis_rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    x, y, z = axis
    c, s = np.cos(angle), np.sin(angle)
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]], np.float64)
    return (np.eye(3) + s * k + (1 - c) * k @ k).astype(np.float32)
