"""The one place that runs the data flow of DESIGN.md, top to bottom."""

from __future__ import annotations

import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from safety.config import SafetyConfig
from safety.media import sha256_hex
from safety.provenance import ManifestInputs, Signer
from safety.registry import GenerationRecord, Registry
from safety.screening import Screener, ScreeningReport
from safety.watermark import Watermarker

from . import __version__, media
from .analysis.audio import ANALYSIS_RATE, AudioAnalyzer
from .analysis.face import FaceAnalyzer
from .errors import GenerationCancelled, InputError, PolicyRefusal
from .motion import MotionGenerator, ProceduralMotionGenerator, load_motion, save_motion
from .render import Renderer
from .streaming import StreamSession
from .types import GenerationOptions, GenerationResult, MotionSequence, PortraitAnalysis, StageTiming, to_jsonable

ProgressCallback = Callable[[float, str], None]  # (fraction done 0..1, stage name)
SOFTWARE_AGENT = "vasa-studio"

# Share of the progress bar before each stage; rendering fills the gap up to "sign".
_PROGRESS = {
    "decode": 0.0,
    "screening": 0.02,
    "face_analysis": 0.05,
    "audio_analysis": 0.12,
    "motion": 0.2,
    "stream": 0.25,
    "render": 0.25,
    "sign": 0.96,
    "record": 0.99,
}


class TalkingHeadPipeline:
    """Loads every model once; ``generate`` turns a portrait and a voice into a signed MP4.

    Thread-safe: calls may come from several threads (the demo's workers). The screening, face and audio models
    are shared behind one lock; rendering, watermarking and encoding run concurrently.
    """

    def __init__(
        self,
        safety_config: SafetyConfig | None = None,
        motion_generator: MotionGenerator | None = None,
    ) -> None:
        self.config = safety_config or SafetyConfig.from_env()
        self.screener = Screener(self.config)
        self.face_analyzer = FaceAnalyzer()
        self.audio_analyzer = AudioAnalyzer()
        self.motion_generator = motion_generator or ProceduralMotionGenerator()
        self.watermarker = Watermarker(self.config)
        self.signer = Signer(self.config)
        self.registry = Registry(self.config.registry_url)
        self._models_lock = threading.Lock()

    def close(self) -> None:
        """Stops the phone-recognition worker processes; the pipeline cannot be used afterwards."""
        self.audio_analyzer.close()

    def __enter__(self) -> TalkingHeadPipeline:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def generate(
        self,
        image: Path | str | bytes,
        audio: Path | str | bytes,
        out_path: Path | str,
        options: GenerationOptions = GenerationOptions(),
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        image_name: str | None = None,
        audio_name: str | None = None,
    ) -> GenerationResult:
        """Run the whole data flow. Raises InputError (bad input), PolicyRefusal, GenerationCancelled."""
        out_path = Path(out_path)
        clock = _StageClock(progress)
        image_bytes, image_name = _as_bytes(image, image_name, "portrait")
        audio_source, audio_name = _as_source(audio, audio_name, "audio")

        # 1. Decode both inputs: bad files are refused before any model runs.
        with clock("decode"):
            portrait = media.read_image(image_bytes, name=image_name)
            # At the analysis rate: a long recording is never held at its own rate (the encoder decodes it again).
            clip = media.read_audio(audio_source, max_s=options.max_audio_s, name=audio_name, rate=ANALYSIS_RATE)

        # 2. Screen the portrait under the policy: nothing is generated from a refused upload.
        screening = self._screen(image_bytes, options, clock)

        # 3. Analyse the face once: landmarks, pose, matte, clean plate, mesh.
        analysis = self._analyse_face(portrait, options, clock)

        # 4. Analyse the voice per output frame: loudness, voicing, pitch, formants, phones.
        with clock("audio_analysis"), self._models_lock:
            features = self.audio_analyzer.analyze(clip, fps=options.fps, transcript=options.transcript)
        del clip  # everything downstream works from the features

        # 5. Turn voice and controls into motion (or take the motion file the user gave).
        with clock("motion"):
            motion = self._motion(features, analysis, options)
            if options.save_motion_path is not None:
                save_motion(motion, options.save_motion_path)

        # 6. Render, watermark and encode chunk by chunk, so memory stays flat for long audio.
        watermark_id = self.watermarker.new_id()
        unsigned = media.partial_path(out_path, "unsigned")
        with clock("render"):
            renderer = Renderer(analysis, device=options.device)
            try:
                self._render_to_mp4(
                    renderer, analysis, motion, (audio_source, audio_name), watermark_id, unsigned, options, clock,
                    cancel,
                )
            except BaseException:
                unsigned.unlink(missing_ok=True)
                raise

        # 7-8. Sign the MP4 (C2PA: inputs, controls, screening, watermark) and record it in the registry.
        generation_id, manifest = self._sign_and_record(
            unsigned, out_path, watermark_id, (image_bytes, image_name), (audio_source, audio_name),
            options, screening, clock,
        )
        clock.done()

        return GenerationResult(
            video_path=out_path,
            generation_id=generation_id,
            watermark_id=watermark_id,
            width=analysis.width,
            height=analysis.height,
            fps=options.fps,
            num_frames=motion.num_frames,
            duration_s=motion.num_frames / options.fps,
            options=options,
            screening=screening,
            manifest=manifest,
            timings=tuple(clock.timings),
            warnings=analysis.warnings + features.warnings,
        )

    def open_stream(
        self,
        image: Path | str | bytes,
        out_path: Path | str,
        sample_rate: int,
        options: GenerationOptions = GenerationOptions(),
        image_name: str | None = None,
    ) -> StreamSession:
        """Live generation: screen and analyse the portrait now, then push audio and get frames back.

        The same safeguards as ``generate``: frames are watermarked before they are returned, and
        ``StreamSession.finish()`` signs and records the MP4 of the whole session.
        """
        clock = _StageClock(None)
        image_bytes, image_name = _as_bytes(image, image_name, "portrait")
        with clock("decode"):
            portrait = media.read_image(image_bytes, name=image_name)
        screening = self._screen(image_bytes, options, clock)
        analysis = self._analyse_face(portrait, options, clock)
        return StreamSession(self, (image_bytes, image_name), screening, analysis, Path(out_path), sample_rate,
                             options, clock)

    def _screen(self, image_bytes: bytes, options: GenerationOptions, clock: _StageClock) -> ScreeningReport:
        with clock("screening"), self._models_lock:
            screening = self.screener.screen(image_bytes, options.policy, options.consent)
        _raise_if_refused(screening)
        return screening

    def _analyse_face(self, portrait: np.ndarray, options: GenerationOptions, clock: _StageClock) -> PortraitAnalysis:
        with clock("face_analysis"), self._models_lock:
            return self.face_analyzer.analyze(portrait, size=options.size, framing=options.framing)

    def _sign_and_record(
        self,
        unsigned: Path,
        out_path: Path,
        watermark_id: str,
        portrait: tuple[bytes, str],
        audio: tuple[bytes | Path, str],
        options: GenerationOptions,
        screening: ScreeningReport,
        clock: _StageClock,
    ) -> tuple[str, object]:
        """Signs ``unsigned`` into ``out_path`` and records it; on any failure neither clip nor record is left."""
        generation_id = uuid.uuid4().hex
        with clock("sign"):
            try:
                manifest = self.signer.sign(
                    unsigned,
                    out_path,
                    ManifestInputs(
                        generation_id=generation_id,
                        watermark_id=watermark_id,
                        portrait=portrait[0],
                        portrait_filename=portrait[1],
                        audio=audio[0],
                        audio_filename=audio[1],
                        controls=to_jsonable(options),
                        screening=screening,
                        software_name=SOFTWARE_AGENT,
                        software_version=__version__,
                        title=out_path.name,
                    ),
                )
            finally:
                unsigned.unlink(missing_ok=True)
        with clock("record"):
            try:
                self.registry.record(
                    GenerationRecord(
                        generation_id=generation_id,
                        watermark_id=watermark_id,
                        portrait_sha256=sha256_hex(portrait[0]),
                        audio_sha256=sha256_hex(audio[0]),
                        options=to_jsonable(options),
                        screening=to_jsonable(screening),
                        manifest=to_jsonable(manifest),
                        software=f"{SOFTWARE_AGENT} {__version__}",
                        video_sha256=sha256_hex(out_path),
                    )
                )
            except BaseException:
                out_path.unlink(missing_ok=True)
                raise
        return generation_id, manifest

    def _motion(self, features, analysis, options: GenerationOptions) -> MotionSequence:
        if options.motion_path is None:
            return self.motion_generator.generate(features, analysis, options.controls)
        motion = load_motion(options.motion_path)
        if motion.fps != options.fps:
            raise InputError(
                f"The motion file {options.motion_path} is at {motion.fps} fps but the output is {options.fps} fps. "
                f"Pass --fps {motion.fps:g} or regenerate the motion."
            )
        if motion.num_frames < features.num_frames:
            pad = features.num_frames - motion.num_frames
            raise InputError(
                f"The motion file {options.motion_path} has {motion.num_frames} frames, {pad} fewer than the "
                f"audio's {features.num_frames} at {options.fps} fps. Use a motion file at least as long as the audio."
            )
        return motion.slice(0, features.num_frames)

    def _render_to_mp4(
        self,
        renderer: Renderer,
        analysis: PortraitAnalysis,
        motion: MotionSequence,
        audio: tuple[bytes | Path, str],
        watermark_id: str,
        path: Path,
        options: GenerationOptions,
        clock: _StageClock,
        cancel: threading.Event | None,
    ) -> None:
        n = motion.num_frames
        # The audio is decoded again, piece by piece at its own rate, just ahead of the frames it plays under:
        # the output keeps the recording's quality and no whole-clip copy exists (115 MB at 48 kHz for 10 min).
        pieces = media.iter_audio(audio[0], name=audio[1])
        fed_s = 0.0
        with media.Mp4Writer(path, analysis.width, analysis.height, options.fps) as writer:
            for start in range(0, n, options.chunk_frames):
                if cancel is not None and cancel.is_set():
                    raise GenerationCancelled("Generation cancelled; nothing was kept.")
                stop = min(n, start + options.chunk_frames)
                while fed_s < stop / options.fps or stop == n:  # the last chunk takes the tail (the writer trims)
                    piece = next(pieces, None)
                    if piece is None:
                        break
                    writer.add_audio(piece)
                    fed_s += piece.duration_s
                writer.write(self.watermarker.embed(renderer.render(motion.slice(start, stop)), watermark_id))
                clock.within("render", stop / n)


def _raise_if_refused(report: ScreeningReport) -> None:
    if report.allowed:
        return
    if report.refusal == "input":
        raise InputError(report.reason)
    raise PolicyRefusal(report.reason)


def _as_bytes(data: Path | str | bytes, name: str | None, kind: str) -> tuple[bytes, str]:
    source, name = _as_source(data, name, kind)
    return (source if isinstance(source, bytes) else source.read_bytes()), name


def _as_source(data: Path | str | bytes, name: str | None, kind: str) -> tuple[bytes | Path, str]:
    """Bytes as given, or a path left on disk (an hour of WAV need not sit in memory)."""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data), name or kind
    path = Path(data)
    if not path.is_file():
        raise InputError(f"The {kind} file '{path}' does not exist or is not a file.")
    return path, name or path.name


class _StageClock:
    """Times each stage and reports progress as (fraction, stage) to the caller's callback."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self._callback = callback
        self.timings: list[StageTiming] = []

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        self._report(_PROGRESS[stage], stage)
        start = time.perf_counter()
        yield
        self.timings.append(StageTiming(stage, time.perf_counter() - start))

    def within(self, stage: str, fraction: float) -> None:
        stages = list(_PROGRESS)
        lo, hi = _PROGRESS[stage], _PROGRESS[stages[stages.index(stage) + 1]]
        self._report(lo + (hi - lo) * float(np.clip(fraction, 0.0, 1.0)), stage)

    def done(self) -> None:
        self._report(1.0, "done")

    def _report(self, fraction: float, stage: str) -> None:
        if self._callback is not None:
            self._callback(fraction, stage)
