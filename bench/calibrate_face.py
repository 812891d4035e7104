"""Measure real talking faces to calibrate the renderer's expression amplitudes.

    python -m bench.calibrate_face [--media ../shared/media] [--frames 90]

Tracks the talking videos with our own face analysis and prints, per clip, the distribution of the inner-lip gap,
mouth width and eyelid gap (all per face height); then how the lips, chin and mouth corners share each unit of
opening (frames aligned on the upper face, least squares on the gap), next to what the renderer's jaw_open = 1
produces on the canonical face (vasa_core/render/expressions.py cites these numbers).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from vasa_core.analysis import face_geometry as fg
from vasa_core.analysis.face import FaceAnalyzer
from vasa_core.render.expressions import JAW_HINGE_CM, JAW_MAX_DEG, canonical_fields, jaw_bone_weights

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


# Upper-face landmarks (forehead, nose bridge and tip, eye corners, temples, brows) that speech does not move:
# frames are aligned on them to remove head motion before measuring the mouth.
RIGID = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 33, 133, 362, 263, 234, 454, 127, 356, 70, 300, 105, 334)
SHARE_POINTS = {"lower lip (14)": 14, "chin (152)": 152, "upper lip (13)": 13, "corner (61)": 61,
                "corner (291)": 291, "outer upper lip (0)": 0, "philtrum (164)": 164, "outer lower lip (17)": 17,
                "jaw side (172)": 172, "jaw side (397)": 397, "jaw (58)": 58, "jaw (288)": 288,
                "cheek (205)": 205, "cheek (425)": 425, "chin side (148)": 148, "chin side (377)": 377,
                "jaw line (176)": 176, "jaw line (150)": 150, "jaw line (136)": 136}


def to_canonical(landmarks: np.ndarray) -> np.ndarray:
    """(468, 3) landmarks in canonical cm (y up), aligned on the rigid upper face (similarity fit)."""
    src = fg.to_camera_frame(landmarks[: fg.NUM_MESH_POINTS]).astype(np.float64)
    dst = (fg.canonical_face().vertices @ fg.FLIP_YZ).astype(np.float64)
    a, b = src[list(RIGID)], dst[list(RIGID)]
    ma, mb = a.mean(0), b.mean(0)
    u, s, vt = np.linalg.svd((b - mb).T @ (a - ma))
    fix = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ fix @ vt
    scale = (s * np.diag(fix)).sum() / ((a - ma) ** 2).sum()
    return (scale * (src - ma) @ rot.T + mb) @ fg.FLIP_YZ


def opening_shares(tracks: np.ndarray) -> np.ndarray:
    """(468, 3) cm each vertex moves per cm of inner-lip gap (least squares over the clip's frames)."""
    lm = tracks[np.isfinite(tracks[:, 0, 0])]
    canon = np.stack([to_canonical(f) for f in lm])
    gap = np.linalg.norm(canon[:, fg.UPPER_LIP_CENTER] - canon[:, fg.LOWER_LIP_CENTER], axis=1)
    x = gap - gap.mean()
    return np.einsum("t,tvc->vc", x, canon - canon.mean(0)) / max(float(x @ x), 1e-9)


def canonical_jaw_open() -> tuple[float, np.ndarray]:
    """What jaw_open = 1 does on the canonical face (bone rotation + lip field): the inner-lip gap it adds per face
    height, and (468, 3) cm each vertex moves per cm of that gap (comparable with opening_shares)."""
    canon = fg.canonical_face().vertices
    t = np.radians(JAW_MAX_DEG)
    rot = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
    turned = (canon - JAW_HINGE_CM) @ rot.T + JAW_HINGE_CM
    moved = canon + jaw_bone_weights(canon)[:, None] * (turned - canon) + canonical_fields(canon)["jaw_open"]
    rest_gap = canon[fg.UPPER_LIP_CENTER, 1] - canon[fg.LOWER_LIP_CENTER, 1]
    gap = moved[fg.UPPER_LIP_CENTER, 1] - moved[fg.LOWER_LIP_CENTER, 1] - rest_gap
    face_h = canon[fg.FOREHEAD, 1] - canon[fg.CHIN, 1]
    return float(gap / face_h), (moved - canon) / gap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--media", type=Path, default=Path(os.environ.get("VASA_SHARED_MEDIA",
                                                                         ROOT.parent / "shared" / "media")))
    parser.add_argument("--frames", type=int, default=90)
    args = parser.parse_args()
    analyzer = FaceAnalyzer()
    clips = sorted(p for pattern in CLIPS for p in args.media.glob(pattern))
    all_gaps, shares = [], []
    for clip in clips:
        tracks = analyzer.track(read_frames(clip, args.frames))
        stats = clip_stats(tracks)
        shares.append(opening_shares(tracks))
        all_gaps.append(stats["gap"])
        g50, g95, gmax = np.percentile(stats["gap"], [50, 95, 100])
        w5, w95 = np.percentile(stats["width"], [5, 95])
        l5, l50 = np.percentile(stats["lid"], [5, 50])
        print(f"{clip.name[:34]:34s} n={len(stats['gap']):3d} lip gap p50 {g50:.3f} p95 {g95:.3f} max {gmax:.3f} | "
              f"mouth width p5 {w5:.3f} p95 {w95:.3f} | lid gap p5 {l5:.3f} p50 {l50:.3f}")
    gaps = np.concatenate(all_gaps)
    print(f"all clips: lip gap p95 {np.percentile(gaps, 95):.3f}, max {gaps.max():.3f} (per face height)")
    mean_share = np.mean(shares, axis=0)
    gap, ours = canonical_jaw_open()
    print("per cm of lip gap, each point moves (x, y up, z forward) cm: videos (mean over clips) | renderer")
    for label, idx in SHARE_POINTS.items():
        print(f"  {label:22s} {np.round(mean_share[idx], 2).tolist()} | {np.round(ours[idx], 2).tolist()}")
    print(f"renderer: jaw_open = 1 ({JAW_MAX_DEG:.1f} deg about the hinge + lip field) adds {gap:.3f}")

if __name__ == "__main__":
    main()
