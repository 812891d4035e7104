"""Face analysis of one portrait: landmarks, head pose, person matte, clean plate, mouth and eye state, mesh.

Uses mediapipe 0.10.21's legacy ``mp.solutions`` API, whose models ship inside the wheel (nothing downloads).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import cv2
import numpy as np

from vasa_core.analysis import face_geometry as fg
from vasa_core.analysis.face_matte import clean_plate, refine_matte
from vasa_core.analysis.face_rig import build_mesh
from vasa_core.errors import InputError
from vasa_core.types import PortraitAnalysis

os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ logging: warnings and above only

# Face detection: the full-range model (selection 1) finds small faces in half-body shots; 0.5 is mediapipe's
# default confidence. The face mesh runs on a crop around the detection, this many box sizes wide, resized so
# that the mesh model (192x192 input) sees the face large and sharp.
DETECTION_CONFIDENCE = 0.5
MESH_CROP_BOXES = 2.2
MESH_CROP_SIZE = 512
# "head" framing: a square crop this many face heights tall, with the face centre this far above its middle.
HEAD_FRAMING_FACE_HEIGHTS = 2.6
HEAD_FRAMING_RAISE = 0.12
# Beyond this head yaw the renderer limits turns toward the hidden side (vasa_core.render.renderer.TURNED_YAW).
TURNED_WARN_DEG = 15.0
# A person's silhouette reaches the bottom edge under the face (neck and torso; a face cropped at the chin is there
# itself): the matte covers at least this share of the bottom rows (SILHOUETTE_ROWS of the height) within half a
# face width of the face's centre. Selfie segmentation on an animal finds a blob around the face only (dog p20
# 0.26, cat p21 0; every human, painted and drawn portrait here 0.58-1.0), and cutting that blob out of its fur
# showed the head inside a hole at distance 0.8 and a seam across the cheek on turns. Below it, the whole picture
# is one layer.
SILHOUETTE_MIN_BOTTOM, SILHOUETTE_ROWS = 0.4, 0.03
# Mouth and eye state thresholds (ratios measured on the test portraits: closed lips < 0.01 of the face height,
# open eyes 0.2-0.45 lid gap per eye width, closed < 0.1).
MOUTH_OPEN_MIN = 0.012
EYES_OPEN_MIN = 0.12
# Teeth: bright, low-chroma pixels inside the inner lips, relative to the face's own skin brightness.
TEETH_MIN_FRACTION = 0.15
TEETH_MIN_AREA_PX = 30


class FaceAnalyzer:
    """Loads the mediapipe models once. Not thread-safe: create one per worker."""

    def __init__(self) -> None:
        import mediapipe as mp  # heavy import, only where faces are analysed

        self._mp = mp
        self._detector = mp.solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=DETECTION_CONFIDENCE
        )
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, refine_landmarks=True, max_num_faces=1, min_detection_confidence=0.3
        )
        self._segmenter = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)

    def analyze(self, image: np.ndarray, size: int = 512, framing: str = "portrait") -> PortraitAnalysis:
        """Analyse a decoded portrait (H, W, 3) uint8 RGB at output resolution (longer side = size, even sides)."""
        _check_image(image)
        if framing not in ("portrait", "head"):
            raise InputError(f"framing={framing!r} is not accepted: use 'portrait' (whole image) or 'head'.")
        if size < 64:
            raise InputError(f"size={size} is too small: the longer output side must be at least 64 pixels.")
        box = self._detect(image)
        if framing == "head":
            image, box = _head_crop(image, box)
        h0, w0 = image.shape[:2]
        scale = size / max(h0, w0)
        out_w, out_h = max(2, int(w0 * scale) // 2 * 2), max(2, int(h0 * scale) // 2 * 2)
        sx, sy = out_w / w0, out_h / h0
        landmarks = self._landmarks_in_crop(image, box)
        landmarks[:, 0] *= sx
        landmarks[:, 1] *= sy
        landmarks[:, 2] *= (sx + sy) / 2
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        resized = cv2.resize(image, (out_w, out_h), interpolation=interp)
        return self._analyze_resized(resized, landmarks.astype(np.float32))

    def track(self, frames: Iterable[np.ndarray]) -> np.ndarray:
        """(N, 478, 3) float32 landmarks in pixels (z toward the camera) per frame, NaN where no face is found."""
        out = []
        with self._mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False, refine_landmarks=True, max_num_faces=1
        ) as tracker:
            for frame in frames:
                _check_image(frame)
                result = tracker.process(np.ascontiguousarray(frame))
                if not result.multi_face_landmarks:
                    out.append(np.full((fg.NUM_LANDMARKS, 3), np.nan, np.float32))
                    continue
                h, w = frame.shape[:2]
                out.append(_to_pixels(result.multi_face_landmarks[0], w, h))
        return np.stack(out) if out else np.zeros((0, fg.NUM_LANDMARKS, 3), np.float32)

    def _detect(self, image: np.ndarray) -> np.ndarray:
        """(4,) x0, y0, x1, y1 pixels of the largest detected face."""
        h, w = image.shape[:2]
        small_scale = min(1.0, 1024 / max(h, w))
        small = cv2.resize(
            image, (max(1, int(w * small_scale)), max(1, int(h * small_scale))), interpolation=cv2.INTER_AREA
        )
        result = self._detector.process(np.ascontiguousarray(small))
        boxes = []
        for det in result.detections or []:
            b = det.location_data.relative_bounding_box
            boxes.append([b.xmin * w, b.ymin * h, (b.xmin + b.width) * w, (b.ymin + b.height) * h])
        if not boxes:
            mesh = self._mesh.process(np.ascontiguousarray(small))
            if not mesh.multi_face_landmarks:
                raise InputError(
                    "No face was found in the portrait. Use a picture in which one face is clearly visible, "
                    "at least about 64 pixels wide, not cut off by the image border."
                )
            pts = _to_pixels(mesh.multi_face_landmarks[0], small.shape[1], small.shape[0]) / small_scale
            boxes.append([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()])
        boxes_arr = np.asarray(boxes, np.float32)
        areas = (boxes_arr[:, 2] - boxes_arr[:, 0]) * (boxes_arr[:, 3] - boxes_arr[:, 1])
        return boxes_arr[int(np.argmax(areas))]

    def _landmarks_in_crop(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """Face-mesh landmarks (478, 3) in the pixels of ``image``, measured on a square crop around ``box``."""
        h, w = image.shape[:2]
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        side = MESH_CROP_BOXES * max(box[2] - box[0], box[3] - box[1])
        x0, y0 = cx - side / 2, cy - side / 2
        scale = MESH_CROP_SIZE / side
        # affine crop with border replication: faces near the image edge keep a full-size crop
        m = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], np.float32)
        crop = cv2.warpAffine(
            image, m, (MESH_CROP_SIZE, MESH_CROP_SIZE), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
        )
        result = self._mesh.process(np.ascontiguousarray(crop))
        if not result.multi_face_landmarks:
            result = self._mesh.process(np.ascontiguousarray(image))
            if not result.multi_face_landmarks:
                raise InputError(
                    "A face was detected but its landmarks could not be measured (too small, blurred, "
                    "or heavily occluded). Use a sharper portrait in which the whole face is visible."
                )
            return _to_pixels(result.multi_face_landmarks[0], w, h)
        pts = _to_pixels(result.multi_face_landmarks[0], MESH_CROP_SIZE, MESH_CROP_SIZE)
        pts[:, 0] = pts[:, 0] / scale + x0
        pts[:, 1] = pts[:, 1] / scale + y0
        pts[:, 2] = pts[:, 2] / scale
        return pts

    def _analyze_resized(self, image: np.ndarray, landmarks: np.ndarray) -> PortraitAnalysis:
        h, w = image.shape[:2]
        warnings: list[str] = []
        pose = fg.fit_head_pose(landmarks)
        head_pose = fg.euler_from_rotation(pose.rotation)
        pivot = fg.from_camera_frame(pose.to_camera(fg.HEAD_PIVOT_CM[None]))[0]
        head_centre = fg.from_camera_frame(pose.to_camera(fg.HEAD_CENTER_CM[None]))[0]

        oval = landmarks[list(fg.FACE_OVAL), :2]
        face_box = np.array([oval[:, 0].min(), landmarks[:, 1].min(), oval[:, 0].max(), oval[:, 1].max()], np.float32)
        seg = self._segmenter.process(np.ascontiguousarray(image)).segmentation_mask
        matte = refine_matte(image, seg, _head_hull(landmarks))
        bottom = _silhouette_at_bottom(matte, landmarks)
        if bottom < SILHOUETTE_MIN_BOTTOM:
            warnings.append(
                f"No person's silhouette reaches the bottom of the picture under the face (the segmentation covers "
                f"{bottom:.0%} of it: an animal, or a head without a body?): the whole picture moves as one layer, "
                "so the background near the head moves with it."
            )
            matte, plate, one_layer = np.ones_like(matte), image.copy(), True
        else:
            one_layer = False
            plate = clean_plate(image, matte, float(face_box[2] - face_box[0]))
        mesh = build_mesh(landmarks, w, h, ring_depth=float(head_centre[2]))

        face_h = float(np.linalg.norm(landmarks[fg.CHIN, :2] - landmarks[fg.FOREHEAD, :2]))
        gap = float(np.linalg.norm(landmarks[fg.UPPER_LIP_CENTER, :2] - landmarks[fg.LOWER_LIP_CENTER, :2]))
        mouth_open = gap / max(face_h, 1e-6)
        teeth = mouth_open > MOUTH_OPEN_MIN and _teeth_visible(image, landmarks)
        openness = np.array([_eye_openness(landmarks, i) for i in (0, 1)], np.float32)
        eyes_open = bool(openness.mean() >= EYES_OPEN_MIN)
        if not eyes_open:
            warnings.append("The eyes are closed in the portrait: gaze motion is disabled.")
        if abs(head_pose[0]) > TURNED_WARN_DEG:
            warnings.append(
                f"The head is turned {abs(head_pose[0]):.0f} degrees: turns toward the hidden side are limited."
            )
        if pose.residual > 0.05 * face_h:
            warnings.append("The face does not fit the human face model well (stylised or non-human face).")
        return PortraitAnalysis(
            image=image,
            landmarks=landmarks,
            face_box=face_box,
            head_pose=head_pose,
            head_rotation=pose.rotation,
            head_scale=float(pose.scale),
            head_pivot=pivot.astype(np.float32),
            matte=matte,
            clean_plate=plate,
            mesh=mesh,
            mouth_open=float(mouth_open),
            teeth_visible=bool(teeth),
            eye_openness=openness,
            eyes_open=eyes_open,
            warnings=tuple(warnings),
            one_layer=one_layer,
        )


def _silhouette_at_bottom(matte: np.ndarray, landmarks: np.ndarray) -> float:
    """Mean matte over the bottom SILHOUETTE_ROWS of the image, within half a face width of the face's centre."""
    h, w = matte.shape
    oval = landmarks[list(fg.FACE_OVAL), 0]
    centre, half = float(oval.mean()), 0.5 * float(oval.max() - oval.min())
    x0, x1 = int(np.clip(centre - half, 0, w - 1)), int(np.clip(centre + half, 1, w))
    rows = max(1, int(round(SILHOUETTE_ROWS * h)))
    return float(matte[h - rows:, x0:x1].mean())


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = getattr(image, "shape", type(image).__name__), getattr(image, "dtype", "")
        raise InputError(
            f"Expected an RGB image as an (H, W, 3) uint8 array, got {got}. Decode it with "
            "vasa_core.media.read_image first."
        )
    if min(image.shape[:2]) < 32:
        raise InputError(f"The image is {image.shape[1]}x{image.shape[0]} pixels: at least 32 pixels a side needed.")


def _to_pixels(face_landmarks, width: int, height: int) -> np.ndarray:
    pts = np.array([[p.x, p.y, p.z] for p in face_landmarks.landmark], np.float32)
    # mediapipe: x, y normalised to the image, z on the x scale with smaller = nearer; ours: z toward the camera
    return np.column_stack([pts[:, 0] * width, pts[:, 1] * height, -pts[:, 2] * width]).astype(np.float32)


def _head_crop(image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = image.shape[:2]
    face_h = box[3] - box[1]
    side = int(min(HEAD_FRAMING_FACE_HEIGHTS * face_h, h, w))
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2 + HEAD_FRAMING_RAISE * side
    x0 = int(np.clip(cx - side / 2, 0, w - side))
    y0 = int(np.clip(cy - side / 2, 0, h - side))
    crop = image[y0 : y0 + side, x0 : x0 + side]
    return np.ascontiguousarray(crop), box - np.array([x0, y0, x0, y0], np.float32)


def _head_hull(landmarks: np.ndarray) -> np.ndarray:
    """Face oval plus the forehead above it (the oval stops at the hairline landmark)."""
    oval = landmarks[list(fg.FACE_OVAL), :2]
    up = landmarks[fg.FOREHEAD, :2] - landmarks[fg.CHIN, :2]
    top = oval[oval[:, 1] < landmarks[fg.NOSE_TIP, 1]] + 0.15 * up
    return np.vstack([oval, top]).astype(np.float32)


def _eye_openness(landmarks: np.ndarray, eye: int) -> float:
    outer, inner = fg.EYE_CORNERS[eye]
    width = np.linalg.norm(landmarks[outer, :2] - landmarks[inner, :2])
    upper, lower = fg.EYE_UPPER[eye], fg.EYE_LOWER[eye]
    gaps = [np.linalg.norm(landmarks[u, :2] - landmarks[lo, :2]) for u, lo in zip(upper[2:-2], lower[2:-2])]
    return float(np.mean(gaps) / max(width, 1e-6))


def _teeth_visible(image: np.ndarray, landmarks: np.ndarray) -> bool:
    h, w = image.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(landmarks[list(fg.INNER_LIP_LOOP), :2]).astype(np.int32)], 255)
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8))
    if int(mask.sum() / 255) < TEETH_MIN_AREA_PX:
        return False
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    skin = np.zeros((h, w), np.uint8)
    cheeks = [landmarks[i, :2] for i in (50, 280, 101, 330)]
    for c in cheeks:
        cv2.circle(skin, (int(c[0]), int(c[1])), max(2, int(0.02 * max(h, w))), 255, -1)
    skin_l = float(np.median(lab[..., 0][skin > 0]))
    inside = lab[mask > 0]
    chroma = np.hypot(inside[:, 1] - 128, inside[:, 2] - 128)
    teeth = (inside[:, 0] > 0.85 * skin_l) & (chroma < 22)
    return float(teeth.mean()) >= TEETH_MIN_FRACTION
