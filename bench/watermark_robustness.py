"""Watermark robustness, cost and false positives: prints the table of issue 5.

A stand-in for a generated clip: the frames of a real talking-head video (default shared/media/videos/v06), marked
and encoded as the pipeline does (libx264 CRF 18 veryfast). Each attack takes a 2-second excerpt of that MP4 and
transforms it the way a platform would; the detector must return the embedded id. False positives: detection on
unmarked frames (every portrait, the frames of every real video, synthetic noise) in groups, each group a clip.

    python bench/watermark_robustness.py [--video PATH] [--fp-frames 2000] [--fp-group 25]

Takes ~15 min on 2 busy cores (the false-positive part runs the full alignment search on every unmarked clip).
``python -m bench`` calls ``run()``; with ``--quick`` it tests 200 unmarked frames instead of 2000.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from safety.config import SafetyConfig  # noqa: E402
from safety.media import decode_image, read_video_frames  # noqa: E402
from safety.watermark import Watermarker  # noqa: E402

SHARED_MEDIA = ROOT.parent / "shared" / "media"
FPS = 25
EXCERPT_FRAMES = 2 * FPS  # the issue's "2-second excerpt"
PIPELINE_CRF = 18  # vasa_core.media.X264_CRF


def encode_h264(frames: np.ndarray, crf: int, preset: str = "veryfast") -> bytes:
    """(N, H, W, 3) uint8 RGB -> H.264 yuv420p MP4 bytes (even sizes)."""
    h, w = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f[:h, :w]), format="rgb24")))
        out.mux(stream.encode())
    return buf.getvalue()


def decode_h264(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def reencode(frames: np.ndarray, crf: int) -> np.ndarray:
    return decode_h264(encode_h264(frames, crf))


def downscale(frames: np.ndarray, height: int) -> np.ndarray:
    h, w = frames.shape[1:3]
    size = (round(w * height / h / 2) * 2, height)
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])


def jpeg(frames: np.ndarray, quality: int) -> np.ndarray:
    out = []
    for f in frames:
        ok, buf = cv2.imencode(".jpg", f[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        out.append(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return np.stack(out)


def crop(frames: np.ndarray, fraction: float) -> np.ndarray:
    """Keeps the centre (1 - fraction) of each side: fraction / 2 cut from every edge."""
    h, w = frames.shape[1:3]
    dy, dx = round(h * fraction / 2), round(w * fraction / 2)
    return frames[:, dy : h - dy, dx : w - dx]


def brightness_contrast(frames: np.ndarray, brightness: float, contrast: float) -> np.ndarray:
    """RGB' = (RGB - 128) * (1 + contrast) + 128 + 255 * brightness."""
    x = (frames.astype(np.float32) - 128.0) * (1.0 + contrast) + 128.0 + 255.0 * brightness
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


# name -> transform of the decoded 2-second excerpt (frames already through the pipeline's CRF 18 encode)
ATTACKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none (pipeline CRF 18)": lambda f: f,
    "H.264 CRF 23": lambda f: reencode(f, 23),
    "H.264 CRF 28": lambda f: reencode(f, 28),
    "H.264 CRF 32": lambda f: reencode(f, 32),
    "360p + CRF 23": lambda f: reencode(downscale(f, 360), 23),
    "JPEG q50 frames": lambda f: jpeg(f, 50),
    "10% crop + CRF 23": lambda f: reencode(crop(f, 0.10), 23),
    "brightness +10% + CRF 23": lambda f: reencode(brightness_contrast(f, 0.10, 0.0), 23),
    "brightness -10% + CRF 23": lambda f: reencode(brightness_contrast(f, -0.10, 0.0), 23),
    "contrast +10% + CRF 23": lambda f: reencode(brightness_contrast(f, 0.0, 0.10), 23),
    "contrast -10% + CRF 23": lambda f: reencode(brightness_contrast(f, 0.0, -0.10), 23),
}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def unmarked_clips(media: Path, limit: int, group: int) -> Iterator[tuple[str, np.ndarray]]:
    """(source, clip) of `group` unmarked frames until `limit` frames: each portrait (resized to 512 on the longer
    side, repeated as a still clip), consecutive frames of every real video (up to 80% of the limit), then
    synthetic noise (white, smooth, flat colour). A generator: 2000 frames do not fit in memory at once."""
    produced = 0
    for path in sorted((media / "portraits").glob("*")):
        img = decode_image(path.read_bytes())
        f = 512 / max(img.shape[:2])
        img = cv2.resize(img, (round(img.shape[1] * f), round(img.shape[0] * f)), interpolation=cv2.INTER_AREA)
        produced += group
        yield "portraits", np.repeat(img[None], group, axis=0)
    videos = sorted((media / "videos").glob("*.mp4")) + sorted((media / "videos_more").glob("*.mp4"))
    for path in videos:
        if produced >= limit * 0.8:
            break
        frames = np.stack(list(read_video_frames(path, max_frames=4 * group)))
        for i in range(0, len(frames) - group + 1, group):
            produced += group
            yield "real videos", frames[i : i + group]
    rng = np.random.default_rng(0)
    kind = 0
    while produced < limit:
        if kind == 0:
            noise = rng.integers(0, 256, (group, 512, 512, 3), dtype=np.uint8)
        elif kind == 1:
            small = rng.integers(0, 256, (group, 16, 16, 3), dtype=np.uint8)
            noise = np.stack([cv2.resize(s, (512, 512), interpolation=cv2.INTER_CUBIC) for s in small])
        else:
            noise = np.broadcast_to(rng.integers(0, 256, (1, 1, 1, 3), dtype=np.uint8), (group, 512, 512, 3)).copy()
        kind = (kind + 1) % 3
        produced += group
        yield "synthetic noise", noise


def measure(video: Path, media: Path, fp_frames: int, fp_group: int) -> list[dict]:
    """Prints the tables and returns them as rows (metric, value, unit, goal, passed, note) for ``python -m bench``."""
    wm = Watermarker(SafetyConfig.from_env({"VASA_DATA_DIR": "/nonexistent"}))
    source = np.stack(list(read_video_frames(video, max_frames=125)))
    wid = wm.new_id()
    size = f"{source.shape[2]}x{source.shape[1]}"

    wm.embed(source[:5], wid)  # warm-up: caches, allocator
    times = []
    cpu0 = time.process_time()
    for frame in source[:100]:
        t0 = time.perf_counter()
        wm.embed(frame[None], wid)
        times.append(time.perf_counter() - t0)
    cpu_ms = (time.process_time() - cpu0) * 1e3 / len(times)  # CPU consumed, all threads: the cost on a busy box
    wall = f"wall median {np.median(times) * 1e3:.2f} ms, fastest {min(times) * 1e3:.2f} ms"
    load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    quality = psnr(wm.embed(source, wid), source)
    print(f"input: {video.name} {size}, watermark id {wid}")
    print(f"embed at {size} (goal <= 10 ms): CPU time {cpu_ms:.2f} ms/frame, {wall} ({load})")
    print(f"PSNR {quality:.2f} dB over {len(source)} frames (goal >= 38)")
    rows = [
        dict(metric=f"watermark embed CPU time ({size})", value=cpu_ms, unit="ms/frame", goal="<= 10",
             passed=cpu_ms <= 10, note=f"{wall}; {load}"),
        dict(metric=f"watermark PSNR ({video.name})", value=quality, unit="dB", goal=">= 38", passed=quality >= 38,
             note=f"{len(source)} frames"),
    ]

    clip = decode_h264(encode_h264(wm.embed(source, wid), PIPELINE_CRF))
    excerpt = clip[FPS : FPS + EXCERPT_FRAMES]
    print(f"\n{'attack on a 2 s excerpt':28s} {'decoded':8s} {'z':>6s} {'conf':>5s} {'frames':>6s}  {'scale':>5s} "
          f"{'offset':>7s} {'gain':>4s} {'s':>5s}")
    for name, attack in ATTACKS.items():
        attacked = attack(excerpt)
        t0 = time.perf_counter()
        det = wm.detect(attacked)
        dt = time.perf_counter() - t0
        ok = det.found and det.watermark_id == wid
        print(f"{name:28s} {'yes' if ok else 'NO':8s} {det.z_score:6.1f} {det.confidence:5.2f} {det.frames_used:6d}  "
              f"{det.scale:5.2f} {str(det.offset_px):>7s} {det.chroma_gain:4.2f} {dt:5.1f}")
        rows.append(dict(metric=f"watermark decoded after {name}", value=det.z_score, unit="z", goal="id decoded",
                         passed=ok, note=f"2 s excerpt of {video.name}; confidence {det.confidence:.2f}; {dt:.1f} s"))
    print(f"rows passed: {sum(r['passed'] for r in rows[2:])}/{len(ATTACKS)}")

    if fp_frames == 0:
        return rows
    t0 = time.perf_counter()
    stats: dict[str, list[float]] = {}  # source -> [clips, frames, false positives, highest z]
    for source_name, unmarked in unmarked_clips(media, fp_frames, fp_group):
        det = wm.detect(unmarked)
        s = stats.setdefault(source_name, [0, 0, 0, -np.inf])
        s[0], s[1], s[2], s[3] = s[0] + 1, s[1] + len(unmarked), s[2] + det.found, max(s[3], det.z_score)
    print(f"\n{'unmarked source':18s} {'clips':>5s} {'frames':>6s} {'false +':>7s} {'max z':>6s}")
    for source_name, (n_clips, n_frames, found, max_z) in stats.items():
        print(f"{source_name:18s} {n_clips:5d} {n_frames:6d} {found:7d} {max_z:6.1f}")
    false_positives = int(sum(s[2] for s in stats.values()))
    n_frames = int(sum(s[1] for s in stats.values()))
    print(f"false positives: {false_positives} in {n_frames} frames ({time.perf_counter() - t0:.0f} s)")
    rows.append(dict(metric="watermark false positives on unmarked frames", value=float(false_positives), unit="clips",
                     goal="0 in >= 2000 frames", passed=false_positives == 0 and n_frames >= 2000,
                     note=f"{n_frames} frames in clips of {fp_group}: " + ", ".join(
                         f"{k} {int(v[1])} (max z {v[3]:.1f})" for k, v in stats.items())))
    return rows


def run(quick: bool = False, media_dir: Path = SHARED_MEDIA) -> list[dict]:
    """Entry point of ``python -m bench``: the full table, or with ``quick`` only 200 unmarked frames."""
    return measure(media_dir / "videos" / "v06_real_theresa_may.mp4", media_dir, 200 if quick else 2000, 25)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=SHARED_MEDIA / "videos" / "v06_real_theresa_may.mp4")
    parser.add_argument("--media", type=Path, default=SHARED_MEDIA, help="the shared test media folder")
    parser.add_argument("--fp-frames", type=int, default=2000, help="unmarked frames to test (0: skip that part)")
    parser.add_argument("--fp-group", type=int, default=25, help="frames per unmarked clip given to detect()")
    args = parser.parse_args()
    rows = measure(args.video, args.media, args.fp_frames, args.fp_group)
    robustness = [r for r in rows if r["unit"] in ("z", "clips", "dB")]  # embed time is reported, not gating
    return 0 if all(r["passed"] for r in robustness) else 1


if __name__ == "__main__":
    raise SystemExit(main())
