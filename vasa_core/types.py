"""Typed, frozen contracts between the pipeline's stages (see DESIGN.md, "Data flow").

Conventions used throughout:
- Images are ``np.ndarray`` of shape (H, W, 3), dtype uint8, RGB, row-major, origin top-left.
- Pixel coordinates are (x, y) with x to the right and y down; z is in pixels, positive toward the camera.
- Angles are degrees. Head yaw > 0 turns the face toward the image's right (the subject's left);
  pitch > 0 tilts the face up; roll > 0 rotates the face clockwise in the image.
- Gaze yaw > 0 moves the irises toward the image's right; gaze pitch > 0 moves them up.
- Per-frame arrays have the frame axis first, length ``num_frames``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised")
Emotion = Literal["neutral", "happy", "sad", "angry", "surprised"]
POLICIES = ("open", "consent", "synthetic-only")
Policy = Literal["open", "consent", "synthetic-only"]
DEVICES = ("cpu", "cuda")

# Named expression coefficients (ARKit-like). Each is a displacement field on the canonical face mesh,
# weight 0 = neutral (as in the portrait), 1 = the full shape. Only the jaw/lip "close" shapes act
# against an open mouth in the portrait; none is signed.
EXPRESSION_NAMES = (
    "jaw_open",
    "mouth_close",  # presses the lips together (bilabials p/b/m), acts against jaw_open
    "funnel",  # lips pushed forward and open, as in "oo"/"sh"
    "pucker",  # lips pushed forward and closed, as in "w"
    "smile_l",  # subject's left mouth corner up and out
    "smile_r",
    "stretch",  # mouth corners pulled sideways, as in "ee"
    "upper_lip_up",
    "lower_lip_down",
    "lower_lip_tuck",  # lower lip under the upper teeth, as in f/v
    "brow_inner_up",
    "brow_down_l",
    "brow_down_r",
    "brow_outer_up",
    "blink_l",  # subject's left eyelid closed (1 = fully)
    "blink_r",
    "squint",
    "cheek_raise",
)
EXPRESSION_INDEX = {name: i for i, name in enumerate(EXPRESSION_NAMES)}


@dataclass(frozen=True)
class Controls:
    """What the user steers. Every control is applied by the motion generator."""

    emotion: Emotion = "neutral"  # one of EMOTIONS
    emotion_intensity: float = 0.5  # 0..1, scales the emotion's expression offsets and dynamics
    gaze_yaw: float = 0.0  # degrees, 0 = at the camera, > 0 = irises toward image right
    gaze_pitch: float = 0.0  # degrees, 0 = at the camera, > 0 = up
    distance: float = 1.0  # head scale: 1 = as in the photo, 1.2 = 20% larger (closer), 0.8 = farther
    head_motion: float = 1.0  # 0 = still head, 1 = natural, up to 2 = animated
    blink_rate: float = 17.0  # mean blinks per minute (real people: ~10-30)
    lip_expressiveness: float = 1.0  # scales mouth-shape amplitudes, 0.5..1.5 sensible
    seed: int = 0  # same seed and inputs, same clip

    def __post_init__(self) -> None:
        _check_choice("emotion", self.emotion, EMOTIONS)
        _check_range("emotion_intensity", self.emotion_intensity, 0.0, 1.0)
        _check_range("gaze_yaw", self.gaze_yaw, -30.0, 30.0)
        _check_range("gaze_pitch", self.gaze_pitch, -20.0, 20.0)
        _check_range("distance", self.distance, 0.5, 1.5)
        _check_range("head_motion", self.head_motion, 0.0, 2.0)
        _check_range("blink_rate", self.blink_rate, 0.0, 60.0)
        _check_range("lip_expressiveness", self.lip_expressiveness, 0.0, 2.0)


@dataclass(frozen=True)
class GenerationOptions:
    """Everything one generation needs besides the two input files."""

    controls: Controls = field(default_factory=Controls)  # motion controls
    transcript: str | None = None  # optional text of the speech; enables forced alignment (English)
    size: int = 512  # longer output side in pixels (rounded down to even)
    fps: int = 25  # output frame rate
    framing: Literal["portrait", "head"] = "portrait"  # whole photo, or a head-and-shoulders crop
    device: Literal["cpu", "cuda"] = "cpu"  # where the renderer runs; cuda falls back loudly
    policy: Policy = "consent"  # screening policy, see safety.screening
    consent: bool = False  # the user attests the depicted person consented
    max_audio_s: float = 600.0  # longer audio is refused before any work
    chunk_frames: int = 50  # frames rendered, watermarked and encoded per chunk (memory bound)
    motion_path: Path | None = None  # render this saved MotionSequence instead of generating one
    save_motion_path: Path | None = None  # also save the motion used to this .npz file

    def __post_init__(self) -> None:
        _check_range("size", self.size, 64, 2048)
        _check_range("fps", self.fps, 10, 60)
        _check_choice("framing", self.framing, ("portrait", "head"))
        _check_choice("device", self.device, DEVICES)
        _check_choice("policy", self.policy, POLICIES)
        _check_range("max_audio_s", self.max_audio_s, 1.0, 24 * 3600.0)
        _check_range("chunk_frames", self.chunk_frames, 1, 10_000)


@dataclass(frozen=True)
class AudioClip:
    """Decoded audio: mono float32 in [-1, 1] at its own sample rate."""

    samples: np.ndarray  # (N,) float32
    sample_rate: int  # Hz

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sample_rate)


@dataclass(frozen=True)
class PortraitMesh:
    """The triangle mesh that the renderer deforms, in the analysed image's pixel frame."""

    vertices: np.ndarray  # (V, 3) float32 pixels; rows 0..477 are the face-mesh landmarks
    triangles: np.ndarray  # (T, 3) int32 vertex indices
    hole_triangles: np.ndarray  # (T,) bool, True for triangles closing the mouth and eye openings
    head_weight: np.ndarray  # (V,) float32 0..1: 1 follows the head rigidly, 0 stays still (torso, border)


@dataclass(frozen=True)
class PortraitAnalysis:
    """Everything measured once on the portrait. All pixel quantities refer to ``image``."""

    image: np.ndarray  # (H, W, 3) uint8 RGB, the portrait at output resolution (after framing)
    landmarks: np.ndarray  # (478, 3) float32 pixels; 468 face-mesh points + 10 iris points (468..477)
    face_box: np.ndarray  # (4,) float32 x0, y0, x1, y1 pixels
    head_pose: np.ndarray  # (3,) float32 yaw, pitch, roll degrees vs the canonical face model
    head_rotation: np.ndarray  # (3, 3) float32 canonical model -> camera frame rotation
    head_scale: float  # pixels per canonical-model centimetre
    head_pivot: np.ndarray  # (3,) float32 pixels, the point the head rotates about (upper neck)
    matte: np.ndarray  # (H, W) float32 0..1 person matte (selfie segmentation, refined)
    clean_plate: np.ndarray  # (H, W, 3) uint8 background with the person inpainted away
    mesh: PortraitMesh  # what the renderer deforms
    mouth_open: float  # inner-lip gap / face height, 0 = closed
    teeth_visible: bool  # the portrait shows teeth that the renderer can reuse
    eye_openness: np.ndarray  # (2,) float32 subject's left, right: lid gap / eye width
    eyes_open: bool  # False if the eyes are closed: no gaze motion, and the report says so
    warnings: tuple[str, ...] = ()  # limits met on this portrait, for the report
    one_layer: bool = False  # no person silhouette found (an animal): matte all 1, and only the head region scales

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def face_width(self) -> float:
        return float(self.face_box[2] - self.face_box[0])


@dataclass(frozen=True)
class PhoneSegment:
    """One recognised phone."""

    start_s: float  # seconds from the start of the audio
    end_s: float  # seconds
    phone: str  # ARPAbet without stress digits, upper case ("M", "AA"); "SIL" for silence


@dataclass(frozen=True)
class AudioFeatures:
    """Per-output-frame audio description. Frame i covers [i / fps, (i + 1) / fps)."""

    fps: float  # frames per second of the output video
    num_frames: int  # ceil(duration_s * fps)
    duration_s: float  # seconds of audio
    loudness: np.ndarray  # (T,) float32 0..1, RMS level mapped from -60..0 dBFS
    voice_activity: np.ndarray  # (T,) float32 0..1 speech probability (silero-vad)
    f0: np.ndarray  # (T,) float32 Hz, 0 where unvoiced
    formants: np.ndarray  # (T, 3) float32 Hz F1..F3, 0 where undefined
    phones: tuple[PhoneSegment, ...]  # time-ordered, may be empty
    phone_source: Literal["alignment", "words", "phone-loop", "none"]  # how phones were obtained
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class MotionSequence:
    """Per-frame motion, relative to the portrait as photographed."""

    fps: float  # frames per second
    expression: np.ndarray  # (T, len(EXPRESSION_NAMES)) float32 weights 0..1, columns as EXPRESSION_NAMES
    head_rotation: np.ndarray  # (T, 3) float32 degrees yaw, pitch, roll added to the portrait's pose
    head_translation: np.ndarray  # (T, 2) float32 x, y in face widths (0.1 = a tenth of the face width)
    head_scale: np.ndarray  # (T,) float32 1 = as photographed; the distance control scales it
    gaze: np.ndarray  # (T, 2) float32 degrees yaw, pitch of the eyes relative to the camera
    expression_names: tuple[str, ...] = EXPRESSION_NAMES

    def __post_init__(self) -> None:
        n = len(self.expression)
        shapes = {
            "expression": (self.expression.shape, (n, len(self.expression_names))),
            "head_rotation": (self.head_rotation.shape, (n, 3)),
            "head_translation": (self.head_translation.shape, (n, 2)),
            "head_scale": (self.head_scale.shape, (n,)),
            "gaze": (self.gaze.shape, (n, 2)),
        }
        for name, (got, want) in shapes.items():
            if tuple(got) != want:
                raise ValueError(f"MotionSequence.{name} has shape {tuple(got)}, expected {want}")

    @property
    def num_frames(self) -> int:
        return int(len(self.expression))

    def weight(self, name: str) -> np.ndarray:
        """(T,) float32 weights of one named expression coefficient."""
        return self.expression[:, self.expression_names.index(name)]

    def slice(self, start: int, stop: int) -> MotionSequence:
        return MotionSequence(
            fps=self.fps,
            expression=self.expression[start:stop],
            head_rotation=self.head_rotation[start:stop],
            head_translation=self.head_translation[start:stop],
            head_scale=self.head_scale[start:stop],
            gaze=self.gaze[start:stop],
            expression_names=self.expression_names,
        )

    @classmethod
    def still(cls, num_frames: int, fps: float = 25.0) -> MotionSequence:
        """The portrait exactly as photographed, for num_frames frames."""
        return cls(
            fps=fps,
            expression=np.zeros((num_frames, len(EXPRESSION_NAMES)), np.float32),
            head_rotation=np.zeros((num_frames, 3), np.float32),
            head_translation=np.zeros((num_frames, 2), np.float32),
            head_scale=np.ones(num_frames, np.float32),
            gaze=np.zeros((num_frames, 2), np.float32),
        )


@dataclass(frozen=True)
class StageTiming:
    """Wall time spent in one pipeline stage."""

    stage: str  # e.g. "screening", "face_analysis", "render"
    seconds: float


@dataclass(frozen=True)
class GenerationResult:
    """What one generation produced. ``to_json`` is the CLI's --report."""

    video_path: Path  # the signed MP4
    generation_id: str  # registry record id
    watermark_id: str  # hex id embedded in every frame
    width: int  # pixels
    height: int  # pixels
    fps: int
    num_frames: int
    duration_s: float  # video duration in seconds
    options: GenerationOptions
    screening: Any  # safety.screening.ScreeningReport (typed there: safety must not import vasa_core)
    manifest: Any  # safety.provenance.ManifestSummary
    timings: tuple[StageTiming, ...]
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def to_jsonable(value: Any) -> Any:
    """Dataclasses, arrays and paths as plain JSON types."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _check_range(name: str, value: float, lo: float, hi: float) -> None:
    if not (lo <= value <= hi):
        raise ValueError(f"{name}={value!r} is out of range: accepted {lo}..{hi}")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(choices)}")
