"""Measure real talking faces to calibrate the renderer's expression amplitudes.

    python -m bench.calibrate_face [--media ../shared/media] [--frames 90]

Tracks the talking videos with our own face analysis and prints, per clip, the distribution of the inner-lip gap,
mouth width and eyelid gap (all per face height), next to what the renderer's jaw_open = 1 produces on the
canonical face (vasa_core/render/expressions.py cites these numbers).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from vasa_core.analysis import face_geometry as fg
from vasa_core.analysis.face import FaceAnalyzer
from vasa_core.render.expressions import JAW_HINGE_CM, JAW_MAX_DEG

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ("videos/*.mp4", "videos_more/mead_W023_surprised_L2_010.mp4", "videos_more/mead_M003_happy_L1_024.mp4")


def read_frames(path: Path, count: int, every: int = 2) -> list[np.ndarray]:
    import av

    frames = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % every == 0:
                frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) >= count:
                break
    return frames


def clip_stats(tracks: np.ndarray) -> dict[str, np.ndarray]:
    lm = tracks[np.isfinite(tracks[:, 0, 0])]
    face_h = np.linalg.norm(lm[:, fg.CHIN, :2] - lm[:, fg.FOREHEAD, :2], axis=1)
    gap = np.linalg.norm(lm[:, fg.UPPER_LIP_CENTER, :2] - lm[:, fg.LOWER_LIP_CENTER, :2], axis=1) / face_h
    width = np.linalg.norm(lm[:, 61, :2] - lm[:, 291, :2], axis=1) / face_h
    lids = np.stack([np.linalg.norm(lm[:, u, :2] - lm[:, lo, :2], axis=1) for u, lo in fg.EYE_LID_MID], 1)
    return {"gap": gap, "width": width, "lid": lids.mean(1) / face_h}


def canonical_jaw_gap() -> float:
    """Inner-lip gap per face height that jaw_open = 1 adds on the canonical face (rotation about the hinge)."""
    canon = fg.canonical_face().vertices
    rel = canon[fg.LOWER_LIP_CENTER, 1:] - JAW_HINGE_CM[1:]
    t = np.radians(JAW_MAX_DEG)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    drop = rel[0] - (rot @ rel)[0]
    face_h = canon[fg.FOREHEAD, 1] - canon[fg.CHIN, 1]
    return float(drop / face_h)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--media", type=Path, default=Path(os.environ.get("VASA_SHARED_MEDIA",
                                                                         ROOT.parent / "shared" / "media")))
    parser.add_argument("--frames", type=int, default=90)
    args = parser.parse_args()
    analyzer = FaceAnalyzer()
    clips = sorted(p for pattern in CLIPS for p in args.media.glob(pattern))
    all_gaps = []
    for clip in clips:
        stats = clip_stats(analyzer.track(read_frames(clip, args.frames)))
        all_gaps.append(stats["gap"])
        g50, g95, gmax = np.percentile(stats["gap"], [50, 95, 100])
        w5, w95 = np.percentile(stats["width"], [5, 95])
        l5, l50 = np.percentile(stats["lid"], [5, 50])
        print(f"{clip.name[:34]:34s} n={len(stats['gap']):3d} lip gap p50 {g50:.3f} p95 {g95:.3f} max {gmax:.3f} | "
              f"mouth width p5 {w5:.3f} p95 {w95:.3f} | lid gap p5 {l5:.3f} p50 {l50:.3f}")
    gaps = np.concatenate(all_gaps)
    print(f"all clips: lip gap p95 {np.percentile(gaps, 95):.3f}, max {gaps.max():.3f} (per face height)")
    print(f"renderer: jaw_open = 1 ({JAW_MAX_DEG:.0f} deg about the hinge) adds {canonical_jaw_gap():.3f}")


if __name__ == "__main__":
    main()
