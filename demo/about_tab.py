"""The About tab: what the safeguards do and do not do, in plain words."""

from __future__ import annotations

import gradio as gr

from .settings import DemoSettings

# What each screening policy asks of a visitor (shown above the Generate button and in this tab).
POLICY_NOTES = {
    "open": "Research mode: any portrait with one clear face, except the protected people the operator listed.",
    "consent": "A portrait is animated only if it carries proof of being AI-generated (a C2PA manifest, a generator's "
               "watermark or metadata) or if you tick the box below. The example portraits are on this server's list "
               "of known AI-generated images. Protected people are always refused.",
    "synthetic-only": "Only portraits that carry evidence of being AI-generated are accepted (C2PA, generator "
                      "watermark or metadata). Photos of real people are refused.",
}

ABOUT = """
### What this studio does
It turns one portrait and one voice recording into a video of that face speaking or singing the audio:
lip movements, blinks, brows and head motion are all driven by the sound. The face you see is your portrait's
own pixels moved by a 3D face mesh; only the inside of the mouth is added when it opens.

### The safeguards, and what they do
- **Screening before anything is made.** The portrait must show exactly one usable face. This server's policy
  is **`{policy}`**: {policy_note}
- **An invisible watermark in every frame.** It carries an id that leads back to the record of this clip, and it
  is built to survive re-encoding, resizing and moderate cropping by video platforms.
- **A signed C2PA manifest.** The MP4 says, in an industry-standard signed record, that it is AI-generated, which
  software made it, from which inputs (by hash), with which settings, and what the screening decided.
- **A registry and a verifier.** Every clip is recorded; the Verify tab (and `python -m safety.verify`) reads
  both the manifest and the watermark, so a clip whose manifest was stripped is still traced.

### What they do not do
- **They cannot check that consent is real.** The consent box is your word; the record keeps it, and you are
  responsible for it.
- **Screening is evidence, not proof.** A photo without camera metadata is not thereby synthetic, and face
  matching against protected people can miss a face or match the wrong one.
- **The voice is not checked.** Nothing verifies whose voice you uploaded or what it says.
- **Provenance can be lost.** Most re-uploads remove the C2PA manifest; heavy cropping, strong filters or
  re-generation by another model can destroy the watermark. Finding no watermark proves nothing about a clip.
- **A development server signs with an untrusted certificate.** Its manifests read back as *Valid* but not
  *Trusted*; only an operator's own certificate makes them *Trusted*.

### Your files
Uploads and clips stay on this server for about {keep_minutes} minutes so that you can download them, then
they are deleted. The registry keeps hashes of the inputs, the settings (with any transcript) and the screening
decision, not the files.
"""


def build_about_tab(settings: DemoSettings) -> None:
    gr.Markdown(ABOUT.format(policy=settings.policy, policy_note=POLICY_NOTES[settings.policy],
                             keep_minutes=max(1, round(settings.keep_files_s / 60))))
