"""Speed: end-to-end real-time factor (cold CLI and warm API), per-stage times, stage frame rates, the encoder limit.

Real-time factor (RTF) = wall seconds / audio seconds: 0.5 means a 10 s clip is ready in 5 s. The "physical
limit" is the time to encode the same number of frames of the still portrait with the same encoder settings
(vasa_core.media.Mp4Writer): no pipeline can beat it without a faster encoder, so our time is shown as a
multiple of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .report import ROOT, Row, failed_row, goal_at_most

SIZES = (256, 512, 1024)  # px, longer output side (issue 7)
DURATIONS = (10.0, 60.0)  # s of speech (issue 7)
QUICK_SIZES = (256, 512)
QUICK_DURATIONS = (10.0,)
GOAL_SIZE, GOAL_DURATION, GOAL_RTF = 512, 10.0, 0.5  # issue 7: cold CLI at 512 px, 10 s, 2 cores: <= 0.5
GOAL_FIRST_FRAME_MS = 170.0  # VASA-1's streaming latency on an RTX 4090
STREAM_CHUNK_S = 0.2  # audio per push in the streaming measurement (a typical microphone callback size)
FPS = 25  # the pipeline's default output rate
STAGE_FRAMES, QUICK_STAGE_FRAMES = 250, 50  # frames timed per stage (render, watermark, encode)
WARMUP_AUDIO_S = 2.0  # a short generation that loads lazy parts before warm timings
RSS_POLL_S = 0.05  # s between samples of the CLI's process-tree memory


@dataclass(frozen=True)
class Inputs:
    """The files every speed and memory run uses (the project's own fixtures, so they always exist)."""

    portrait: Path  # image file
    speech: dict[float, Path]  # seconds -> WAV of exactly that length


@dataclass(frozen=True)
class CliRun:
    """One cold run of ``python -m vasa_core generate`` in a fresh process."""

    wall_s: float  # including interpreter start and model loading
    peak_rss_bytes: int  # largest VmHWM (peak RSS since exec) of the CLI process or one of its workers
    tree_peak_rss_bytes: int  # largest summed RSS of the CLI and its workers, sampled every RSS_POLL_S
    report: dict  # its --report JSON (GenerationResult), {} when it failed
    returncode: int
    stderr_tail: str


def make_speech(source: Path, seconds: float, out: Path) -> Path:
    """A mono 16-bit WAV of exactly ``seconds``, the source speech repeated (long-audio runs need no extra media)."""
    from scipy.io import wavfile

    from vasa_core import media

    clip = media.read_audio(source)
    n = int(round(seconds * clip.sample_rate))
    reps = int(np.ceil(n / len(clip.samples)))
    samples = np.tile(clip.samples, reps)[:n]
    out.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(out, clip.sample_rate, (np.clip(samples, -1, 1) * 32767).astype(np.int16))
    return out


def run_cli(image: Path, audio: Path, out: Path, size: int) -> CliRun:
    """Time the CLI as a user runs it, sampling its processes' memory meanwhile."""
    report = out.with_suffix(".json")
    cmd = [sys.executable, "-m", "vasa_core", "generate", "--image", str(image), "--audio", str(audio),
           "--out", str(out), "--size", str(size), "--policy", "open", "--quiet", "--report", str(report)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peaks = {"hwm": 0, "sum": 0}
    sampler = threading.Thread(target=_sample_memory, args=(proc.pid, peaks), daemon=True)
    sampler.start()
    with proc.stderr:
        stderr = proc.stderr.read().decode(errors="replace")  # drained before waiting: a full pipe would block it
    proc.wait()
    wall = time.perf_counter() - start
    sampler.join()
    data = json.loads(report.read_text()) if proc.returncode == 0 and report.is_file() else {}
    tail = " ".join(line for line in stderr.strip().splitlines()[-3:] if line.strip())
    return CliRun(wall, peaks["hwm"], peaks["sum"], data, proc.returncode, tail)


def _sample_memory(pid: int, peaks: dict[str, int]) -> None:
    """Until pid exits, every RSS_POLL_S: peaks["hwm"] = the largest VmHWM of pid or a descendant, peaks["sum"] =
    the largest summed current RSS of them.

    VmHWM is the kernel's own peak RSS of a process since its exec, so it misses no spike; os.wait4's ru_maxrss
    would not do: it also counts the pages the child shared with this (large) benchmark process before its exec.
    """
    import psutil

    try:
        root = psutil.Process(pid)
        while root.status() != psutil.STATUS_ZOMBIE:
            total = 0
            for p in [root, *root.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                    peaks["hwm"] = max(peaks["hwm"], vm_hwm_bytes(p.pid))
                except (psutil.Error, OSError):  # a worker that ended between listing and reading
                    pass
            peaks["sum"] = max(peaks["sum"], total)
            time.sleep(RSS_POLL_S)
    except psutil.Error:  # the CLI has exited
        pass


def vm_hwm_bytes(pid: int) -> int:
    """A process's peak resident set since its exec (/proc/PID/status VmHWM), 0 once it has released its memory."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024  # the kernel reports kB
    return 0


def cli_error(run: CliRun) -> RuntimeError:
    return RuntimeError(f"CLI exited {run.returncode}: {run.stderr_tail or 'no message'}")


def run(inputs: Inputs, quick: bool, out_dir: Path, pipeline_factory) -> tuple[list[Row], dict]:
    sizes = QUICK_SIZES if quick else SIZES
    durations = QUICK_DURATIONS if quick else DURATIONS
    rows: list[Row] = []
    details: dict = {"warm": {}, "cli": {}, "stages": {}}

    try:
        pipeline = pipeline_factory()
    except Exception as exc:
        pipeline = None
        rows.append(failed_row("speed", "warm API (pipeline construction)", exc))
    warm: dict[tuple[int, float], float] = {}
    if pipeline is not None:
        rows += _warm_rows(pipeline, inputs, sizes, durations, out_dir, warm, details)

    cli_cases = [(GOAL_SIZE, GOAL_DURATION)] if quick else [(s, d) for d in durations for s in sizes]
    cli: dict[tuple[int, float], float] = {}
    for size, seconds in cli_cases:
        label = f"end-to-end RTF, CLI cold, {seconds:g} s speech, {size} px"
        goal = size == GOAL_SIZE and seconds == GOAL_DURATION
        try:
            result = run_cli(inputs.portrait, inputs.speech[seconds], out_dir / f"cli_{size}_{seconds:g}s.mp4", size)
            if result.returncode != 0:
                raise cli_error(result)
        except Exception as exc:
            rows.append(failed_row("speed", label, exc))
            continue
        rtf = result.wall_s / seconds
        cli[(size, seconds)] = result.wall_s
        details["cli"][f"{size}px_{seconds:g}s"] = {
            "wall_s": result.wall_s,
            "peak_rss_bytes": result.peak_rss_bytes,
            "stages": {t["stage"]: t["seconds"] for t in result.report.get("timings", [])},
        }
        rows.append(Row("speed", label, rtf, "x real time", f"<= {GOAL_RTF}" if goal else "",
                        goal_at_most(rtf, GOAL_RTF) if goal else None,
                        f"{result.wall_s:.1f} s wall incl. model loading and signing"))
        stages = details["cli"][f"{size}px_{seconds:g}s"]["stages"]
        if goal and stages:
            startup = result.wall_s - sum(stages.values())
            rows.append(Row("speed", f"CLI start-up and model loading ({seconds:g} s speech, {size} px)", startup, "s",
                            note=f"{100 * startup / result.wall_s:.0f}% of the cold run: wall minus the stages"))

    rows += _stage_fps_rows(pipeline, inputs, quick, details)
    rows += _limit_rows(inputs, warm, cli, details)
    rows.extend(_first_frame_row(pipeline, inputs, out_dir))
    rows.append(_cuda_row(pipeline, inputs, out_dir))
    return rows, details


def _warm_rows(pipeline, inputs: Inputs, sizes, durations, out_dir: Path, warm: dict, details: dict) -> list[Row]:
    from vasa_core.types import GenerationOptions

    rows = []
    warmup = make_speech(inputs.speech[min(inputs.speech)], WARMUP_AUDIO_S, out_dir / "speech_warmup.wav")
    for size in sizes:
        label0 = f"end-to-end RTF, API warm, {{:g}} s speech, {size} px"
        try:
            pipeline.generate(inputs.portrait, warmup, out_dir / f"warmup_{size}.mp4",
                              GenerationOptions(size=size, policy="open"))
        except Exception as exc:
            rows.append(failed_row("speed", label0.format(durations[0]), exc))
            continue
        for seconds in durations:
            try:
                start = time.perf_counter()
                result = pipeline.generate(inputs.portrait, inputs.speech[seconds],
                                           out_dir / f"warm_{size}_{seconds:g}s.mp4",
                                           GenerationOptions(size=size, policy="open"))
                wall = time.perf_counter() - start
            except Exception as exc:
                rows.append(failed_row("speed", label0.format(seconds), exc))
                continue
            warm[(size, seconds)] = wall
            stages = {t.stage: t.seconds for t in result.timings}
            details["warm"][f"{size}px_{seconds:g}s"] = {"wall_s": wall, "frames": result.num_frames}
            details["stages"][f"{size}px_{seconds:g}s"] = stages
            rows.append(Row("speed", label0.format(seconds), wall / seconds, "x real time",
                            note=f"{wall:.1f} s wall, {result.num_frames} frames {result.width}x{result.height}"))
            if size == GOAL_SIZE and seconds == GOAL_DURATION:
                total = sum(stages.values()) or 1.0
                for stage, secs in stages.items():
                    rows.append(Row("speed", f"stage time: {stage} ({seconds:g} s speech, {size} px)", secs, "s",
                                    note=f"{100 * secs / total:.0f}% of the stages' total"))
    return rows


def _stage_fps_rows(pipeline, inputs: Inputs, quick: bool, details: dict) -> list[Row]:
    """Frames per second of render, watermark and encode alone, at 512 px, on frames of the real motion."""
    n = QUICK_STAGE_FRAMES if quick else STAGE_FRAMES
    try:
        frames, render_fps, source, clip = _rendered_frames(pipeline, inputs, n)
    except Exception as exc:
        return [failed_row("speed", f"stage fps at {GOAL_SIZE} px", exc)]
    rows = [Row("speed", f"render fps ({GOAL_SIZE} px)", render_fps, "fps", note=f"{n} frames, {source}")
            if render_fps is not None else Row("speed", f"render fps ({GOAL_SIZE} px)", None, "fps",
                                               text="not run", note=source)]
    try:
        from safety.config import SafetyConfig
        from safety.watermark import Watermarker

        marker = Watermarker(SafetyConfig.from_env())
        wid = marker.new_id()
        start = time.perf_counter()
        marked = marker.embed(frames, wid)
        wm_fps = n / (time.perf_counter() - start)
        rows.append(Row("speed", f"watermark fps ({GOAL_SIZE} px)", wm_fps, "fps", note=f"{n} frames"))
    except Exception as exc:
        marked = frames
        rows.append(failed_row("speed", f"watermark fps ({GOAL_SIZE} px)", exc))
    try:
        encode_s = encode_seconds(marked, clip)
        rows.append(Row("speed", f"encode fps ({GOAL_SIZE} px, H.264 + AAC)", n / encode_s, "fps",
                        note=f"{n} frames through vasa_core.media.Mp4Writer"))
    except Exception as exc:
        rows.append(failed_row("speed", f"encode fps ({GOAL_SIZE} px)", exc))
    details["stage_fps_frames"] = n
    return rows


def _rendered_frames(pipeline, inputs: Inputs, n: int):
    """(frames (n, H, W, 3) uint8, render fps or None, what the frames are, the audio clip).

    Uses the pipeline's own models when it exists, else builds the stages directly, so that the render, watermark
    and encode rates are measured even while other parts of the pipeline are missing.
    """
    from vasa_core import media
    from vasa_core.analysis.face import FaceAnalyzer

    clip = media.read_audio(inputs.speech[GOAL_DURATION])
    image = media.read_image(inputs.portrait)
    analysis = (pipeline.face_analyzer if pipeline is not None else FaceAnalyzer()).analyze(image, size=GOAL_SIZE)
    try:
        from vasa_core.analysis.audio import AudioAnalyzer
        from vasa_core.motion import ProceduralMotionGenerator
        from vasa_core.render import Renderer
        from vasa_core.types import Controls

        audio_analyzer = pipeline.audio_analyzer if pipeline is not None else AudioAnalyzer()
        generator = pipeline.motion_generator if pipeline is not None else ProceduralMotionGenerator()
        features = audio_analyzer.analyze(clip, fps=FPS)
        motion = generator.generate(features, analysis, Controls()).slice(0, n)
        renderer = Renderer(analysis)
        renderer.render(motion.slice(0, 2))  # first call may compile or allocate; not what a frame costs
        start = time.perf_counter()
        frames = renderer.render(motion)
        return frames, n / (time.perf_counter() - start), "motion of 10 s speech", clip
    except Exception as exc:
        still = np.repeat(analysis.image[None], n, axis=0)
        return still, None, f"renderer failed ({type(exc).__name__}: {exc}); watermark and encode on the still", clip


def encode_seconds(frames: np.ndarray, clip) -> float:
    """Wall seconds to encode frames (and their audio) with the pipeline's own writer and settings."""
    import tempfile

    from vasa_core import media

    h, w = frames.shape[1:3]
    with tempfile.TemporaryDirectory(prefix="bench-encode-") as tmp:
        start = time.perf_counter()
        with media.Mp4Writer(Path(tmp) / "still.mp4", w, h, FPS, clip) as writer:
            for i in range(0, len(frames), 50):
                writer.write(frames[i : i + 50])
        return time.perf_counter() - start


def still_encode_seconds(portrait: Path, audio: Path, size: int) -> tuple[float, int]:
    """(seconds, frames): the still portrait at ``size`` encoded for the audio's length (the physical limit)."""
    import math

    import cv2

    from vasa_core import media

    clip = media.read_audio(audio)
    image = media.read_image(portrait)
    h, w = media.fit_size(image.shape[0], image.shape[1], size)
    frame = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    n = max(1, math.ceil(clip.duration_s * FPS - 1e-9))
    return encode_seconds(np.broadcast_to(frame, (n, h, w, 3)), clip), n


def _limit_rows(inputs: Inputs, warm: dict, cli: dict, details: dict) -> list[Row]:
    """The still-image encode time for every measured case (always at least the goal case) and our ratio to it."""
    rows = []
    for size, seconds in sorted(set(warm) | set(cli) | {(GOAL_SIZE, GOAL_DURATION)}):
        try:
            limit, n = still_encode_seconds(inputs.portrait, inputs.speech[seconds], size)
        except Exception as exc:
            rows.append(failed_row("speed", f"still-image encode limit, {seconds:g} s, {size} px", exc))
            continue
        details.setdefault("limit", {})[f"{size}px_{seconds:g}s"] = {"seconds": limit, "frames": n}
        note = f"still portrait, {n} frames, same encoder ({n / limit:.0f} fps)"
        rows.append(Row("speed", f"still-image encode limit, {seconds:g} s speech, {size} px", limit / seconds,
                        "x real time", note=note))
        for kind, table in (("API warm", warm), ("CLI cold", cli)):
            if (size, seconds) in table:
                rows.append(Row("speed", f"time vs still-image encode limit, {kind}, {seconds:g} s, {size} px",
                                table[(size, seconds)] / limit, "x limit", note=f"limit {limit:.2f} s"))
    return rows


def _first_frame_row(pipeline, inputs: Inputs, out_dir: Path) -> list[Row]:
    """Live mode at 512 px with 200 ms audio chunks: compute latency of the first frame, and the push cost."""
    label = "first-frame latency, streaming API"
    if pipeline is None:
        return [Row("speed", label, None, "ms", f"<= {GOAL_FIRST_FRAME_MS:g}", None, text="not run",
                    note="pipeline unavailable")]
    from vasa_core import media
    from vasa_core.streaming import STREAM_LOOKAHEAD_FRAMES
    from vasa_core.types import GenerationOptions

    try:
        clip = media.read_audio(inputs.speech[GOAL_DURATION])
        step = round(STREAM_CHUNK_S * clip.sample_rate)
        options = GenerationOptions(size=GOAL_SIZE, policy="open")
        first_ms, pushes = None, []
        with pipeline.open_stream(inputs.portrait, out_dir / "stream_512.mp4", clip.sample_rate, options) as session:
            for i in range(0, len(clip.samples), step):
                start = time.perf_counter()
                frames = session.push(clip.samples[i : i + step])
                pushes.append(time.perf_counter() - start)
                if first_ms is None and len(frames):
                    first_ms = 1000.0 * pushes[-1]
            session.finish()
    except Exception as exc:
        return [failed_row("speed", label, exc)]
    hold_ms = 1000.0 * STREAM_LOOKAHEAD_FRAMES / options.fps
    return [
        Row("speed", label, first_ms, "ms", f"<= {GOAL_FIRST_FRAME_MS:g}", goal_at_most(first_ms, GOAL_FIRST_FRAME_MS),
            note=f"from pushing the first {STREAM_CHUNK_S * 1000:.0f} ms audio chunk to its first watermarked frame, "
                 f"{GOAL_SIZE} px; frames also trail their audio by the {hold_ms:.0f} ms look-ahead"),
        Row("speed", f"streaming real-time factor, {GOAL_DURATION:g} s speech, {GOAL_SIZE} px",
            sum(pushes) / GOAL_DURATION, "x real time", note=f"mean push {1000 * np.mean(pushes):.0f} ms per "
            f"{STREAM_CHUNK_S * 1000:.0f} ms chunk; below 1 keeps up with live audio"),
    ]


def _cuda_row(pipeline, inputs: Inputs, out_dir: Path) -> Row:
    label = f"end-to-end RTF, API warm, CUDA, {GOAL_DURATION:g} s speech, {GOAL_SIZE} px"
    try:
        import torch

        available = torch.cuda.is_available()
    except Exception:
        available = False
    if not available:
        return Row("speed", label, None, "x real time", text="n/a (no CUDA on this machine)")
    if pipeline is None:
        return Row("speed", label, None, "x real time", text="not run", note="pipeline unavailable")
    from vasa_core.types import GenerationOptions

    try:
        options = GenerationOptions(size=GOAL_SIZE, policy="open", device="cuda")
        pipeline.generate(inputs.portrait, inputs.speech[GOAL_DURATION], out_dir / "cuda_warmup.mp4", options)
        start = time.perf_counter()
        pipeline.generate(inputs.portrait, inputs.speech[GOAL_DURATION], out_dir / "cuda.mp4", options)
        wall = time.perf_counter() - start
    except Exception as exc:
        return failed_row("speed", label, exc)
    return Row("speed", label, wall / GOAL_DURATION, "x real time", note=f"{wall:.1f} s wall")
