"""C2PA signing of output MP4s and reading of manifests (MP4s and JPEG/PNG/WebP images) with c2pa-python.

Every output carries: a ``c2pa.created`` action with digitalSourceType trainedAlgorithmicMedia and the software
agent, the portrait and the audio as ``inputTo`` ingredients, an ``org.vasa-studio.generation`` assertion with the
generation id, the SHA-256 of both inputs, the controls and the screening decision, and a ``c2pa.soft-binding``
assertion naming the watermark id (so a clip whose manifest was stripped can be re-bound through its watermark).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import c2pa

from safety.certs import development_chain
from safety.config import SafetyConfig
from safety.media import open_binary, sha256_hex, sniff_mime
from safety.screening import ScreeningReport

SOFTWARE_NAME = "vasa-studio"
SOFTWARE_VERSION = "0.1.0"  # pyproject.toml [project] version
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
AI_SOURCE_TYPES = (
    TRAINED_ALGORITHMIC_MEDIA,
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia",
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeSynthetic",
    "http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia",
)
GENERATION_LABEL = "org.vasa-studio.generation"
SOFT_BINDING_LABEL = "c2pa.soft-binding"
SOFT_BINDING_ALG = "org.vasa-studio.watermark.dwtdctsvd-conv.v1"  # safety/watermark.py, payload.py
UNTRUSTED_CODE = "signingCredential.untrusted"
STATES = ("Trusted", "Valid", "Invalid", "absent")
# c2pa reads an ingredient whole into memory to look for its own manifest (+55 MB peak for a 53 MB WAV, measured);
# larger inputs enter as described ingredients, their SHA-256 in the generation assertion as always.
INGREDIENT_PARSE_MAX_BYTES = 16 * 1024 * 1024
# Turned off: ingredient thumbnails dominate signing time and would copy the portrait into every output.
_BUILDER_SETTINGS = {"builder": {"thumbnail": {"enabled": False}}}


@dataclass(frozen=True)
class ManifestInputs:
    """What one generation's manifest states. Inputs are hashed (SHA-256) and added as ingredients.

    The audio may be a path: an hour-long recording is streamed from disk rather than held in memory.
    """

    generation_id: str
    watermark_id: str
    portrait: bytes = field(repr=False)
    portrait_filename: str
    audio: bytes | Path = field(repr=False)
    audio_filename: str
    controls: Mapping[str, Any]  # JSON-able: the Controls and options that shaped the clip
    screening: ScreeningReport
    software_name: str = SOFTWARE_NAME
    software_version: str = SOFTWARE_VERSION
    title: str = "talking-head.mp4"


@dataclass(frozen=True)
class IngredientSummary:
    title: str
    format: str | None
    relationship: str | None
    sha256: str | None  # hex digest of the ingredient's bytes as uploaded, from the generation assertion


@dataclass(frozen=True)
class ManifestSummary:
    """The C2PA state of a file and the facts of its active manifest (None where absent)."""

    state: str  # one of STATES: Trusted (chain ends at a configured anchor), Valid, Invalid, absent
    failure_codes: tuple[str, ...] = ()  # C2PA validation codes, e.g. assertion.bmffHash.mismatch
    untrusted: bool = False  # the signing chain ends at no configured trust anchor
    label: str | None = None  # urn:c2pa:... of the active manifest
    title: str | None = None
    claim_generator: str | None = None  # "name version"
    signer: str | None = None  # certificate common name and issuer
    signed_at: str | None = None  # signing time if the signature carries one
    digital_source_type: str | None = None  # of the c2pa.created action
    software_agent: str | None = None  # "name version" of the c2pa.created action
    generation_id: str | None = None
    watermark_id: str | None = None  # from the c2pa.soft-binding assertion
    ingredients: tuple[IngredientSummary, ...] = ()
    controls: Mapping[str, Any] | None = None
    screening: Mapping[str, Any] | None = None
    error: str | None = None  # why the reader failed, if it did

    @property
    def is_ai_generated(self) -> bool:
        return self.digital_source_type in AI_SOURCE_TYPES

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form with stable keys (documented in safety/verify.py); what the registry stores."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))


class Signer:
    """Signs MP4s with the operator's chain, a remote callback, or the local development chain."""

    def __init__(self, config: SafetyConfig) -> None:
        self._config = config
        if config.signing_cert is None:
            chain = development_chain(config.data_dir)
            self._cert_pem, self._key_pem, self._alg = chain.chain_pem.read_bytes(), chain.key_pem.read_bytes(), "es256"
        else:
            self._cert_pem = _read_pem(config.signing_cert, "VASA_SIGNING_CERT")
            self._key_pem = None if config.signing_key is None else _read_pem(config.signing_key, "VASA_SIGNING_KEY")
            self._alg = config.signing_alg

    def sign(self, src: Path, dst: Path, inputs: ManifestInputs) -> ManifestSummary:
        """Writes a signed copy of the MP4 ``src`` to ``dst`` (atomically) and returns the manifest as read back."""
        src, dst = Path(src), Path(dst)
        portrait_mime = sniff_mime(inputs.portrait[:16]) or "application/octet-stream"
        audio_mime = sniff_mime(_head(inputs.audio)) or "application/octet-stream"
        builder = c2pa.Builder(_manifest_definition(inputs), context=c2pa.Context.from_dict(_BUILDER_SETTINGS))
        for data, name, mime in (
            (inputs.portrait, inputs.portrait_filename, portrait_mime),
            (inputs.audio, inputs.audio_filename, audio_mime),
        ):
            ingredient = {"title": name, "format": mime, "relationship": "inputTo"}
            parsed = _size(data) <= INGREDIENT_PARSE_MAX_BYTES
            if parsed:
                try:
                    with open_binary(data) as stream:
                        builder.add_ingredient(ingredient, mime, stream)
                except c2pa.C2paError:
                    parsed = False
            if not parsed:
                # Formats c2pa cannot parse (e.g. FLAC) and very large inputs still enter as a described
                # ingredient; the hash is in the generation assertion either way.
                builder.add_ingredient(ingredient, "application/octet-stream", io.BytesIO(b""))
        dst.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "w+b") as out, open(src, "rb") as source:
                builder.sign(self._signer(), "video/mp4", source, out)
            os.replace(tmp, dst)
        finally:
            tmp.unlink(missing_ok=True)
        return read_manifest(dst, self._config)

    def _signer(self) -> c2pa.Signer:
        if self._config.sign_callback is not None:
            alg = c2pa.C2paSigningAlg[self._alg.upper()]
            return c2pa.Signer.from_callback(self._config.sign_callback, alg, self._cert_pem.decode())
        return c2pa.Signer.from_info(c2pa.C2paSignerInfo(self._alg.encode(), self._cert_pem, self._key_pem, None))


def read_manifest(source: Path | bytes, config: SafetyConfig) -> ManifestSummary:
    """The C2PA state of an MP4 or image (path or bytes), validated against the configured trust anchors."""
    data = Path(source).read_bytes() if not isinstance(source, (bytes, bytearray)) else bytes(source)
    mime = sniff_mime(data[:16])
    if mime is None:
        return ManifestSummary(state="absent", error="unknown file format: C2PA reads MP4, JPEG, PNG, WebP")
    settings: dict[str, Any] = {}
    if config.trust_anchors is not None:
        settings["trust"] = {"trust_anchors": _read_pem(config.trust_anchors, "VASA_TRUST_ANCHORS").decode()}
    try:
        reader = c2pa.Reader.try_create(mime, io.BytesIO(data), context=c2pa.Context.from_dict(settings))
    except c2pa.C2paError as exc:
        return ManifestSummary(state="Invalid", failure_codes=("manifest.unreadable",), error=str(exc))
    if reader is None:
        return ManifestSummary(state="absent")
    with reader:
        store = json.loads(reader.json())
    return _summarize(store)


def _manifest_definition(inputs: ManifestInputs) -> dict[str, Any]:
    agent = {"name": inputs.software_name, "version": inputs.software_version}
    generation = {
        "generation_id": inputs.generation_id,
        "watermark_id": inputs.watermark_id,
        "inputs": [
            {"role": role, "title": title, "sha256": sha256_hex(data)}
            for role, title, data in (
                ("portrait", inputs.portrait_filename, inputs.portrait),
                ("audio", inputs.audio_filename, inputs.audio),
            )
        ],
        "controls": json.loads(json.dumps(dict(inputs.controls), default=str)),
        "screening": inputs.screening.to_dict(),
    }
    return {
        "claim_generator_info": [agent],
        "title": inputs.title,
        "format": "video/mp4",
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                            "softwareAgent": agent,
                            "parameters": {"generation_id": inputs.generation_id},
                        }
                    ]
                },
            },
            {
                "label": SOFT_BINDING_LABEL,
                "data": {"alg": SOFT_BINDING_ALG, "blocks": [{"scope": {}, "value": inputs.watermark_id}]},
            },
            {"label": GENERATION_LABEL, "data": generation},
        ],
    }


def _summarize(store: Mapping[str, Any]) -> ManifestSummary:
    state = store.get("validation_state") or ("Invalid" if store.get("validation_status") else "Valid")
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    codes = [s["code"] for s in results.get("failure", [])] or [s["code"] for s in store.get("validation_status", [])]
    manifest = (store.get("manifests") or {}).get(store.get("active_manifest") or "", {})
    assertions = {a.get("label", ""): a.get("data", {}) for a in manifest.get("assertions", [])}
    created = next(
        (a for label, data in assertions.items() if label.startswith("c2pa.actions") for a in data.get("actions", [])
         if a.get("action") == "c2pa.created"),
        {},
    )
    generation = assertions.get(GENERATION_LABEL, {})
    hashes = {i.get("title"): i.get("sha256") for i in generation.get("inputs", [])}
    binding = assertions.get(SOFT_BINDING_LABEL, {})
    generators = manifest.get("claim_generator_info") or []
    agent = created.get("softwareAgent")
    sig = manifest.get("signature_info") or {}
    return ManifestSummary(
        state=state if state in STATES else "Invalid",
        failure_codes=tuple(dict.fromkeys(codes)),
        untrusted=UNTRUSTED_CODE in codes,
        label=manifest.get("label"),
        title=manifest.get("title"),
        claim_generator=(" ".join(str(generators[0].get(k, "")) for k in ("name", "version")).strip()
                         if generators else None),
        signer=", ".join(str(sig[k]) for k in ("common_name", "issuer") if sig.get(k)) or None,
        signed_at=sig.get("time"),
        digital_source_type=created.get("digitalSourceType"),
        software_agent=(f"{agent.get('name', '')} {agent.get('version', '')}".strip() if isinstance(agent, dict)
                        else agent),
        generation_id=generation.get("generation_id"),
        watermark_id=next((b.get("value") for b in binding.get("blocks", [])), None),
        ingredients=tuple(
            IngredientSummary(i.get("title", ""), i.get("format"), i.get("relationship"), hashes.get(i.get("title")))
            for i in manifest.get("ingredients", [])
        ),
        controls=generation.get("controls"),
        screening=generation.get("screening"),
    )


def _read_pem(path: Path, variable: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"{variable}={path} cannot be read ({exc.strerror}): point it at a PEM file") from exc
    if b"-----BEGIN" not in data:
        raise ValueError(f"{variable}={path} is not PEM: expected '-----BEGIN ...' blocks")
    return data


def _head(data: bytes | Path) -> bytes:
    with open_binary(data) as stream:
        return stream.read(16)


def _size(data: bytes | Path) -> int:
    return len(data) if isinstance(data, bytes) else Path(data).stat().st_size
