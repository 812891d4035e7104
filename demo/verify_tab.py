"""The Verify tab: an MP4 or an image -> the verifier's report, readable, with the raw JSON."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from safety.config import SafetyConfig
from safety.verify import verify_file

from .settings import DemoSettings
from .summary import verification_markdown

MEDIA_TYPES = [".mp4", ".mov", ".m4v", ".webm", ".mkv", ".jpg", ".jpeg", ".png", ".webp"]


class VerifyHandler:
    def __init__(self, config: SafetyConfig) -> None:
        self.config = config

    def verify(self, media: str | None) -> tuple[str, dict]:
        """A clip or image -> (summary in Markdown, the report as JSON in schema vasa-verify/1)."""
        if not media:
            raise gr.Error("No file was given. Upload an MP4 or an image to verify.", title="Missing input",
                           duration=None, print_exception=False)
        try:
            report = verify_file(Path(media), self.config)
        except ValueError as exc:  # safety's error for unreadable media (it cannot import vasa_core's errors)
            raise gr.Error(f"This file cannot be read as a video or an image: {exc}. Upload an MP4, MOV, WebM, "
                           "JPEG, PNG or WebP file.", title="Cannot verify", duration=None,
                           print_exception=False) from exc
        raw = report.to_dict()
        # The server's upload folder means nothing to the visitor, and gradio_client would try to download any
        # {"path": str} object in a result: the schema's file.path is null here.
        raw["file"]["path"] = None
        return verification_markdown(report), raw


def build_verify_tab(handler: VerifyHandler, settings: DemoSettings) -> None:
    gr.Markdown(
        "Drop a clip or an image to check whether this studio made it. The verifier reads the **C2PA manifest** "
        "(removed by most re-uploads) and the **invisible watermark** (meant to survive them), and looks the "
        "watermark up in this server's registry."
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            media = gr.File(label="Clip or image", file_types=MEDIA_TYPES, elem_id="verify-file")
            run = gr.Button("Verify", variant="primary", elem_id="verify")
        with gr.Column(scale=1):
            summary = gr.Markdown(elem_id="verify-summary")
            with gr.Accordion("Raw report (JSON)", open=False):
                raw = gr.JSON(label="Verification report")
    run.click(
        handler.verify,
        inputs=[media],
        outputs=[summary, raw],
        api_name="verify",
        api_description="A clip or image -> (summary in Markdown, verification report as JSON).",
        concurrency_limit=settings.concurrency,
        concurrency_id="verify",
    )
