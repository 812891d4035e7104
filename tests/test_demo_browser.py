"""The demo in a real browser: Debian's headless Chromium (scripts/install-system-deps.sh), driven by Playwright.

Playwright never downloads a browser here: it launches /usr/bin/chromium. Set VASA_UPDATE_SCREENSHOTS=1 to
write the screenshots to docs/ (the README shows them); otherwise they go to the test's temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .test_demo import PORTRAIT, ROOT, SPEECH, start_server, unlisted_portrait, wait_for_condition, write_speech

pytestmark = [pytest.mark.cpu, pytest.mark.browser]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}
PAGE_TIMEOUT_MS = 60_000
GENERATE_TIMEOUT_MS = 180_000
UPDATE_SCREENSHOTS = os.environ.get("VASA_UPDATE_SCREENSHOTS") == "1"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # The largest size offered is the default choice: 256 px keeps the test fast; the README's screenshots show
    # the 512 px a visitor gets by default.
    max_size = "512" if UPDATE_SCREENSHOTS else "256"
    s = start_server(tmp_path_factory.mktemp("demo-browser"), "--max-size", max_size, "--policy", "consent")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: run scripts/install-system-deps.sh (Debian's chromium package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser, server):
    context = browser.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    pg.set_default_timeout(PAGE_TIMEOUT_MS)
    pg.goto(server.url)
    pg.wait_for_selector("#generate")
    yield pg
    context.close()


@pytest.fixture(scope="module")
def screenshots_dir(tmp_path_factory) -> Path:
    if UPDATE_SCREENSHOTS:
        return ROOT / "docs"
    return tmp_path_factory.mktemp("screenshots")


def _upload(page, elem_id: str, path: Path) -> None:
    page.locator(f"#{elem_id} input[type=file]").set_input_files(str(path))


def _assert_not_blank(png: Path) -> None:
    pixels = np.asarray(Image.open(png).convert("L"), dtype=np.float32)
    assert pixels.std() > 10, f"{png} looks blank"


def test_generate_in_the_browser_plays_a_clip_and_verifies_it(page, tmp_path, screenshots_dir):
    speech = write_speech(tmp_path / "speech.wav", 2.0)
    _upload(page, "portrait", PORTRAIT)
    _upload(page, "voice", speech)
    page.locator("#consent input[type=checkbox]").check()
    page.locator("#generate").click()

    video = page.locator("#result-video video")
    video.wait_for(timeout=GENERATE_TIMEOUT_MS)
    page.wait_for_function(
        "() => { const v = document.querySelector('#result-video video');"
        " return v && v.currentSrc && v.readyState >= 2 && v.duration > 1.5; }",
        timeout=GENERATE_TIMEOUT_MS,
    )
    assert video.evaluate("v => v.autoplay && !v.muted"), "the clip should autoplay with its sound"
    page.locator("#provenance").get_by_text("Invisible watermark").wait_for()
    assert "C2PA manifest" in page.locator("#provenance").inner_text()
    assert page.locator("#download").is_visible()
    video.evaluate("v => { v.pause(); v.currentTime = 1.0; }")  # a mid-sentence frame for the screenshot
    page.wait_for_function("() => document.querySelector('#result-video video').seeking === false")
    shot = screenshots_dir / "screenshot-generate.png"
    page.screenshot(path=str(shot), full_page=True)
    _assert_not_blank(shot)

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(page.request.get(video.evaluate("v => v.currentSrc")).body())  # as a visitor downloads it
    page.get_by_role("tab", name="Verify").click()
    _upload(page, "verify-file", clip)
    page.locator("#verify").click()
    page.locator("#verify-summary").get_by_text("Made with this studio").wait_for(timeout=GENERATE_TIMEOUT_MS)
    page.get_by_text("Raw report (JSON)").click()
    shot = screenshots_dir / "screenshot-verify.png"
    page.screenshot(path=str(shot), full_page=True)
    _assert_not_blank(shot)


def test_a_refused_upload_shows_its_message(page, tmp_path):
    """No evidence that the portrait is synthetic and no consent ticked: the policy's reason is shown."""
    _upload(page, "portrait", unlisted_portrait(tmp_path))
    _upload(page, "voice", write_speech(tmp_path / "speech.wav", 1.0))
    page.locator("#generate").click()
    toast = page.get_by_test_id("toast-text").first
    toast.wait_for(timeout=GENERATE_TIMEOUT_MS)
    assert "refused" in toast.inner_text().lower() and "consent" in toast.inner_text().lower()
    assert "Traceback" not in page.content()
    assert page.locator("#result-video video").count() == 0


def test_cancel_in_the_browser_stops_the_job(page, server):
    before = server.clips()
    _upload(page, "portrait", PORTRAIT)
    _upload(page, "voice", SPEECH)
    page.locator("#consent input[type=checkbox]").check()
    page.locator("#generate").click()
    page.get_by_text("Rendering, watermarking and encoding").first.wait_for(timeout=GENERATE_TIMEOUT_MS)
    # Cancel once the encoder's work file exists: had the job carried on, that file would only vanish once the
    # signed clip was written next to it, so the checks below tell "stopped" from "finished".
    wait_for_condition(lambda: server.temporary() != [], "the encoder to start", timeout_s=60)
    page.locator("#cancel").click()
    page.locator("#status").get_by_text("nothing was kept").wait_for()
    wait_for_condition(lambda: server.temporary() == [], "the partial file to be removed", timeout_s=30)
    assert server.clips() == before
    assert page.locator("#result-video video").count() == 0
