"""Command line: ``python -m vasa_core generate --image IMG --audio AUDIO --out OUT.mp4``.

Exit codes: 0 ok, 2 bad input, 3 refused by the safety policy, 4 output could not be written, 130 cancelled.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from .errors import VasaError
from .types import DEVICES, EMOTIONS, POLICIES, Controls, GenerationOptions

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vasa_core", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="portrait + voice -> watermarked, C2PA-signed MP4")
    g.add_argument("--image", required=True, type=Path, help="portrait: JPEG, PNG or WebP")
    g.add_argument("--audio", required=True, type=Path, help="voice: WAV, FLAC, MP3, M4A, OGG, WebM or a video")
    g.add_argument("--out", required=True, type=Path, help="output MP4 path")
    g.add_argument("--transcript", help="text of the speech (English): enables forced alignment")
    g.add_argument("--emotion", choices=EMOTIONS, default="neutral")
    g.add_argument("--emotion-intensity", type=float, default=0.5, metavar="0..1")
    g.add_argument("--gaze", type=float, nargs=2, default=(0.0, 0.0), metavar=("YAW", "PITCH"),
                   help="degrees; 0 0 = at the camera, positive yaw = to the image's right, positive pitch = up")
    g.add_argument("--distance", type=float, default=1.0, help="1 = as photographed, >1 closer, <1 farther")
    g.add_argument("--head-motion", type=float, default=1.0, help="0 = still head, 1 = natural")
    g.add_argument("--blink-rate", type=float, default=17.0, metavar="PER_MIN")
    g.add_argument("--lip-expressiveness", type=float, default=1.0, help="scales mouth shapes (0.5..1.5)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--size", type=int, default=512, help="longer output side in pixels")
    g.add_argument("--fps", type=int, default=25)
    g.add_argument("--framing", choices=("portrait", "head"), default="portrait",
                   help="whole photo, or a head-and-shoulders crop")
    g.add_argument("--device", choices=DEVICES, default="cpu")
    g.add_argument("--policy", choices=POLICIES, default="consent",
                   help="open: research use; consent: synthetic portrait or --consent; synthetic-only")
    g.add_argument("--consent", action="store_true",
                   help="I attest that the person shown consented to this use of their likeness")
    g.add_argument("--max-audio-seconds", type=float, default=600.0)
    g.add_argument("--motion", type=Path, help="render this saved motion (.npz) instead of generating one")
    g.add_argument("--save-motion", type=Path, help="also save the generated motion to this .npz file")
    g.add_argument("--report", type=Path, help="write the GenerationResult as JSON here")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def options_from_args(args: argparse.Namespace) -> GenerationOptions:
    """The one place where CLI flags become GenerationOptions."""
    controls = Controls(
        emotion=args.emotion,
        emotion_intensity=args.emotion_intensity,
        gaze_yaw=args.gaze[0],
        gaze_pitch=args.gaze[1],
        distance=args.distance,
        head_motion=args.head_motion,
        blink_rate=args.blink_rate,
        lip_expressiveness=args.lip_expressiveness,
        seed=args.seed,
    )
    return GenerationOptions(
        controls=controls,
        transcript=args.transcript,
        size=args.size,
        fps=args.fps,
        framing=args.framing,
        device=args.device,
        policy=args.policy,
        consent=args.consent,
        max_audio_s=args.max_audio_seconds,
        motion_path=args.motion,
        save_motion_path=args.save_motion,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        options = options_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.out.suffix.lower() != ".mp4":
        print(f"error: --out must end in .mp4, got '{args.out}'", file=sys.stderr)
        return EXIT_BAD_INPUT

    from tqdm import tqdm

    from .pipeline import TalkingHeadPipeline

    cancel = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: cancel.set())
    bar = tqdm(total=100, unit="%", disable=args.quiet, file=sys.stderr, bar_format="{l_bar}{bar}| {elapsed}")

    def progress(fraction: float, stage: str) -> None:
        bar.set_description(stage)
        bar.update(round(fraction * 100) - bar.n)

    try:
        with TalkingHeadPipeline() as pipeline:
            result = pipeline.generate(args.image, args.audio, args.out, options, progress=progress, cancel=cancel)
    except VasaError as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    bar.close()
    if args.report is not None:
        args.report.write_text(result.to_json())
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"{result.video_path}  {result.width}x{result.height} {result.num_frames} frames "
        f"watermark {result.watermark_id}  C2PA signed  generation {result.generation_id}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
