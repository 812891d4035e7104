"""Screening of an uploaded portrait before anything is generated.

Order: decode -> exactly one usable human face -> provenance evidence (C2PA, generator watermarks, generator
metadata, our own watermark, camera EXIF) -> protected-identity match -> policy. The report names the evidence
that decided. Policies:

- ``open``: research use; any usable face that is not a protected identity.
- ``consent`` (default): synthetic evidence, or the user's attestation that the depicted person consented.
- ``synthetic-only``: synthetic evidence only.

A protected identity is refused under every policy. Refusals are ``"input"`` (the upload cannot be used: no face,
several faces, too small, not a human face, not an image) or ``"policy"`` (usable, but not allowed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
from PIL import Image

from safety.config import SafetyConfig
from safety.media import decode_image

POLICIES = ("open", "consent", "synthetic-only")
Refusal = Literal["input", "policy"]
MIN_FACE_PX = 64  # face-box width in the upload; below it the face mesh (and the renderer) lack detail
SIMILAR_FACE_RATIO = 0.5  # a second face at least this fraction of the largest's width makes the subject ambiguous
ANALYSIS_LONG_SIDE = 1024  # detectors run on a copy no larger than this (their inputs are 128-256 px anyway)
# Identity match thresholds: dlib's 128-d embedding is metric (its authors' tolerance is 0.6; DESIGN.md measured
# ~0.4 same person, ~0.7 different); ArcFace models compare by cosine similarity (insightface's verification
# threshold is about 0.3-0.4 for its r50/r100 models).
DLIB_MAX_DISTANCE = 0.55
ARCFACE_MIN_COSINE = 0.35
GALLERY_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
GALLERY_CACHE_DIR = "gallery-cache"

# PNG text keys written by image generators: A1111/Forge/SD.Next "parameters", ComfyUI "prompt"/"workflow",
# InvokeAI "invokeai_metadata"/"sd-metadata"/"Dream", NovelAI "Comment" (JSON with "steps"), Fooocus and others.
GENERATOR_TEXT_KEYS = (
    "parameters", "prompt", "workflow", "invokeai_metadata", "invokeai_graph", "sd-metadata", "Dream",
    "generation_data", "fooocus_scheme",
)
GENERATOR_NAMES = re.compile(
    r"stable.?diffusion|sdxl|comfyui|automatic1111|invokeai|novelai|midjourney|dall.?e|firefly|fooocus|"
    r"leonardo\.ai|imagen|ideogram|flux\.1|stylegan|thispersondoesnotexist",
    re.IGNORECASE,
)
SOFTWARE_KEYS = ("Software", "Comment", "Description", "Source", "Author")
EXIF_SOFTWARE, EXIF_MAKE, EXIF_MODEL = 0x0131, 0x010F, 0x0110
AI_SOURCE_XMP = re.compile(rb"trainedAlgorithmicMedia|compositeWithTrainedAlgorithmicMedia|compositeSynthetic")


@dataclass(frozen=True)
class Evidence:
    """One finding about the upload."""

    kind: str  # face | non-human | c2pa | sd-watermark | generator-metadata | vasa-watermark | camera-exif |
    #            operator-list | protected-identity
    synthetic: bool | None  # True: the image is machine-made; False: it is a camera photo / a real person; None
    detail: str  # what was found, for people


@dataclass(frozen=True)
class ScreeningReport:
    """The screening decision and everything it was based on (goes into the C2PA manifest and the registry)."""

    allowed: bool
    refusal: Refusal | None  # None when allowed
    reason: str  # one or two sentences for the user
    policy: str  # one of POLICIES
    consent: bool  # the user attested consent
    evidence: tuple[Evidence, ...] = ()
    decided_by: tuple[str, ...] = ()  # kinds of the evidence (or "consent", "policy:open", "face") that decided
    faces: int = 0  # usable-size faces found
    face_box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 in upload pixels
    image_sha256: str = ""
    image_size: tuple[int, int] | None = None  # width, height
    embedding: str | None = None  # identity embedding used against the gallery: dlib128 | arcface
    protected_match: str | None = None  # gallery name of a matched protected person
    identity_score: float | None = None  # best gallery distance (dlib) or cosine similarity (ArcFace)

    @property
    def synthetic(self) -> bool:
        return any(e.synthetic is True for e in self.evidence)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))


class Screener:
    """Screens portraits. Loads mediapipe and dlib on first use; one per worker (not thread-safe)."""

    def __init__(self, config: SafetyConfig) -> None:
        self._config = config
        self._faces = None
        self._gallery: list[tuple[str, np.ndarray]] | None = None

    def screen(self, image_bytes: bytes, policy: str = "consent", consent: bool = False) -> ScreeningReport:
        if policy not in POLICIES:
            raise ValueError(f"policy={policy!r} is not one of {', '.join(POLICIES)}")
        base = {"policy": policy, "consent": bool(consent), "image_sha256": hashlib.sha256(image_bytes).hexdigest()}
        try:
            image = decode_image(image_bytes)
        except ValueError as exc:
            return ScreeningReport(False, "input", str(exc), decided_by=("image",), **base)
        base["image_size"] = (int(image.shape[1]), int(image.shape[0]))
        tools = self._tools()
        small, scale = _shrink(image, ANALYSIS_LONG_SIDE)
        faces = tools.detect(small)
        usable = [f for f in faces if f.width / scale >= MIN_FACE_PX]
        if not faces:
            return ScreeningReport(
                False, "input",
                "No face was found in the photo. Upload a portrait in which one face is clearly visible "
                "(photo, painting or drawing), roughly facing the camera.",
                decided_by=("face",), **base,
            )
        if not usable:
            return ScreeningReport(
                False, "input",
                f"The face is too small ({faces[0].width / scale:.0f} px wide; at least {MIN_FACE_PX} px is needed). "
                "Upload a closer or higher-resolution portrait, or crop the photo around the face.",
                decided_by=("face",), faces=0, face_box=_box(faces[0], scale), **base,
            )
        main = usable[0]
        similar = [f for f in usable[1:] if f.width >= SIMILAR_FACE_RATIO * main.width]
        base.update(faces=len(usable), face_box=_box(main, scale))
        if similar:
            return ScreeningReport(
                False, "input",
                f"{1 + len(similar)} faces of similar size were found, so it is unclear who should talk. "
                "Upload a photo of one person, or crop it to one face.",
                decided_by=("face",), **base,
            )
        human, hog = tools.is_human(small, main)
        if not human:
            return ScreeningReport(
                False, "input",
                "The face does not look like a human face (an animal?). The studio animates human faces only: "
                "photos, paintings, drawings, cartoons.",
                evidence=(Evidence("non-human", None, f"dlib HOG human-face detector: no face; mediapipe "
                                   f"full-range score {main.full_range_score:.2f}, short-range {main.score:.2f}"),),
                decided_by=("non-human",), **base,
            )

        evidence = [Evidence("face", None, f"one face, {main.width / scale:.0f} px wide; human-face checks: dlib HOG "
                             f"{'none' if hog is None else f'{hog:.2f}'}, mediapipe full-range "
                             f"{main.full_range_score:.2f}")]
        evidence += self._provenance(image_bytes, image)
        match, score = self._protected_match(small, main)
        base.update(embedding=tools.embedding_name if self._gallery else None, identity_score=score)
        if match is not None:
            evidence.append(Evidence("protected-identity", False, f"matches protected person {match!r} "
                                     f"({tools.embedding_name} score {score:.3f})"))
            return ScreeningReport(
                False, "policy",
                "This face matches a person the operator has protected; no video will be made of them.",
                evidence=tuple(evidence), decided_by=("protected-identity",), protected_match=match, **base,
            )
        synthetic = [e.kind for e in evidence if e.synthetic is True]
        camera = [e for e in evidence if e.kind == "camera-exif"]
        if policy == "open":
            return ScreeningReport(True, None, "Allowed under the open (research) policy.", evidence=tuple(evidence),
                                   decided_by=("policy:open",), **base)
        if synthetic:
            return ScreeningReport(True, None, "Allowed: the portrait carries evidence that it is machine-made "
                                   f"({', '.join(dict.fromkeys(synthetic))}).", evidence=tuple(evidence),
                                   decided_by=tuple(dict.fromkeys(synthetic)), **base)
        if policy == "consent" and consent:
            return ScreeningReport(True, None, "Allowed: you attested that the person shown consented.",
                                   evidence=tuple(evidence), decided_by=("consent",), **base)
        photo = f" It looks like a camera photo ({camera[0].detail})." if camera else ""
        if policy == "synthetic-only":
            reason = ("Refused: this server animates only machine-made portraits, and this one carries no evidence "
                      f"of being synthetic (no AI C2PA manifest, generator watermark or generator metadata).{photo}")
        else:
            reason = ("Refused: this may be a photo of a real person. Nothing shows it is machine-made (no AI C2PA "
                      f"manifest, generator watermark or generator metadata), and consent was not attested.{photo} "
                      "Tick the consent box only if the person shown agreed to be animated.")
        decided = ("camera-exif",) if camera else ("no-synthetic-evidence",)
        return ScreeningReport(False, "policy", reason, evidence=tuple(evidence), decided_by=decided, **base)

    def _tools(self):
        if self._faces is None:
            from safety.faces import FaceTools  # mediapipe and dlib load here, not at import

            self._faces = FaceTools(self._config.arcface_model)
        return self._faces

    def _provenance(self, data: bytes, image: np.ndarray):
        from safety.provenance import read_manifest
        from safety.sd_watermark import read_sd_watermark
        from safety.watermark import Watermarker

        manifest = read_manifest(data, self._config)
        if manifest.state != "absent":
            ok = manifest.state in ("Trusted", "Valid")
            ai = manifest.is_ai_generated
            yield Evidence(
                "c2pa", True if (ok and ai) else None,
                f"C2PA manifest {manifest.state}{' (untrusted signer)' if manifest.untrusted else ''}, "
                f"digitalSourceType {manifest.digital_source_type or 'not stated'}, signer {manifest.signer}"
                + ("" if ok else f"; failures: {', '.join(manifest.failure_codes)} (not counted)"),
            )
        mark = read_sd_watermark(image)
        if mark is not None:
            yield Evidence("sd-watermark", True, f"{mark.generator} invisible watermark ({mark.bit_errors} bit "
                           f"errors, {mark.variant})")
        meta = _generator_metadata(data)
        if meta:
            yield Evidence("generator-metadata", True, meta)
        # Size candidates only: the crop and contrast search costs seconds per upload.
        detection = Watermarker(self._config).detect(image[None], search=False)
        if detection.found:
            yield Evidence("vasa-watermark", True, f"vasa-studio watermark {detection.watermark_id} "
                           f"(z {detection.z_score:.1f}): a frame of one of our own videos")
        vouched = self._known_synthetic().get(hashlib.sha256(data).hexdigest())
        if vouched:
            yield Evidence("operator-list", True, f"listed by the operator as AI-generated: {vouched}")
        camera = _camera(data)
        if camera:
            yield Evidence("camera-exif", False, camera)

    def _known_synthetic(self) -> dict[str, str]:
        path = self._config.known_synthetic
        if path is None:
            return {}
        try:
            listing = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"VASA_KNOWN_SYNTHETIC={path} could not be read as JSON ({exc}); it must map SHA-256 hex digests "
                "to a description of where each image came from"
            ) from None
        return {str(k).lower(): str(v) for k, v in listing.items()}

    def _protected_match(self, image: np.ndarray, face) -> tuple[str | None, float | None]:
        gallery = self._load_gallery()
        if not gallery:
            return None, None
        tools = self._tools()
        probe = tools.embed(image, face)
        if tools.embedding_name == "arcface":
            scores = [(float(probe @ emb), name) for name, emb in gallery]
            best, name = max(scores)
            return (name if best >= ARCFACE_MIN_COSINE else None), best
        scores = [(float(np.linalg.norm(probe - emb)), name) for name, emb in gallery]
        best, name = min(scores)
        return (name if best <= DLIB_MAX_DISTANCE else None), best

    def _load_gallery(self) -> list[tuple[str, np.ndarray]]:
        """(name, embedding) per gallery photo; embeddings cached in the data dir by file hash and backend."""
        if self._gallery is not None:
            return self._gallery
        folder = self._config.protected_gallery
        self._gallery = []
        if folder is None:
            return self._gallery
        if not folder.is_dir():
            raise ValueError(f"VASA_PROTECTED_GALLERY={folder} is not a folder: point it at a folder of photos "
                             "named <person>.jpg or <person>/<any>.jpg")
        tools = self._tools()
        cache_path = self._config.data_dir / GALLERY_CACHE_DIR / f"{tools.embedding_name}.npz"
        cache = dict(np.load(cache_path)) if cache_path.exists() else {}
        changed = False
        for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in GALLERY_SUFFIXES):
            name = path.parent.name if path.parent != folder else path.stem
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest not in cache:
                image, _ = _shrink(decode_image(path.read_bytes()), ANALYSIS_LONG_SIDE)
                faces = tools.detect(image)
                if not faces:
                    raise ValueError(
                        f"no face found in protected-gallery photo {path}: replace it with a clear portrait"
                    )
                cache[digest] = tools.embed(image, faces[0])
                changed = True
            self._gallery.append((name, cache[digest]))
        if changed:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cache_path, **cache)
        return self._gallery


def _shrink(image: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    """A copy no longer than long_side, and the factor applied."""
    h, w = image.shape[:2]
    f = min(1.0, long_side / max(h, w))
    if f == 1.0:
        return image, 1.0
    return cv2.resize(image, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA), f


def _box(face, scale: float) -> tuple[float, float, float, float]:
    return tuple(round(v / scale, 1) for v in face.box)


def _generator_metadata(data: bytes) -> str | None:
    """A description of generator metadata in PNG/WebP/JPEG text, XMP or EXIF Software, if any."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            info = {str(k): v for k, v in im.info.items()}
            software = str(im.getexif().get(EXIF_SOFTWARE, ""))
    except OSError:
        return None
    for key in GENERATOR_TEXT_KEYS:
        value = info.get(key)
        if isinstance(value, (str, bytes)) and len(value) > 0:
            text = value.decode(errors="replace") if isinstance(value, bytes) else value
            return f"text chunk {key!r}: {text[:120]!r}"
    for key in SOFTWARE_KEYS:
        value = info.get(key)
        if isinstance(value, str) and GENERATOR_NAMES.search(value):
            return f"text chunk {key!r}: {value[:120]!r}"
    if GENERATOR_NAMES.search(software):
        return f"EXIF Software {software[:80]!r}"
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
    if isinstance(xmp, str):
        xmp = xmp.encode()
    if isinstance(xmp, bytes) and AI_SOURCE_XMP.search(xmp):
        return "XMP digitalSourceType says AI-generated"
    return None


def _camera(data: bytes) -> str | None:
    try:
        with Image.open(io.BytesIO(data)) as im:
            exif = im.getexif()
    except OSError:
        return None
    make, model = str(exif.get(EXIF_MAKE, "")).strip("\x00 "), str(exif.get(EXIF_MODEL, "")).strip("\x00 ")
    return f"EXIF camera {make} {model}".strip() if (make or model) else None

