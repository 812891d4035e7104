"""Shared fixtures. Tests that need ../shared/media skip, saying why, when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MEDIA = Path(os.environ.get("VASA_SHARED_MEDIA", ROOT.parent / "shared" / "media"))
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def shared_media() -> Path:
    if not SHARED_MEDIA.is_dir():
        pytest.skip(f"shared media not found at {SHARED_MEDIA} (set VASA_SHARED_MEDIA to run media tests)")
    return SHARED_MEDIA


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture()
def data_dir(tmp_path, monkeypatch) -> Path:
    """An isolated safety data directory (dev certificate, registry) per test."""
    d = tmp_path / "vasa-data"
    monkeypatch.setenv("VASA_DATA_DIR", str(d))
    monkeypatch.delenv("VASA_REGISTRY_URL", raising=False)
    return d


def read_rgb(path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB, read the way the face and render tests always read portraits."""
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="session")
def analyzer():
    """One FaceAnalyzer (mediapipe graphs) shared by the face and render tests."""
    from vasa_core.analysis.face import FaceAnalyzer

    return FaceAnalyzer()
