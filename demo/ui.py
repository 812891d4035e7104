"""Builds the demo's gr.Blocks from the three tabs and configures its queue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from .about_tab import build_about_tab
from .generate_tab import EXAMPLES_DIR, OUTPUT_SUBDIR, GenerateHandler, build_generate_tab
from .settings import DemoSettings
from .verify_tab import VerifyHandler, build_verify_tab

TITLE = "Talking-head studio"
INTRO = (
    "# Talking-head studio\n"
    "Give it **a portrait** and **a voice**, press **Generate**: you get a video of that face speaking, with an "
    "invisible watermark in every frame and a signed C2PA manifest that says it is AI-generated. "
    "The **Verify** tab checks any clip; **About** says what the safeguards do and do not do."
)
# How often Gradio's sweeper looks for expired uploads and clips (their age limit is DemoSettings.keep_files_s).
SWEEP_INTERVAL_S = 60


def build_demo(pipeline: Any, settings: DemoSettings) -> gr.Blocks:
    """The whole demo around one loaded TalkingHeadPipeline; the queue is bounded and sized by ``settings``."""
    with gr.Blocks(
        title=TITLE, analytics_enabled=False,
        delete_cache=(min(SWEEP_INTERVAL_S, settings.keep_files_s), settings.keep_files_s),
    ) as demo:
        gr.Markdown(INTRO)
        with gr.Tab("Generate", id="generate"):
            # Clips are written straight into Gradio's cache: served without a copy, swept with the uploads.
            output_dir = Path(get_upload_folder()) / OUTPUT_SUBDIR
            build_generate_tab(GenerateHandler(pipeline, settings, output_dir), settings)
        with gr.Tab("Verify", id="verify"):
            build_verify_tab(VerifyHandler(pipeline.config), settings)
        with gr.Tab("About", id="about"):
            build_about_tab(settings)
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=settings.concurrency)
    return demo


def launch(demo: gr.Blocks, settings: DemoSettings) -> None:
    """Serves the demo with the operator's host, port and upload limit; returns when the server stops.

    The upload limit is enforced by the server while the upload streams in (HTTP 413), before the file reaches
    the cache or a decoder; gradio_client checks it too before sending.
    """
    demo.launch(
        server_name=settings.host,
        server_port=settings.port,
        max_file_size=settings.max_upload_bytes,
        allowed_paths=[str(EXAMPLES_DIR)],
        footer_links=["api"],
    )
