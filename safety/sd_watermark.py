"""Reads the Stable Diffusion invisible watermarks (invisible-watermark ``dwtDct``), vectorised, without torch.

SDXL (diffusers) embeds the 48 bits 0xb3ec907bb19e; SD 1.x reference scripts embed the bytes "StableDiffusionV1".
invisible-watermark's dwtDct: U channel of OpenCV's YUV, Haar LL band, 4x4 blocks, and in each block the element of
largest magnitude (the first excluded) quantised with step 36; block n carries bit n mod length; bits are the
mean over their blocks > 0.5. Generators hand it different inputs: diffusers passes RGB float32 arrays where BGR
is expected (so U is computed from swapped channels with OpenCV's float offset 0.5 instead of 128); the SD 1.x
scripts pass BGR uint8. Every combination is read. The mark does not survive ordinary JPEG, so a miss means
nothing and a match is positive-only evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SCALE = 36.0  # invisible-watermark's dwtDct default scale for U
BLOCK = 4
PAYLOADS = {
    "SDXL (diffusers)": np.unpackbits(np.frombuffer(bytes.fromhex("b3ec907bb19e"), np.uint8)),
    "Stable Diffusion 1.x": np.unpackbits(np.frombuffer(b"StableDiffusionV1", np.uint8)),
}
# Matching bits allowed to differ (pixel rounding flips a few blocks): a random 48-bit read matches within 3 with
# probability ~1e-10, a 136-bit read within 8 with ~1e-29.
MAX_BIT_ERRORS = {"SDXL (diffusers)": 3, "Stable Diffusion 1.x": 8}
MIN_SIDE = 256  # invisible-watermark refuses images under 256x256


@dataclass(frozen=True)
class GeneratorMark:
    generator: str
    bit_errors: int
    variant: str  # which input convention matched


def read_sd_watermark(image: np.ndarray) -> GeneratorMark | None:
    """The generator whose watermark an (H, W, 3) uint8 RGB image carries, if any."""
    h, w = image.shape[:2]
    if h * w < MIN_SIDE * MIN_SIDE:
        return None
    image = image[: h // 4 * 4, : w // 4 * 4]
    for variant, u in _u_planes(image):
        scores = _block_scores(u)
        for name, bits in PAYLOADS.items():
            n = np.arange(scores.size) % len(bits)
            mean = np.bincount(n, weights=scores.ravel(), minlength=len(bits)) / np.bincount(n, minlength=len(bits))
            errors = int(np.sum((mean * 255 > 127) != bits.astype(bool)))
            if errors <= MAX_BIT_ERRORS[name]:
                return GeneratorMark(name, errors, variant)
    return None


def _u_planes(rgb: np.ndarray):
    """The U planes the embedders saw, for each input convention."""
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    yield "BGR uint8 (SD 1.x scripts)", cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)[..., 1].astype(np.float64)
    yield "RGB uint8 read as BGR", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_BGR2YUV)[..., 1].astype(np.float64)
    yield "RGB float32 read as BGR (diffusers)", cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_BGR2YUV)[..., 1]
    yield "BGR float32", cv2.cvtColor(bgr.astype(np.float32), cv2.COLOR_BGR2YUV)[..., 1]


def _block_scores(u: np.ndarray) -> np.ndarray:
    """(R, C) 0/1 per 4x4 LL block, row-major, as invisible-watermark's EmbedMaxDct.infer_dct_matrix."""
    h, w = u.shape
    ll = u.reshape(h // 2, 2, w // 2, 2).sum(axis=(1, 3)) / 2.0  # pywt haar dwt2 approximation band
    r, c = ll.shape[0] // BLOCK, ll.shape[1] // BLOCK
    blocks = ll[: r * BLOCK, : c * BLOCK].reshape(r, BLOCK, c, BLOCK).transpose(0, 2, 1, 3).reshape(r, c, BLOCK * BLOCK)
    rest = np.abs(blocks[..., 1:])
    val = np.take_along_axis(rest, np.argmax(rest, axis=-1)[..., None], axis=-1)[..., 0]
    return (np.mod(val, SCALE) > 0.5 * SCALE).astype(np.float64)
