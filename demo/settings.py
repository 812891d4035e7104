"""How an operator configures the hosted demo: command-line flags, each with an environment variable.

A flag wins over its environment variable, which wins over the default. The safety settings (registry URL,
signing certificate and key) are the ``VASA_*`` variables that ``safety.config.SafetyConfig.from_env`` reads;
the flags here override them for this process only.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from safety.config import SafetyConfig
from vasa_core.types import DEVICES, POLICIES

# Gradio's own variables, honoured so that the demo runs unchanged on Hugging Face Spaces.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
# One CPU generation keeps about four cores busy (renderer, watermark, 2 encoder threads): more jobs than that
# on a CPU box only slow each other down. A GPU renders fast and the CPU encoder becomes the limit: two jobs.
CPU_CORES_PER_JOB = 4
GPU_CONCURRENCY = 2
# Waiting requests beyond the running ones; the next one gets a "busy" answer instead of an endless wait.
DEFAULT_QUEUE_SIZE = 8
# A 12-megapixel JPEG is ~5 MB, one minute of FLAC speech ~4 MB: 25 MB leaves room without inviting abuse.
DEFAULT_MAX_UPLOAD_MB = 25.0
# A hosted visitor's clip: one minute of audio is ~25 s of rendering on a 4-core CPU at 512 px.
DEFAULT_MAX_AUDIO_S = 60.0
# Output sizes a visitor can pick (longer side, pixels); the operator caps them with --max-size.
SIZE_CHOICES = (256, 384, 512, 768, 1024)
DEFAULT_MAX_SIZE = 512
# Uploads and finished clips stay downloadable this long, then Gradio's cache sweeper deletes them.
DEFAULT_KEEP_FILES_S = 3600


@dataclass(frozen=True)
class DemoSettings:
    """Everything the demo needs besides the pipeline. Sizes in bytes, durations in seconds."""

    host: str = DEFAULT_HOST  # interface to listen on; 0.0.0.0 on a server or a Space
    port: int = DEFAULT_PORT  # TCP port
    policy: str = "consent"  # screening policy, one of vasa_core.types.POLICIES
    device: str = "cpu"  # where the renderer runs, one of vasa_core.types.DEVICES
    queue_size: int = DEFAULT_QUEUE_SIZE  # requests that may wait; more get a "busy" answer
    concurrency: int = 1  # generation jobs that run at the same time
    max_upload_bytes: int = int(DEFAULT_MAX_UPLOAD_MB * 1e6)  # per uploaded file, refused before decoding
    max_audio_s: float = DEFAULT_MAX_AUDIO_S  # longer voices are refused before any work
    max_size: int = DEFAULT_MAX_SIZE  # largest output size offered (longer side, pixels)
    keep_files_s: int = DEFAULT_KEEP_FILES_S  # how long uploads and clips stay on disk
    registry_url: str | None = None  # overrides VASA_REGISTRY_URL
    signing_cert: Path | None = None  # overrides VASA_SIGNING_CERT
    signing_key: Path | None = None  # overrides VASA_SIGNING_KEY

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"policy={self.policy!r} is not one of {', '.join(POLICIES)}")
        if self.device not in DEVICES:
            raise ValueError(f"device={self.device!r} is not one of {', '.join(DEVICES)}")
        for name in ("queue_size", "concurrency", "max_upload_bytes", "keep_files_s"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be at least 1")
        if self.max_audio_s < 1:
            raise ValueError(f"max_audio_s={self.max_audio_s!r} must be at least 1 second")
        if self.max_size not in SIZE_CHOICES:
            raise ValueError(f"max_size={self.max_size!r} is not one of {', '.join(map(str, SIZE_CHOICES))}")

    @property
    def size_choices(self) -> tuple[int, ...]:
        return tuple(s for s in SIZE_CHOICES if s <= self.max_size)

    def safety_config(self, environ: dict[str, str] | None = None) -> SafetyConfig:
        """The safety configuration from the environment, with this process's flags on top."""
        env = dict(os.environ if environ is None else environ)
        overrides = {
            "VASA_REGISTRY_URL": self.registry_url,
            "VASA_SIGNING_CERT": self.signing_cert,
            "VASA_SIGNING_KEY": self.signing_key,
        }
        env.update({name: str(value) for name, value in overrides.items() if value is not None})
        return SafetyConfig.from_env(env)


def default_concurrency(device: str, cpu_count: int | None = None) -> int:
    """Generation jobs that fit the device (see CPU_CORES_PER_JOB and GPU_CONCURRENCY)."""
    if device == "cuda":
        return GPU_CONCURRENCY
    return max(1, (cpu_count or os.cpu_count() or 1) // CPU_CORES_PER_JOB)


def build_parser(environ: dict[str, str] | None = None) -> argparse.ArgumentParser:
    env = os.environ if environ is None else environ

    def default(*names: str, fallback: object = None) -> object:
        return next((env[n] for n in names if env.get(n)), fallback)

    p = argparse.ArgumentParser(
        prog="python app.py",
        description="The hosted demo: portrait + voice -> a watermarked, C2PA-signed talking-head video. "
                    "Each flag has an environment variable; the flag wins.",
    )
    p.add_argument("--host", default=default("VASA_HOST", "GRADIO_SERVER_NAME", fallback=DEFAULT_HOST),
                   help="interface to listen on, 0.0.0.0 to serve others (env VASA_HOST or GRADIO_SERVER_NAME; "
                        "default %(default)s)")
    p.add_argument("--port", type=int, default=default("VASA_PORT", "GRADIO_SERVER_PORT", fallback=DEFAULT_PORT),
                   help="TCP port (env VASA_PORT or GRADIO_SERVER_PORT; default %(default)s)")
    p.add_argument("--policy", choices=POLICIES, default=default("VASA_POLICY", fallback="consent"),
                   help="screening policy: open = research; consent = synthetic portrait or the visitor's consent "
                        "attestation; synthetic-only = provably synthetic portraits only (env VASA_POLICY; "
                        "default %(default)s)")
    p.add_argument("--device", choices=DEVICES, default=default("VASA_DEVICE", fallback="cpu"),
                   help="where the renderer runs (env VASA_DEVICE; default %(default)s)")
    p.add_argument("--queue-size", type=int, default=default("VASA_QUEUE_SIZE", fallback=DEFAULT_QUEUE_SIZE),
                   help="requests that may wait for a free slot; more are told the app is busy "
                        "(env VASA_QUEUE_SIZE; default %(default)s)")
    p.add_argument("--concurrency", type=int, default=default("VASA_CONCURRENCY"),
                   help=f"generation jobs at the same time (env VASA_CONCURRENCY; default one per "
                        f"{CPU_CORES_PER_JOB} CPU cores, {GPU_CONCURRENCY} on cuda)")
    p.add_argument("--max-upload-mb", type=float,
                   default=default("VASA_MAX_UPLOAD_MB", fallback=DEFAULT_MAX_UPLOAD_MB),
                   help="largest upload per file in MB, refused before it is stored or decoded "
                        "(env VASA_MAX_UPLOAD_MB; default %(default)s)")
    p.add_argument("--max-audio-seconds", type=float,
                   default=default("VASA_MAX_AUDIO_S", fallback=DEFAULT_MAX_AUDIO_S),
                   help="longest voice accepted (env VASA_MAX_AUDIO_S; default %(default)s)")
    p.add_argument("--max-size", type=int, choices=SIZE_CHOICES,
                   default=default("VASA_MAX_SIZE", fallback=DEFAULT_MAX_SIZE),
                   help="largest output size offered, longer side in pixels (env VASA_MAX_SIZE; default %(default)s)")
    p.add_argument("--keep-files-seconds", type=int,
                   default=default("VASA_KEEP_FILES_S", fallback=DEFAULT_KEEP_FILES_S),
                   help="uploads and clips are deleted this long after they were made "
                        "(env VASA_KEEP_FILES_S; default %(default)s)")
    p.add_argument("--registry-url",
                   help="SQLAlchemy URL of the generation registry (env VASA_REGISTRY_URL; default SQLite in "
                        "VASA_DATA_DIR)")
    p.add_argument("--signing-cert", type=Path,
                   help="PEM certificate chain, leaf first, for C2PA signing (env VASA_SIGNING_CERT; default an "
                        "untrusted development chain)")
    p.add_argument("--signing-key", type=Path,
                   help="PKCS#8 PEM private key of the signing certificate (env VASA_SIGNING_KEY)")
    return p


def parse_settings(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> DemoSettings:
    """Flags and environment -> DemoSettings; exits with a usage message on a bad value, as argparse does."""
    parser = build_parser(environ)
    args = parser.parse_args(argv)
    try:
        return DemoSettings(
            host=args.host,
            port=args.port,
            policy=args.policy,
            device=args.device,
            queue_size=args.queue_size,
            concurrency=args.concurrency if args.concurrency is not None else default_concurrency(args.device),
            max_upload_bytes=int(args.max_upload_mb * 1e6),
            max_audio_s=args.max_audio_seconds,
            max_size=args.max_size,
            keep_files_s=args.keep_files_seconds,
            registry_url=args.registry_url,
            signing_cert=args.signing_cert,
            signing_key=args.signing_key,
        )
    except ValueError as exc:
        parser.error(str(exc))
