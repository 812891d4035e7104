"""Identity distance with dlib's 128-d face embedding (same person ~0.4 or less, different ~0.7).

The embedding was trained on human faces only: on animal faces its distances do not measure identity.

The model files ship in the face_recognition_models wheel; they are loaded by path (its package imports the
deprecated pkg_resources). Faces are found with dlib's HOG detector, or, for faces it misses (paintings,
cartoons), inside a box the caller supplies (our own face analysis).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np


def _models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise RuntimeError("face_recognition_models is not installed: pip install face-recognition-models")
    return Path(spec.origin).parent / "models"


class IdentityMeter:
    """Embeds faces and measures distances between them."""

    def __init__(self) -> None:
        import dlib

        self._dlib = dlib
        models = _models_dir()
        self._detector = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(models / "shape_predictor_68_face_landmarks.dat"))
        self._encoder = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    def embed(self, image: np.ndarray, fallback_box: np.ndarray | None = None) -> np.ndarray | None:
        """(128,) float64 embedding of the largest face in an RGB uint8 image, or None if none is found."""
        dets = self._detector(image, 1)
        if len(dets):
            rect = max(dets, key=lambda r: r.width() * r.height())
        elif fallback_box is not None:
            x0, y0, x1, y1 = [int(round(v)) for v in fallback_box]
            rect = self._dlib.rectangle(x0, y0, x1, y1)
        else:
            return None
        shape = self._shape(image, rect)
        return np.asarray(self._encoder.compute_face_descriptor(image, shape, 1), np.float64)

    @staticmethod
    def distance(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.linalg.norm(a - b))
