"""The Generate tab: portrait + voice + controls -> a signed clip, with a progress bar by stage and a cancel button.

The handler is a coroutine that runs the blocking pipeline on a worker thread. Gradio cancels a request (the
Cancel button, ``Job.cancel()`` in gradio_client) by cancelling that coroutine; the handler then sets the
pipeline's cancel event, waits for the worker to stop at its next chunk, and lets the cancellation proceed,
so a cancelled job frees its CPU instead of rendering on unseen.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gradio as gr

from vasa_core.errors import InputError, PolicyRefusal, VasaError
from vasa_core.types import GenerationResult

from .about_tab import POLICY_NOTES
from .options import CONTROL_SLIDERS, DEFAULT_CONTROLS, EMOTION_CHOICES, options_from_ui
from .settings import DemoSettings
from .summary import provenance_markdown

log = logging.getLogger(__name__)

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "assets" / "examples"
EXAMPLE_PORTRAITS = ("woman_stylegan2.jpeg", "man_flux.png", "woman_digitalart.png")
EXAMPLE_AUDIO = "speech_en_jfk.flac"
OUTPUT_SUBDIR = "vasa-clips"  # inside Gradio's cache, so the clip is served as is and swept with the cache

# What the progress bar says during each pipeline stage (keys: the stages of vasa_core.pipeline).
STAGE_LABELS = {
    "decode": "Reading the files",
    "screening": "Screening the portrait",
    "face_analysis": "Analysing the face",
    "audio_analysis": "Listening to the voice",
    "motion": "Planning the motion",
    "render": "Rendering, watermarking and encoding",
    "sign": "Signing the C2PA manifest",
    "record": "Recording the clip in the registry",
    "done": "Done",
}

# Refusals stay on screen until closed (a message that fades while the visitor reads it does not teach), and
# they are expected outcomes, not server faults: no traceback in the log.
_PERSISTENT = {"duration": None, "print_exception": False}


class GenerateHandler:
    """Runs one generation per call on a bounded pool of worker threads (one per concurrency slot)."""

    def __init__(self, pipeline: Any, settings: DemoSettings, output_dir: Path) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.output_dir = output_dir
        self._executor = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="vasa-generate")

    async def generate(
        self,
        portrait: dict | None,
        audio: dict | None,
        transcript: str,
        emotion: str,
        emotion_intensity: float,
        gaze_yaw: float,
        gaze_pitch: float,
        distance: float,
        head_motion: float,
        blink_rate: float,
        lip_expressiveness: float,
        size: int,
        seed: float,
        consent: bool,
        progress: gr.Progress = gr.Progress(),
    ) -> tuple[str, str, str, dict]:
        """Inputs arrive unprocessed (the uploads' bytes exactly as sent, so screening sees their metadata).

        API callers may leave out every control: gradio_client fills in the component's initial value.
        """
        image_path = _uploaded_path(portrait, "portrait", "Upload a portrait (JPEG, PNG or WebP) or pick an example.")
        audio_path = _uploaded_path(audio, "voice", "Upload or record a voice (WAV, FLAC, MP3, M4A, OGG or WebM).")
        try:
            options = options_from_ui(
                self.settings, transcript=transcript, emotion=emotion, emotion_intensity=emotion_intensity,
                gaze_yaw=gaze_yaw, gaze_pitch=gaze_pitch, distance=distance, head_motion=head_motion,
                blink_rate=blink_rate, lip_expressiveness=lip_expressiveness, size=size, seed=seed, consent=consent,
            )
        except InputError as exc:
            raise gr.Error(str(exc), title="Cannot use this input", **_PERSISTENT) from exc

        self.output_dir.mkdir(parents=True, exist_ok=True)
        out_path = self.output_dir / f"talking-head-{uuid.uuid4().hex[:12]}.mp4"
        cancel = threading.Event()

        def report(fraction: float, stage: str) -> None:
            progress(fraction, desc=STAGE_LABELS.get(stage, stage))

        def work() -> GenerationResult:
            return self.pipeline.generate(
                image_path, audio_path, out_path, options, progress=report, cancel=cancel,
                image_name=_original_name(portrait), audio_name=_original_name(audio),
            )

        # The worker thread needs this request's context: gr.Progress finds its event through it.
        context = contextvars.copy_context()
        future = asyncio.get_running_loop().run_in_executor(self._executor, context.run, work)
        try:
            result = await asyncio.shield(future)
        except asyncio.CancelledError:
            cancel.set()
            try:
                await future
            except BaseException:  # the worker's GenerationCancelled, or whatever stopped it first
                pass
            out_path.unlink(missing_ok=True)  # finished just before the cancel landed: nobody will fetch it
            raise
        except InputError as exc:
            raise gr.Error(str(exc), title="Cannot use this input", **_PERSISTENT) from exc
        except PolicyRefusal as exc:
            raise gr.Error(str(exc), title="Refused by the safety policy", **_PERSISTENT) from exc
        except VasaError as exc:
            raise gr.Error(str(exc), title="Generation stopped", **_PERSISTENT) from exc
        except Exception as exc:
            log.exception("generation failed")
            raise gr.Error(
                "Something went wrong on the server while making this clip; nothing was kept. Please try again, "
                "and if it happens again tell the operator the time of this request.",
                title="Server error", print_exception=False,
            ) from exc
        clip = str(result.video_path)
        report = result.to_dict()
        report["video_path"] = result.video_path.name  # the server's folders are not the visitor's business
        return clip, clip, provenance_markdown(result), report


def _uploaded_path(payload: dict | None, what: str, hint: str) -> Path:
    if not payload or not payload.get("path"):
        raise gr.Error(f"No {what} was given. {hint}", title="Missing input", **_PERSISTENT)
    return Path(payload["path"])


def _original_name(payload: dict) -> str:
    return payload.get("orig_name") or Path(payload["path"]).name


def build_generate_tab(handler: GenerateHandler, settings: DemoSettings) -> None:
    """Lays out the tab inside the current gr.Blocks and wires its events."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            with gr.Row(equal_height=False):
                with gr.Column(min_width=280):
                    gr.Markdown("**1. A portrait** - a photo or picture with one clear face.")
                    portrait = gr.Image(
                        label="Portrait", type="filepath", image_mode=None, sources=["upload", "clipboard"],
                        height=260, elem_id="portrait",
                    )
                    gr.Examples(
                        examples=[[str(EXAMPLES_DIR / name)] for name in EXAMPLE_PORTRAITS],
                        inputs=[portrait],
                        label="Example portraits (AI-generated: no real person)",
                    )
                with gr.Column(min_width=280):
                    gr.Markdown(f"**2. A voice** - speech or singing, any language, up to {settings.max_audio_s:g} s.")
                    audio = gr.Audio(label="Voice", type="filepath", sources=["upload", "microphone"],
                                     elem_id="voice")
                    gr.Examples(
                        examples=[[str(EXAMPLES_DIR / EXAMPLE_AUDIO)]],
                        inputs=[audio],
                        label="Example voice",
                        example_labels=["J.F. Kennedy, 11 s (public domain)"],
                    )
                    transcript = gr.Textbox(
                        label="Transcript (optional, English)", value="", lines=2, elem_id="transcript",
                        placeholder="The words spoken, if you have them: the lips then follow each sound more "
                                    "exactly.",
                    )
            with gr.Accordion("3. Controls (optional): emotion, gaze, head distance and motion, blinks, size",
                              open=False):
                emotion = gr.Radio(list(EMOTION_CHOICES), value=DEFAULT_CONTROLS.emotion, label="Emotion")
                with gr.Row():
                    sliders = {
                        name: gr.Slider(spec.minimum, spec.maximum, value=spec.default, step=spec.step,
                                        label=spec.label, info=spec.info, min_width=220)
                        for name, spec in CONTROL_SLIDERS.items()
                    }
                with gr.Row():
                    size = gr.Radio(list(settings.size_choices), value=settings.size_choices[-1],
                                    label="Size (pixels, longer side)", info="smaller is faster")
                    seed = gr.Number(value=DEFAULT_CONTROLS.seed, precision=0, label="Seed",
                                     info="same seed and inputs, same clip")
            gr.Markdown(POLICY_NOTES[settings.policy])
            consent = gr.Checkbox(
                label="I attest that the person shown is AI-generated, or agreed to be animated by this tool.",
                value=False, visible=settings.policy == "consent", elem_id="consent",
            )
            with gr.Row():
                generate = gr.Button("Generate", variant="primary", elem_id="generate", scale=3)
                cancel = gr.Button("Cancel", variant="secondary", elem_id="cancel", scale=1)
        with gr.Column(scale=2):
            video = gr.Video(label="Your clip", autoplay=True, buttons=["download"], interactive=False, height=420,
                             elem_id="result-video")
            download = gr.DownloadButton("Download the signed MP4", visible=False, elem_id="download")
            status = gr.Markdown(elem_id="status")
            provenance = gr.Markdown(elem_id="provenance")
            with gr.Accordion("Full generation report (JSON)", open=False):
                report = gr.JSON(label="Report")

    # Layout-only listeners (private: the API has just /generate and /verify): the download button shows once
    # there is a clip, and a new run clears the last run's status.
    generate.click(lambda: ("", gr.DownloadButton(visible=False)), outputs=[status, download],
                   api_visibility="private", queue=False)
    job = generate.click(
        handler.generate,
        # In the order of GenerateHandler.generate's parameters (CONTROL_SLIDERS lists the sliders in that order).
        inputs=[portrait, audio, transcript, emotion, *sliders.values(), size, seed, consent],
        outputs=[video, download, provenance, report],
        api_name="generate",
        api_description="Portrait + voice -> (video, download, provenance summary, report). See the README's section on the hosted demo.",
        preprocess=False,
        concurrency_limit=settings.concurrency,
        concurrency_id="generate",
        show_progress_on=[video],
    )
    job.success(lambda: gr.DownloadButton(visible=True), outputs=[download], api_visibility="private", queue=False)
    cancel.click(
        lambda: "Cancelled: the job was stopped and nothing was kept.",
        outputs=[status],
        cancels=[job],
        api_visibility="private",
        queue=False,
    )
