"""The layered 2.5D warping renderer (DESIGN.md, "core technique"): PortraitAnalysis + MotionSequence -> frames.

Per frame: expression fields and the jaw rotation move the face landmarks (camera frame); head rotation,
translation and scale move every mesh vertex by its head weight about the head pivot; the compiled rasteriser
turns the deformed mesh into a backward map; the person layer (premultiplied by its matte) is warped through it
over the clean plate; then the eyes (iris moved for gaze, clipped by the lids) and the mouth interior are drawn.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from vasa_core.analysis import face_geometry as fg
from vasa_core.analysis.face_rig import pinned
from vasa_core.errors import InputError
from vasa_core.render import raster
from vasa_core.render.expressions import INNER_LOWER_MID, INNER_UPPER_MID, ExpressionRig
from vasa_core.render.eyes import build_eye_texture, draw_eye, eye_polygon
from vasa_core.render.layers import AffineFit
from vasa_core.render.mouth import build_mouth_textures, draw_mouth
from vasa_core.types import EXPRESSION_NAMES, MotionSequence, PortraitAnalysis

log = logging.getLogger(__name__)

# Turning a 3/4 view toward its hidden side unfolds the foreshortened far cheek and stretches the background at its
# silhouette into it (DESIGN.md): portraits turned more than TURNED_YAW turn at most HIDDEN_SIDE_MAX_DEG that way.
# Turning away hides more of the face, which the depth test handles, up to MAX_TOTAL_YAW in all.
TURNED_YAW = 15.0
HIDDEN_SIDE_MAX_DEG = 8.0
MAX_TOTAL_YAW = 45.0
# Torso vertices follow the head's scale (distance) but not its rotation; their weight fades to 0 over this
# fraction of the image height above the bottom border, where the body continues out of the frame (a long fade:
# the mesh is sparse there, and a short one lets the torso's cut edge lift off the border).
BODY_BORDER_FRAC = 0.35
# The person layer is extended past the image border by FG_PAD_FRAC of the longer side (_fade_pad). Its matte fades
# to zero over FG_FADE_FRAC at the top and sides: a head moved or shrunk away from the frame edge ends softly. At
# the bottom it does not fade: a torso cut by the frame stays on the border, but under a chin close to the bottom
# (p01, p11) the neck follows the head, and at distance 0.5 the bottom rows sample up to 0.11 of the side below the
# frame (0.045 at 0.8), where the layer continues mirrored.
FG_PAD_FRAC, FG_FADE_FRAC = 0.16, 0.04
# A one-layer picture (no person silhouette, PortraitAnalysis.one_layer) moves only inside its border, the motion
# fading out over this fraction of its shorter side.
ONE_LAYER_EDGE_FRAC = 0.15
# Inside the moved face, grown by SHARP_MARGIN of its size, the layer is sampled bicubic: bilinear resampling at
# fractional offsets left the face of a talking clip with 0.58 of the portrait's Laplacian variance (p01; p13
# 0.48), bicubic 0.85 (0.75). Elsewhere bilinear keeps the cost down: bicubic everywhere took the renderer from
# 217 to 147 fps on p01 at 512 px, the face alone to 175.
SHARP_MARGIN = 0.1
# Landmarks around the upper and lower lips: the teeth behind them move with the skull and with the jaw.
SKULL_ANCHORS = fg.INNER_UPPER_LIP[1:-1] + fg.OUTER_UPPER_LIP + (2, 164, 98, 327)
JAW_ANCHORS = fg.INNER_LOWER_LIP[1:-1] + fg.OUTER_LOWER_LIP[1:-1]
# The face mesh's two vertex rings inside each lip, between its inner margin and its outer edge, column by column
# as expressions.INNER_UPPER_MID / INNER_LOWER_MID (mediapipe face-mesh indices, inner ring first).
UPPER_LIP_RINGS = ((183, 42, 41, 38, 12, 268, 271, 272, 407), (184, 74, 73, 72, 11, 302, 303, 304, 408))
LOWER_LIP_RINGS = ((96, 89, 179, 86, 15, 316, 403, 319, 325), (77, 90, 180, 85, 16, 315, 404, 320, 307))
# A closing upper lid stretches the skin above its margin down over the eye. At full closure the margin samples
# the portrait this fraction of the way up to the lid crease, and the fold ring between them moves its sample
# further up, so the stretch shows lid skin instead of smearing iris and sclera. DESIGN.md's ~35% smeared the thick
# painted lashes of p12 and p13 over the whole closed lid (streaks, dlib distance 0.42 on p12); at 15% the lashes
# stay a line at the closed lid's edge, as on a real closed eye.
LID_MARGIN_SHIFT = 0.15
LID_FOLD_SHIFT = 0.3
# Pressed lips meet with their red: the face mesh puts the inner-lip margins on the lip's edge against the teeth,
# so as mouth_close rises each lip's source is compressed toward its outer edge, the margin moving this share of
# the rest gap into the lip (never past this share of the lip's thickness) at mouth_close = 1: the seam shows
# lip, not the teeth's edge, and the lip's texture keeps its proportions.
LIP_MARGIN_GAP_SHARE, LIP_MARGIN_MAX_THICKNESS = 0.1, 0.3
# The sides of the face (vertices beyond SILHOUETTE_SIDE of the face oval's half width at their height, from the
# nose tip) whose pixels are darker than SILHOUETTE_DARK of the cheek beside them take their texture from the first
# cheek-bright pixel within SILHOUETTE_REACH_FW face widths inward, fully once the head has turned
# SILHOUETTE_FULL_DEG toward that side. On p01 turned 15 degrees the strip at her left silhouette unfolds from
# 9 to 20 px at 512 px and the crease it holds 2-6 px inside the face oval became the smudge; eye corners lie
# within 0.6 of the half width; reaching 0.06 face widths replaced the hair lock before her right ear by 15 px of
# smeared cheek.
SILHOUETTE_SIDE, SILHOUETTE_REACH_FW, SILHOUETTE_DARK, SILHOUETTE_FULL_DEG = 0.8, 0.025, 0.85, 10.0
# A portrait without visible teeth keeps its own mouth at rest: the synthesized interior fades in as the lips part
# beyond their gap in the portrait, fully by this fraction of the face height.
MOUTH_FADE_FH = 0.015

# Frames are rendered by this many threads: the compiled kernels and OpenCV release the GIL, so on the 2-core
# machines two frames overlap. bench.gallery's talking clip at 512 px, load ~1, interleaved runs: p01 120-126 fps
# (one thread: 91-110), p13 129-148 (93-129); the CPU time per frame rises 10-20% (GIL hand-offs), so where
# other work competes for the cores (the lead's test runs, a pipeline encoding in parallel) set this to 1.
RENDER_THREADS = 2

_MOUTH_ROWS = list(fg.INNER_LIP_LOOP + SKULL_ANCHORS + JAW_ANCHORS)
_EYE_ROWS = [list(fg.EYE_UPPER[e] + fg.EYE_LOWER[e]) for e in (0, 1)]


class Renderer:
    """Precomputes everything per portrait; ``render`` turns any chunk of motion into frames."""

    def __init__(self, analysis: PortraitAnalysis, device: str = "cpu") -> None:
        if device not in ("cpu", "cuda"):
            raise InputError(f"device={device!r} is not accepted: use 'cpu' or 'cuda'.")
        self.device = _resolve_device(device)
        a = analysis
        self.analysis = a
        h, w = a.height, a.width
        self._rest_cam = fg.to_camera_frame(a.mesh.vertices)
        self._src = np.ascontiguousarray(a.mesh.vertices[:, :2], np.float32)
        self._triangles = np.ascontiguousarray(a.mesh.triangles, np.int32)
        self._skip = raster.folded_in_source(a.mesh.vertices, self._triangles, fg.NUM_MESH_POINTS)
        self._head_w = a.mesh.head_weight.astype(np.float32)
        if a.one_layer:  # the picture's edges stay put: nothing is known of what moving them would reveal
            rings = slice(fg.NUM_LANDMARKS, None)
            self._head_w[rings] *= _inside_weight(a.mesh.vertices[rings, :2], w, h)
        self._pivot = fg.to_camera_frame(a.head_pivot)
        self._rig = ExpressionRig.for_portrait(a)
        # a person's torso scales with the head; in a one-layer picture only the head region does (nothing is
        # known of what a shrinking picture would reveal)
        body = 0.0 if a.one_layer else _body_weight(a.mesh.vertices[:, :2], w, h)
        self._scale_w = np.maximum(self._head_w, body)
        self._scale_w[pinned(a.mesh)] = 0.0
        self._yaw0 = float(a.head_pose[0])
        # person layer, premultiplied by its matte: the matting equation's foreground, image - (1 - alpha) * plate
        alpha = np.round(np.clip(a.matte, 0.0, 1.0) * 255.0)
        residual = a.image.astype(np.float32) - (1.0 - alpha[..., None] / 255.0) * a.clean_plate.astype(np.float32)
        layer = np.dstack([np.clip(np.round(residual), 0, 255), alpha]).astype(np.uint8)
        self._pad = max(4, int(round(FG_PAD_FRAC * max(h, w))))
        self._fg = _fade_pad(layer, self._pad, max(4, int(round(FG_FADE_FRAC * max(h, w)))))
        self._image = np.ascontiguousarray(a.image)
        self._plate = np.ascontiguousarray(a.clean_plate)
        self._grid = (h // raster.GRID_STEP + 1, w // raster.GRID_STEP + 1)
        self._buffers = threading.local()  # each rendering thread its own scratch (_Scratch)
        self._pool: ThreadPoolExecutor | None = None
        self._eyes = [build_eye_texture(a.image, a.landmarks, e) if a.eyes_open else None for e in (0, 1)]
        self._mouth = build_mouth_textures(a.image, a.landmarks, a.teeth_visible)
        self._eyeball_px = fg.EYEBALL_RADIUS_CM * a.head_scale
        lm = a.landmarks
        self._skull_fit, self._jaw_fit = AffineFit(lm[list(SKULL_ANCHORS), :2]), AffineFit(lm[list(JAW_ANCHORS), :2])
        self._rest_gap = float(np.linalg.norm(lm[fg.UPPER_LIP_CENTER, :2] - lm[fg.LOWER_LIP_CENTER, :2]))
        self._face_h = float(np.linalg.norm(lm[fg.CHIN, :2] - lm[fg.FOREHEAD, :2]))
        # openings that fold when they close: (upper margin, lower margin, corners, rest gap in pixels)
        openings = [(list(fg.EYE_UPPER[e][1:-1]), list(fg.EYE_LOWER[e][1:-1]), list(fg.EYE_CORNERS[e])) for e in (0, 1)]
        openings.append((list(INNER_UPPER_MID), list(INNER_LOWER_MID), [fg.INNER_UPPER_LIP[0], fg.INNER_UPPER_LIP[-1]]))
        self._folds = [(up, lo, corners, float(np.linalg.norm(lm[up, :2] - lm[lo, :2], axis=1).mean()))
                       for up, lo, corners in openings]
        if self._folds[-1][3] <= raster.GRID_STEP:  # lips (nearly) closed in the portrait: no opening to fold
            self._folds.pop()
        self._lip_rows, self._lip_shift = _lip_source_shift(lm)
        self._silhouette = _silhouette_skin(a.image, lm, a.face_width)
        self._torch = _TorchCompositor(self._fg, self._plate, self._pad) if self.device == "cuda" else None

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the frames."""
        return self.analysis.height, self.analysis.width

    def render(self, motion: MotionSequence) -> np.ndarray:
        """(N, H, W, 3) uint8 frames for a chunk of motion of any length."""
        h, w = self.size
        frames = np.empty((motion.num_frames, h, w, 3), np.uint8)
        names = motion.expression_names
        columns = [names.index(n) if n in names else -1 for n in EXPRESSION_NAMES]

        def render_frames(indices: range) -> None:
            for i in indices:
                weights = np.array([motion.expression[i, c] if c >= 0 else 0.0 for c in columns], np.float32)
                self._render_frame(
                    np.clip(weights, 0.0, 1.0), motion.head_rotation[i], motion.head_translation[i],
                    float(motion.head_scale[i]), motion.gaze[i], frames[i],
                )

        threads = min(RENDER_THREADS, os.cpu_count() or 1, motion.num_frames)
        if threads <= 1 or self._torch is not None:
            render_frames(range(motion.num_frames))
            return frames
        if self._pool is None:
            self._pool = ThreadPoolExecutor(RENDER_THREADS, thread_name_prefix="vasa-render")
        # frames are independent: the threads take every threads-th frame
        for job in [self._pool.submit(render_frames, range(k, motion.num_frames, threads)) for k in range(threads)]:
            job.result()
        return frames

    def _render_frame(self, weights: np.ndarray, rotation: np.ndarray, translation: np.ndarray, scale: float,
                      gaze: np.ndarray, out: np.ndarray) -> None:
        a = self.analysis
        n_face = fg.NUM_LANDMARKS
        rest = self._rest_cam
        verts = self._rig.deform(rest, weights)
        jaw_face = self._rig.jaw_bone(rest[:n_face], weights)

        yaw = self._limit_yaw(float(rotation[0]))
        rot = fg.rotation_from_euler(yaw, float(rotation[1]), float(rotation[2]))
        shift = np.asarray(translation, np.float32) * a.face_width
        moved = self._move(verts, rot, shift, scale)
        rigid = self._move(rest[:n_face], rot, shift, scale, rows=slice(0, n_face))
        jaw_moved = self._move(jaw_face, rot, shift, scale, rows=slice(0, n_face))

        dst = np.ascontiguousarray(moved[:, :2])
        depth = np.ascontiguousarray(moved[:, 2])
        src = self._sources(weights, yaw)
        moved_px = np.abs(dst - src).max(1) > raster.IDENTITY_TOL
        roi = self._moving_region(dst, moved_px)
        b = self._scratch()
        if roi is None:
            out[:] = self._image
        elif self._torch is not None:
            gy0, gy1, gx0, gx1 = 0, self._grid[0] - 1, 0, self._grid[1] - 1
            raster.rasterize_map(dst, depth, src, self._triangles, self._skip, b.map_x, b.map_y, b.zbuf,
                                 raster.GRID_STEP, gy0, gy1, gx0, gx1)
            self._torch.composite(b.map_x, b.map_y, out, self._face_box(dst, (0, out.shape[0], 0, out.shape[1])))
        else:
            self._warp_region(dst, depth, src, roi, out, b)

        # the layers are redrawn only where something changed: unchanged, the warp already gives the portrait
        if moved_px[_MOUTH_ROWS].any():
            skull = self._skull_fit(rigid[list(SKULL_ANCHORS), :2])
            jaw = self._jaw_fit(jaw_moved[list(JAW_ANCHORS), :2])
            opacity = self._mouth_opacity(moved, scale)
            draw_mouth(out, self._mouth, moved[list(fg.INNER_LIP_LOOP), :2], skull, jaw, opacity)
        gaze_px = self._eyeball_px * np.sin(np.radians(np.asarray(gaze, np.float32))) * np.array([1.0, -1.0])
        for e, tex in enumerate(self._eyes):
            if tex is not None and (gaze_px.any() or moved_px[_EYE_ROWS[e]].any()):
                draw_eye(out, tex, rigid[:, :2], eye_polygon(moved, e), gaze_px)

    def _sources(self, weights: np.ndarray, yaw: float) -> np.ndarray:
        """Vertex source pixels for this frame: the rest positions, upper-lid margins shifted toward the fold,
        inner-lip margins into the lips as they close, and the side of the face turning toward the camera taking
        skin for its silhouette (_silhouette_skin)."""
        blinks = weights[[EXPRESSION_NAMES.index("blink_l"), EXPRESSION_NAMES.index("blink_r")]]
        close = float(weights[EXPRESSION_NAMES.index("mouth_close")])
        if not blinks.any() and close <= 0 and yaw == 0.0:
            return self._src
        src = self._src.copy()
        rows, skin, side = self._silhouette
        unfold = min(abs(yaw) / SILHOUETTE_FULL_DEG, 1.0)
        forward = rows[side == -np.sign(yaw)]  # a turn to the left (yaw < 0) brings the image's right side forward
        src[forward] += unfold * (skin[side == -np.sign(yaw)] - self._src[forward])
        for eye, w in enumerate(blinks):
            margin = list(fg.EYE_UPPER[eye][1:-1])
            fold = list(fg.UPPER_LID_FOLD[eye])
            crease = self._src[list(fg.UPPER_LID_CREASE[eye])]
            src[margin] += (w * LID_MARGIN_SHIFT) * (crease - self._src[margin])
            src[fold] += (w * LID_FOLD_SHIFT) * (crease - self._src[fold])
        src[self._lip_rows] += close * self._lip_shift
        return src

    def _moving_region(self, dst: np.ndarray, moving: np.ndarray) -> tuple[int, int, int, int] | None:
        """Grid nodes gy0, gy1, gx0, gx1 bounding every triangle with a moving vertex; None if nothing moves."""
        if not moving.any():
            return None
        tris = self._triangles[moving[self._triangles].any(1)]
        pts = dst[tris.ravel()]
        gh, gw = self._grid
        step = raster.GRID_STEP
        gx0 = int(np.clip(np.floor(pts[:, 0].min() / step) - 1, 0, gw - 2))
        gx1 = int(np.clip(np.ceil(pts[:, 0].max() / step) + 1, gx0 + 1, gw - 1))
        gy0 = int(np.clip(np.floor(pts[:, 1].min() / step) - 1, 0, gh - 2))
        gy1 = int(np.clip(np.ceil(pts[:, 1].max() / step) + 1, gy0 + 1, gh - 1))
        return gy0, gy1, gx0, gx1

    def _warp_region(self, dst: np.ndarray, depth: np.ndarray, src: np.ndarray, roi: tuple[int, int, int, int],
                     out: np.ndarray, b: _Scratch) -> None:
        """Backward-warp the person layer over the plate inside the moving region; the rest is the portrait."""
        gy0, gy1, gx0, gx1 = roi
        step = raster.GRID_STEP
        raster.rasterize_map(dst, depth, src, self._triangles, self._skip, b.map_x, b.map_y, b.zbuf, step,
                             gy0, gy1, gx0, gx1)
        rh, rw = step * (gy1 - gy0), step * (gx1 - gx0)
        m1 = b.m1[: rh * rw * 2].reshape(rh, rw, 2)
        m2 = b.m2[: rh * rw].reshape(rh, rw)
        identity = b.identity[: rh * rw].reshape(rh, rw)
        warped = b.warped[: rh * rw * 4].reshape(rh, rw, 4)
        raster.fixed_point_map(b.map_x, b.map_y, m1, m2, identity, self._pad, gy0, gy1, gx0, gx1)
        oy, ox = step * gy0, step * gx0
        for box in self._fold_boxes(dst, (oy, oy + rh, ox, ox + rw)):
            raster.rasterize_fixed(dst, depth, src, self._triangles, self._skip, m1, m2, identity, self._pad, oy, ox,
                                   *box)
        face = self._face_box(dst, (oy, oy + rh, ox, ox + rw))
        if face is None:
            cv2.remap(self._fg, m1, m2, cv2.INTER_LINEAR, dst=warped, borderMode=cv2.BORDER_CONSTANT)
        else:
            y0, y1, x0, x1 = face
            for (a0, a1, b0, b1), how in (((0, y0, 0, rw), cv2.INTER_LINEAR), ((y1, rh, 0, rw), cv2.INTER_LINEAR),
                                          ((y0, y1, 0, x0), cv2.INTER_LINEAR), ((y0, y1, x1, rw), cv2.INTER_LINEAR),
                                          ((y0, y1, x0, x1), cv2.INTER_CUBIC)):
                if a1 > a0 and b1 > b0:
                    warped[a0:a1, b0:b1] = cv2.remap(self._fg, m1[a0:a1, b0:b1], m2[a0:a1, b0:b1], how,
                                                     borderMode=cv2.BORDER_CONSTANT)
        if (rh, rw) != out.shape[:2]:
            out[:] = self._image
        raster.composite(warped, self._plate, self._image, identity, out, oy, ox)

    @staticmethod
    def _face_box(dst: np.ndarray, region: tuple[int, int, int, int]) -> tuple[int, int, int, int] | None:
        """(y0, y1, x0, x1) relative to the region: the moved face grown by SHARP_MARGIN of its size, or None."""
        face = dst[: fg.NUM_MESH_POINTS]
        lo, hi = face.min(0), face.max(0)
        grow = SHARP_MARGIN * (hi - lo)
        ry0, ry1, rx0, rx1 = region
        x0, x1 = max(int(lo[0] - grow[0]), rx0), min(int(np.ceil(hi[0] + grow[0])), rx1)
        y0, y1 = max(int(lo[1] - grow[1]), ry0), min(int(np.ceil(hi[1] + grow[1])), ry1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
        return y0 - ry0, y1 - ry0, x0 - rx0, x1 - rx0

    def _scratch(self) -> _Scratch:
        b = getattr(self._buffers, "scratch", None)
        if b is None:
            b = self._buffers.scratch = _Scratch(*self.size, self._grid)
        return b

    def _fold_boxes(self, dst: np.ndarray, region: tuple[int, int, int, int]) -> list[tuple[int, int, int, int]]:
        """Boxes (y0, y1, x0, x1) around eyes and lips closing below a third of their rest gap, inside the region.

        A closing lid (or pair of lips) collapses its opening to a line; the grid map interpolated across that line
        would sample the eyeball or teeth in between (a jagged seam), so these boxes get an exact per-pixel map.
        """
        boxes = []
        ry0, ry1, rx0, rx1 = region
        for up, lo, corners, rest_gap in self._folds:
            upper, lower = dst[up], dst[lo]
            if np.linalg.norm(upper - lower, axis=1).mean() > rest_gap / 3:
                continue
            pts = np.vstack([upper, lower, dst[corners]])
            margin = 0.25 * rest_gap + 3
            y0 = max(int(pts[:, 1].min() - margin), ry0)
            y1 = min(int(pts[:, 1].max() + margin) + 1, ry1)
            x0 = max(int(pts[:, 0].min() - margin), rx0)
            x1 = min(int(pts[:, 0].max() + margin) + 1, rx1)
            if y1 > y0 and x1 > x0:
                boxes.append((y0, y1, x0, x1))
        return boxes

    def _mouth_opacity(self, moved: np.ndarray, scale: float) -> float:
        if self.analysis.teeth_visible:
            return 1.0  # the interior is the portrait's own
        gap = np.linalg.norm(moved[fg.UPPER_LIP_CENTER, :2] - moved[fg.LOWER_LIP_CENTER, :2]) / max(scale, 1e-6)
        extra = (gap - self._rest_gap) / (MOUTH_FADE_FH * self._face_h)
        return float(np.clip(extra, 0.0, 1.0))

    def _move(self, verts: np.ndarray, rot: np.ndarray, shift: np.ndarray, scale: float,
              rows: slice = slice(None)) -> np.ndarray:
        """Head rotation about the pivot, translation and scale, each blended by the vertices' weights."""
        hw = self._head_w[rows, None]
        sw = self._scale_w[rows, None]
        rel = verts - self._pivot
        turned = verts + hw * (rel @ rot.T - rel)
        turned[:, :2] += hw * shift
        factor = 1.0 + (scale - 1.0) * sw
        return self._pivot + (turned - self._pivot) * factor

    def _limit_yaw(self, delta: float) -> float:
        yaw0 = self._yaw0
        if abs(yaw0) > TURNED_YAW and delta * yaw0 < 0:
            delta = float(np.sign(delta)) * min(abs(delta), HIDDEN_SIDE_MAX_DEG)
        limit = max(MAX_TOTAL_YAW, abs(yaw0))
        return float(np.clip(yaw0 + delta, -limit, limit)) - yaw0


class _Scratch:
    """Per-thread buffers (DESIGN.md: allocating them per frame made some runs 3x slower): the grid map and its
    depth buffer, and flat arrays viewed per frame as contiguous arrays the size of the moving region."""

    def __init__(self, h: int, w: int, grid: tuple[int, int]) -> None:
        self.map_x = np.empty(grid, np.float32)
        self.map_y = np.empty(grid, np.float32)
        self.zbuf = np.empty(grid, np.float32)
        self.m1 = np.empty(h * w * 2, np.int16)
        self.m2 = np.empty(h * w, np.uint16)
        self.identity = np.empty(h * w, np.uint8)
        self.warped = np.empty(h * w * 4, np.uint8)


def _lip_source_shift(landmarks: np.ndarray) -> tuple[list[int], np.ndarray]:
    """Rows of the lip vertices and their (N, 2) source shifts at mouth_close = 1 (LIP_MARGIN_GAP_SHARE)."""
    pts = landmarks[:, :2]
    gaps = np.linalg.norm(pts[list(INNER_LOWER_MID)] - pts[list(INNER_UPPER_MID)], axis=1)
    rows, shifts = [], []
    for margin, rings, outer in ((INNER_UPPER_MID, UPPER_LIP_RINGS, fg.OUTER_UPPER_LIP[1:-1]),
                                 (INNER_LOWER_MID, LOWER_LIP_RINGS, fg.OUTER_LOWER_LIP[1:-1])):
        span = pts[list(outer)] - pts[list(margin)]
        thickness = np.maximum(np.linalg.norm(span, axis=1), 1e-6)
        reach = np.minimum(LIP_MARGIN_GAP_SHARE * gaps, LIP_MARGIN_MAX_THICKNESS * thickness)
        for ring in (margin,) + rings:
            # each vertex moves by the reach times its share of the way still to go to the outer edge
            to_go = 1.0 - np.clip(((pts[list(ring)] - pts[list(margin)]) * span).sum(1) / thickness**2, 0.0, 1.0)
            rows += list(ring)
            shifts.append(span * (reach * to_go / thickness)[:, None])
    return rows, np.concatenate(shifts).astype(np.float32)


def _silhouette_skin(image: np.ndarray, landmarks: np.ndarray, face_width: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Face-mesh vertices near the sides of the face, below the eyes, whose portrait pixel is darker than the cheek
    inside them (the crease in front of an ear, the shadow at the jaw): their rows, the nearest cheek-bright
    pixel inward along the row as their skin source (N, 2), and their side (-1 image left, +1 right).

    The side of a face is foreshortened in a portrait; turned toward the camera it unfolds two to three times
    wider, and whatever its few source pixels hold is stretched over the cheek (p01 turned 15 degrees left: the
    crease before her ear became a dark smudge).
    """
    light = cv2.GaussianBlur(cv2.cvtColor(image, cv2.COLOR_RGB2LAB)[..., 0].astype(np.float32), (0, 0), 1.0)
    h, w = light.shape
    pts = landmarks[: fg.NUM_MESH_POINTS, :2]
    mid = float(landmarks[fg.NOSE_TIP, 0])
    # above the eyes, hair over the temples is real and stays: the ear's crease and the jaw's shadow lie below
    eye_line = float(landmarks[[fg.EYE_CORNERS[0][0], fg.EYE_CORNERS[1][0]], 1].max())
    reach = max(2, int(round(SILHOUETTE_REACH_FW * face_width)))
    oval = pts[list(fg.FACE_OVAL)]
    half = {}
    for sgn in (-1, 1):
        part = oval[np.sign(oval[:, 0] - mid) == sgn]
        order = np.argsort(part[:, 1])
        half[sgn] = (part[order, 1], np.abs(part[order, 0] - mid))
    rows, skin, side = [], [], []
    for v in range(len(pts)):
        x, y = pts[v]
        sgn = 1 if x > mid else -1
        if abs(x - mid) < SILHOUETTE_SIDE * np.interp(y, *half[sgn]) or y < eye_line:
            continue
        step = 1.0 if x < mid else -1.0  # inward
        xs = np.clip(np.round(x + step * np.arange(2 * reach)).astype(int), 0, w - 1)
        line = light[int(np.clip(round(y), 0, h - 1)), xs]
        cheek = float(np.median(line[reach:]))
        bright = np.nonzero(line[:reach] >= SILHOUETTE_DARK * cheek)[0]
        if line[0] >= SILHOUETTE_DARK * cheek or len(bright) == 0:
            continue
        rows.append(v)
        skin.append((x + step * (bright[0] + 1), y))
        side.append(-1 if x < mid else 1)
    return np.array(rows, int), np.array(skin, np.float32).reshape(-1, 2), np.array(side, int)


def _inside_weight(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """0 on and outside the image border, rising smoothly to 1 at ONE_LAYER_EDGE_FRAC of its shorter side inside."""
    edge = np.minimum.reduce([points[:, 0], width - points[:, 0], points[:, 1], height - points[:, 1]])
    t = np.clip(edge / (ONE_LAYER_EDGE_FRAC * min(width, height)), 0.0, 1.0)
    return (t * t * (3 - 2 * t)).astype(np.float32)


def _body_weight(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale weight of the torso: 1, fading to 0 toward the bottom border where the body leaves the frame."""
    t = np.clip((height - points[:, 1]) / (BODY_BORDER_FRAC * height), 0.0, 1.0)
    return (t * t * (3 - 2 * t)).astype(np.float32)


def _fade_pad(layer: np.ndarray, pad: int, fade: int) -> np.ndarray:
    """Pad an RGBA premultiplied layer by ``pad`` pixels.

    At the bottom, where a torso cut by the frame continues below it, the layer is mirrored (repeating its last row
    drew streaks). At the top, left and right each line keeps the coverage (alpha) of its edge pixel, with the
    mirrored colour where the mirror is person too: hair cut by the frame continues as hair, while hair ending
    just inside the frame does not grow a mirrored cap (seen at distance 0.8 on p07). There alpha and colour fade
    linearly to 0 over ``fade`` pixels, so that a head moved or shrunk away from the frame edge ends softly.
    """
    below = cv2.copyMakeBorder(layer, 0, pad, 0, 0, cv2.BORDER_REFLECT_101)
    mirrored = cv2.copyMakeBorder(below, pad, 0, pad, pad, cv2.BORDER_REFLECT_101).astype(np.float32)
    repeated = cv2.copyMakeBorder(below, pad, 0, pad, pad, cv2.BORDER_REPLICATE).astype(np.float32)
    alpha = repeated[..., 3:]
    own = mirrored[..., 3:] > 127.0
    colour = np.where(own, mirrored[..., :3] / np.maximum(mirrored[..., 3:], 1.0),
                      repeated[..., :3] / np.maximum(alpha, 1.0))
    padded = np.concatenate([colour * alpha, alpha], axis=-1)
    h, w = layer.shape[:2]
    padded[pad: pad + h + pad, pad: pad + w] = mirrored[pad: pad + h + pad, pad: pad + w]
    ys, xs = np.arange(h + 2 * pad), np.arange(w + 2 * pad)
    ramp_y = np.clip(1.0 - (pad - ys) / fade, 0, 1)
    ramp_x = np.clip(1.0 - np.maximum(pad - xs, xs - (w + pad - 1)) / fade, 0, 1)
    fade_map = np.minimum(ramp_y[:, None], ramp_x[None, :])[..., None]
    return np.ascontiguousarray(np.round(padded * fade_map), dtype=np.uint8)


def _resolve_device(device: str) -> str:
    if device == "cpu":
        return "cpu"
    try:
        import torch
    except ImportError:
        torch = None
    if torch is None or not torch.cuda.is_available():
        msg = "device='cuda' was requested but no CUDA GPU is available: rendering on the CPU instead."
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
        log.warning(msg)
        return "cpu"
    return "cuda"


class _TorchCompositor:
    """The warp-and-composite step with torch's grid_sample (for CUDA; any torch device gives the same result).

    The mesh raster stays on the CPU (~1 ms); the per-pixel work, the bulk of a frame, moves to the device.
    """

    def __init__(self, fg_layer: np.ndarray, plate: np.ndarray, pad: int, device: str = "cuda") -> None:
        import torch

        self._torch = torch
        dev = torch.device(device)
        self._fg = torch.from_numpy(fg_layer.astype(np.float32)).permute(2, 0, 1)[None].to(dev)
        self._plate = torch.from_numpy(plate.astype(np.float32)).permute(2, 0, 1)[None].to(dev)
        self._h, self._w = plate.shape[:2]
        self._pad = pad

    def composite(self, map_x: np.ndarray, map_y: np.ndarray, out: np.ndarray,
                  face: tuple[int, int, int, int] | None) -> None:
        """Warp and composite into ``out``; inside ``face`` (y0, y1, x0, x1) bicubic, as the CPU path."""
        torch = self._torch
        f = torch.nn.functional
        dev = self._fg.device
        grid = torch.from_numpy(np.stack([map_x, map_y], -1))[None].to(dev).permute(0, 3, 1, 2)
        full = f.interpolate(grid, size=(self._h + 1, self._w + 1), mode="bilinear", align_corners=True)
        full = full[:, :, : self._h, : self._w]
        p = self._pad
        norm = torch.stack([(full[:, 0] + p) / (self._w + 2 * p - 1) * 2 - 1,
                            (full[:, 1] + p) / (self._h + 2 * p - 1) * 2 - 1], -1)
        layer = f.grid_sample(self._fg, norm, mode="bilinear", padding_mode="border", align_corners=True)
        if face is not None:
            y0, y1, x0, x1 = face
            layer[:, :, y0:y1, x0:x1] = f.grid_sample(self._fg, norm[:, y0:y1, x0:x1], mode="bicubic",
                                                      padding_mode="border", align_corners=True).clamp(0, 255)
        alpha = layer[:, 3:] / 255.0
        comp = layer[:, :3] + self._plate * (1 - alpha)
        out[:] = comp.clamp(0, 255).add(0.5).to(torch.uint8)[0].permute(1, 2, 0).cpu().numpy()
