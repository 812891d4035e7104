"""Where the safety package keeps its state and which keys it uses, read from the environment.

Environment variables (all optional):

- ``VASA_DATA_DIR``: data directory (development certificate chain, SQLite registry, gallery cache);
  default ``~/.local/share/vasa``.
- ``VASA_REGISTRY_URL``: any SQLAlchemy URL; default ``sqlite:///<data dir>/registry.sqlite3``.
- ``VASA_SIGNING_CERT`` / ``VASA_SIGNING_KEY``: PEM certificate chain (leaf first) and PKCS#8 PEM private key of
  the operator. Unset: a local development chain is generated in the data directory (untrusted by design).
- ``VASA_SIGNING_ALG``: C2PA signing algorithm of the operator key (``es256`` default, ``es384``, ``ps256``,
  ``ed25519`` ...).
- ``VASA_TRUST_ANCHORS``: PEM file of root certificates whose chains the verifier reports as Trusted.
- ``VASA_PROTECTED_GALLERY``: folder of photos of protected people (``<name>.jpg`` or ``<name>/*.jpg``).
- ``VASA_ARCFACE_MODEL``: path of an insightface ArcFace ONNX model; unset: dlib's 128-d embedding.
- ``VASA_KNOWN_SYNTHETIC``: JSON file ``{"<sha256 of the file>": "where it came from"}`` of images the operator
  vouches are AI-generated (its own example portraits); default the list shipped with this package, which names the
  project's example portraits. Matching bytes count as synthetic evidence, labelled as the operator's word.
- ``VASA_WATERMARK_KEY``: secret that keys the watermark's whitening; default the public project key, so that any
  auditor can read the watermarks of the public build.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Public key of the open-source build: anyone can detect (not forge a registry record for) its watermarks.
PUBLIC_WATERMARK_KEY = b"vasa-studio/watermark/v1"
DEFAULT_DATA_DIR = Path("~/.local/share/vasa")
DEFAULT_KNOWN_SYNTHETIC = Path(__file__).with_name("known_synthetic.json")
SIGNING_ALGS = ("es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519")

# A remote signer: gets the bytes to sign, returns the raw signature in the configured algorithm.
SignCallback = Callable[[bytes], bytes]


@dataclass(frozen=True)
class SafetyConfig:
    """Everything the safety package needs besides the media it looks at."""

    data_dir: Path  # created on demand; holds dev-certs/, registry.sqlite3, gallery-cache/
    registry_url: str  # SQLAlchemy URL
    signing_cert: Path | None = None  # PEM chain, leaf first; None = development chain in data_dir
    signing_key: Path | None = None  # PKCS#8 PEM; None with a callback or with the development chain
    signing_alg: str = "es256"
    sign_callback: SignCallback | None = field(default=None, compare=False)  # remote signer, with signing_cert
    trust_anchors: Path | None = None  # PEM roots; chains ending at one read back Trusted
    protected_gallery: Path | None = None  # folder of photos of people who must never be animated
    arcface_model: Path | None = None  # insightface ArcFace ONNX file on disk; None = dlib embedding
    watermark_key: bytes = PUBLIC_WATERMARK_KEY
    known_synthetic: Path | None = None  # JSON {sha256 hex: source} of images the operator vouches are AI-made

    def __post_init__(self) -> None:
        if self.signing_alg not in SIGNING_ALGS:
            raise ValueError(f"signing_alg={self.signing_alg!r} is not one of {', '.join(SIGNING_ALGS)}")
        if (self.signing_key is not None or self.sign_callback is not None) and self.signing_cert is None:
            raise ValueError(
                "a signing key or callback was configured without its certificate chain: "
                "set VASA_SIGNING_CERT to the PEM chain (leaf first) that belongs to the key"
            )
        if self.signing_cert is not None and self.signing_key is None and self.sign_callback is None:
            raise ValueError(
                "a signing certificate was configured without its key: set VASA_SIGNING_KEY (PKCS#8 PEM) "
                "or pass sign_callback"
            )
        if not self.watermark_key:
            raise ValueError("watermark_key must not be empty")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> SafetyConfig:
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("VASA_DATA_DIR") or DEFAULT_DATA_DIR).expanduser()

        def path(name: str) -> Path | None:
            value = env.get(name)
            return Path(value).expanduser() if value else None

        key = env.get("VASA_WATERMARK_KEY")
        return cls(
            data_dir=data_dir,
            registry_url=env.get("VASA_REGISTRY_URL") or f"sqlite:///{data_dir / 'registry.sqlite3'}",
            signing_cert=path("VASA_SIGNING_CERT"),
            signing_key=path("VASA_SIGNING_KEY"),
            signing_alg=env.get("VASA_SIGNING_ALG", "es256").lower(),
            trust_anchors=path("VASA_TRUST_ANCHORS"),
            protected_gallery=path("VASA_PROTECTED_GALLERY"),
            arcface_model=path("VASA_ARCFACE_MODEL"),
            watermark_key=key.encode() if key else PUBLIC_WATERMARK_KEY,
            known_synthetic=path("VASA_KNOWN_SYNTHETIC") or DEFAULT_KNOWN_SYNTHETIC,
        )
