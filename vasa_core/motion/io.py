"""MotionSequence files (.npz), so that researchers can edit or replace the motion and the CLI can render it.

Layout (all arrays float32 unless said): fps () float64; expression (T, E); expression_names (E,) unicode;
head_rotation (T, 3) degrees; head_translation (T, 2) face widths; head_scale (T,); gaze (T, 2) degrees;
format_version () int. Columns are matched by name on load, so a file may carry any subset of the expression
names, in any order; names this version does not know are refused rather than silently dropped.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..types import EXPRESSION_NAMES, MotionSequence

FORMAT_VERSION = 1
_ARRAYS = ("expression", "head_rotation", "head_translation", "head_scale", "gaze")


def save_motion(motion: MotionSequence, path: Path | str) -> None:
    """Writes ``motion`` to ``path`` (an .npz; the suffix is added if missing)."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    np.savez_compressed(
        path,
        format_version=np.int64(FORMAT_VERSION),
        fps=np.float64(motion.fps),
        expression_names=np.array(motion.expression_names, dtype=np.str_),
        **{name: np.asarray(getattr(motion, name), np.float32) for name in _ARRAYS},
    )


def load_motion(path: Path | str) -> MotionSequence:
    """Reads a file written by save_motion (or by hand, same layout); raises InputError saying what is wrong."""
    path = Path(path)
    accepted = (
        "Expected an .npz written by vasa_core.motion.save_motion "
        f"(arrays: fps, expression_names, {', '.join(_ARRAYS)})."
    )
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise InputError(f"The motion file {path} does not exist.") from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InputError(f"The motion file {path} could not be read ({exc}). {accepted}") from None
    missing = [key for key in ("fps", "expression_names", *_ARRAYS) if key not in arrays]
    if missing:
        raise InputError(f"The motion file {path} lacks {', '.join(missing)}. {accepted}")
    version = int(arrays.get("format_version", FORMAT_VERSION))
    if version > FORMAT_VERSION:
        raise InputError(
            f"The motion file {path} has format version {version}; this version reads up to {FORMAT_VERSION}. "
            "Update vasa-studio or re-save the motion."
        )
    names = [str(n) for n in arrays["expression_names"].reshape(-1)]
    unknown = [n for n in names if n not in EXPRESSION_NAMES]
    if unknown:
        raise InputError(
            f"The motion file {path} has expression names this version does not know: {', '.join(unknown)}. "
            f"Known: {', '.join(EXPRESSION_NAMES)}."
        )
    given = np.asarray(arrays["expression"], np.float32)
    if given.ndim != 2 or given.shape[1] != len(names):
        raise InputError(
            f"The motion file {path} has expression of shape {given.shape} for {len(names)} names; "
            "expected (frames, names)."
        )
    expression = np.zeros((len(given), len(EXPRESSION_NAMES)), np.float32)
    for k, name in enumerate(names):
        expression[:, EXPRESSION_NAMES.index(name)] = given[:, k]
    fps = float(arrays["fps"])
    if not (fps > 0 and np.isfinite(fps)):
        raise InputError(f"The motion file {path} has fps={fps}; expected a positive number of frames per second.")
    try:
        motion = MotionSequence(
            fps=fps,
            expression=expression,
            head_rotation=np.asarray(arrays["head_rotation"], np.float32),
            head_translation=np.asarray(arrays["head_translation"], np.float32),
            head_scale=np.asarray(arrays["head_scale"], np.float32).reshape(-1),
            gaze=np.asarray(arrays["gaze"], np.float32),
        )
    except ValueError as exc:
        raise InputError(f"The motion file {path} is inconsistent: {exc}.") from None
    bad = [name for name in _ARRAYS if not np.all(np.isfinite(getattr(motion, name)))]
    if bad:
        raise InputError(f"The motion file {path} has NaN or infinite values in {', '.join(bad)}.")
    return motion
