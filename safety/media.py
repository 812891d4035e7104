"""Decoding for the verifier and the screener: video frames with PyAV, images with Pillow. No vasa_core here."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np
from PIL import Image, ImageOps

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")
MAX_IMAGE_PIXELS = 50_000_000  # larger uploads are refused as decompression bombs (Pillow's own limit is 89 M)


def read_video_frames(path: Path, max_frames: int | None = None, start: int = 0) -> Iterator[np.ndarray]:
    """Yields (H, W, 3) uint8 RGB frames of the first video stream, from frame ``start``."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        produced = 0
        for index, frame in enumerate(container.decode(stream)):
            if index < start:
                continue
            yield frame.to_ndarray(format="rgb24")
            produced += 1
            if max_frames is not None and produced >= max_frames:
                return


def is_video(path: Path) -> bool:
    """True if PyAV finds a video stream with more than one frame (an MP4 rather than a still image)."""
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return True
    try:
        with av.open(str(path)) as container:
            streams = container.streams.video
            return bool(streams) and (streams[0].frames or 0) > 1
    except (av.error.FFmpegError, UnicodeDecodeError):
        return False


def decode_image(data: bytes) -> np.ndarray:
    """Image bytes -> (H, W, 3) uint8 RGB with EXIF orientation applied and alpha flattened on white.

    Raises ValueError with a sentence for the user when the bytes are not a readable image.
    """
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_IMAGE_PIXELS:
                raise ValueError(
                    f"the image is {im.width}x{im.height} pixels, more than {MAX_IMAGE_PIXELS:,}: "
                    "upload a smaller photo (a portrait needs about 1 megapixel)"
                )
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "P"):
                im = im.convert("RGBA")
                flat = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(flat, im)
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise ValueError(
            f"the upload is not a readable image ({exc}): accepted are JPEG, PNG and WebP photos"
        ) from exc


def sniff_mime(head: bytes) -> str | None:
    """MIME type from a file's first bytes (uploads are often misnamed: p20/p21 are PNGs named .jpg)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if head[4:8] == b"ftyp":
        return "audio/mp4" if head[8:12] in (b"M4A ", b"M4B ") else "video/mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    return None


def open_binary(data: bytes | Path) -> BinaryIO:
    """A readable binary stream over bytes in memory or a file on disk (an hour of WAV need not be loaded)."""
    return io.BytesIO(data) if isinstance(data, bytes) else Path(data).open("rb")


def sha256_hex(data: bytes | Path) -> str:
    """SHA-256 hex digest of bytes or of a file, read in blocks."""
    with open_binary(data) as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()
