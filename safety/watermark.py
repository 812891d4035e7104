"""Invisible per-frame watermark: a 48-bit id that survives platform re-encoding, found by voting over frames.

Embedding is the DWT-DCT-SVD scheme of the invisible-watermark package (``dwtDctSvd``), vectorised: in the
chroma planes (YUV as OpenCV defines it), one level of Haar DWT, 8x8 blocks of the LL band, and the largest
singular value s0 of each block quantised to the lattice of its bit (quantisation index modulation with step
``QIM_STEP``: s0 mod step = step/4 for 0, 3*step/4 for 1). The DCT that invisible-watermark applies first does not
change singular values, so it is skipped. Differences from invisible-watermark's defaults, each for robustness:
- 8x8 LL blocks (16x16 pixels) instead of 4x4, with a proportionally larger step: same PSNR, far more robust;
- each block's change is tapered by a sine window, so flat backgrounds show no tile edges;
- the 172 channel bits carry a convolutionally coded, CRC-checked, keyed-whitened payload (see ``payload``);
- s0 moves to the *nearest* point of its bit's lattice (at most step/2, not 3*step/4): less distortion per bit;
- V is marked too (invisible-watermark's loop stops before V), with the bit layout shifted by half a codeword so
  that each bit sits at other places in V than in U;
- detection averages soft values (not hard bits) over blocks and frames, decodes with Viterbi and checks the CRC,
  and when that fails searches the block-grid offset (crops), the size (rescales) and the chroma gain (contrast).
The block layout is invisible-watermark's at 512 px width (block n of the row-major LL-block grid carries channel
bit n mod 172), so at the default output size its decoder reads our U channel bits:
``WatermarkDecoder('bits', 172).decode(bgr, 'dwtDctSvd', scales=[0, QIM_STEP, 0], block=BLOCK)`` returns the
whitened codeword (``Watermarker.channel_bits``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from safety import payload
from safety.config import SafetyConfig

# Block side 8 in the LL band (16x16 pixels), not invisible-watermark's default 4: H.264 and JPEG keep chroma at
# that scale far better. Measured on v06 frames (bench): block 4 with step 36 (PSNR 42.9 dB) failed CRF 28, 360p
# and JPEG q50; block 8 with step 72 passed CRF 32. With the sine window (soft blobs instead of tiles, ~1.8 dB
# dearer) step 64 failed CRF 32 on v06, 72 passed it narrowly; on v07 (flatter chroma) step 80 (PSNR 40.2 dB)
# failed CRF 32, 88 (39.4 dB) passed it with z 10.6, 96 (38.8 dB) with z 14.3.
BLOCK = 8
QIM_STEP = 88.0  # quantisation step of s0; invisible-watermark's decoder reads it with scales=[0, 88, 0]
# Taper of each block's change, outer(_SINE, _SINE): ~1 in the middle, 0.04 at the corners.
_SINE = np.sin(np.pi * (np.arange(BLOCK) + 0.5) / BLOCK).astype(np.float32)
GRID_PX = 2 * BLOCK  # pixel period of the block grid
LAYOUT_ROW_BLOCKS = 32  # block-index row stride: the LL grid width of a 512-px frame, invisible-watermark's numbering
V_LAYOUT_SHIFT = payload.CODE_BITS // 2
# Chroma blocks sit on the 128 offset, so s0 dominates and the all-equal start vector is nearly its singular vector:
# after one iteration s0 is within 5e-4 of the SVD's on every block of p07 (measured), against a step of 80.
POWER_ITERATIONS = 1
MIN_SIDE = 64  # frames smaller than this carry too few blocks for 172 bits

# OpenCV's RGB -> YUV (COLOR_BGR2YUV: U = 0.492 (B - Y) + 128, V = 0.877 (R - Y) + 128) and its inverse for a
# chroma-only change (Y unchanged).
_Y = np.array([0.299, 0.587, 0.114])
UV_FROM_RGB = np.stack([0.492 * (np.array([0, 0, 1.0]) - _Y), 0.877 * (np.array([1.0, 0, 0]) - _Y)]).astype(np.float32)
RGB_FROM_UV = np.array([[0.0, -0.394731, 2.032520], [1.140251, -0.580809, 0.0]], np.float32)  # rows: dU, dV
CHROMA_OFFSET = 128.0
# LL = 2 x (2x2 mean), so from RGB means: 2 * UV_FROM_RGB and an offset of 2 * 128; back: a change d_ll moves each
# of the 2x2 pixels by d_ll / 2 (inverse orthonormal Haar with unchanged details).
_LL_FROM_RGB_MEAN = np.hstack([2.0 * UV_FROM_RGB, np.full((2, 1), 2.0 * CHROMA_OFFSET, np.float32)])
_RGB_FROM_HALF_DLL = (0.5 * RGB_FROM_UV.T).astype(np.float32)  # (3, 2): rows R, G, B

# Detection search. Crops: block shifts of up to 8 blocks (128 px) on the top and left; sizes: outputs are made at
# these longer sides (GenerationOptions.size, default 512), so a rescaled copy is scaled back to each; gains:
# contrast or saturation changes of up to +-10% scale chroma about 128.
MAX_CROP_BLOCKS = 8
DETECT_LONG_SIDES = (512, 768, 1024)
CHROMA_GAINS = (1.0, 0.9, 1.1, 0.95, 1.05)
SYNC_FRAMES = 3  # frames used to rank alignments before decoding all frames at the best few
SYNC_COARSE_STEP = 4  # px; the sync energy falls smoothly over a 16-px block, so a 4-px grid then refinement
SYNC_CANDIDATES = 3
DEFAULT_MAX_FRAMES = 150  # 6 s at 25 fps: more adds little after voting
MAX_DETECT_PIXELS = 40_000_000  # memory bound of one detection: 150 frames at 512x512, 19 at 1920x1080
# Adaptive threshold: a clip's soft bits are also decoded after multiplying them by NULL_TRIALS random sign
# patterns, which keeps their magnitudes (frames averaged, noise level) but destroys any watermark; z is how many
# standard deviations of those null correlations the real decode's correlation lies above their mean. Measured
# (bench): the highest z on 2000 unmarked frames was 6.3; marked excerpts after every attack row gave z >= 10.8
# (50 frames) and >= 11.7 (12 frames). A detection needs z >= Z_MIN and a valid CRC-32 (2**-32 per attempt).
NULL_TRIALS = 16
Z_MIN = 8.0


@dataclass(frozen=True)
class WatermarkDetection:
    """What ``Watermarker.detect`` found in a clip or image."""

    found: bool
    watermark_id: str | None  # 12 hex digits when found
    confidence: float  # 0..1: correlation of the decoded codeword with the frame-averaged soft bits, 0 = null mean
    z_score: float  # that correlation in standard deviations of the null (found requires >= Z_MIN and a valid CRC)
    frames_used: int  # frames whose blocks were averaged
    scale: float = 1.0  # factor applied to the input before decoding (rescaled copies)
    offset_px: tuple[int, int] = (0, 0)  # x, y of the block grid in the input (crops)
    chroma_gain: float = 1.0  # chroma gain undone before decoding (contrast changes)


@dataclass(frozen=True)
class _Alignment:
    long_side: int | None  # resize so the longer side is this; None = as given
    dx: int
    dy: int
    gain: float


class Watermarker:
    """Embeds and detects the watermark. Stateless besides its key: safe to share between threads."""

    def __init__(self, config: SafetyConfig) -> None:
        self._whitening_sign = 1.0 - 2.0 * payload.whitening(config.watermark_key).astype(np.float32)
        self._key = config.watermark_key

    @staticmethod
    def new_id() -> str:
        """A fresh random 48-bit id as 12 lowercase hex digits."""
        return secrets.token_hex(payload.ID_BITS // 8)

    def channel_bits(self, watermark_id: str) -> np.ndarray:
        """(172,) uint8 the whitened codeword that each frame carries (what invisible-watermark's decoder reads)."""
        return payload.encode(watermark_id) ^ payload.whitening(self._key)

    def embed(self, frames: np.ndarray, watermark_id: str) -> np.ndarray:
        """frames (N, H, W, 3) uint8 RGB -> a marked copy, same shape (pixels past the last full 16x16 block as is)."""
        frames = _check_frames(frames)
        bits = self.channel_bits(watermark_id)
        out = frames.copy()
        for frame in out:
            _embed_frame(frame, bits)
        return out

    def detect(
        self, frames: Iterable[np.ndarray], max_frames: int = DEFAULT_MAX_FRAMES, search: bool = True
    ) -> WatermarkDetection:
        """Looks for a watermark in frames ((N, H, W, 3) uint8 RGB, or an iterable of (H, W, 3)); an image is N = 1.

        First at the frames' own size and grid, then at each output size; then (if ``search``, ~1-10 s) searching
        grid offset and chroma gain on a few frames and decoding all frames at the best alignments.
        """
        clip = []
        pixels = 0
        for frame in frames:
            clip.append(_check_frames(np.asarray(frame)[None])[0])
            pixels += clip[-1].shape[0] * clip[-1].shape[1]
            if len(clip) >= max_frames or pixels >= MAX_DETECT_PIXELS:
                break
        if not clip:
            raise ValueError("detect() got no frames: pass (N, H, W, 3) uint8 RGB with N >= 1")
        h, w = clip[0].shape[:2]
        sides = [None] + [s for s in DETECT_LONG_SIDES if s != max(h, w)]
        best = _NOT_FOUND
        for side in sides:
            result = self._decode(clip, _Alignment(side, 0, 0, 1.0), (0,))
            if result.found:
                return result
            best = max(best, result, key=lambda r: r.z_score)
        if not search:
            return best
        picks = np.linspace(0, len(clip) - 1, min(SYNC_FRAMES, len(clip))).astype(int)
        ranked = _rank_alignments([[_resize(clip[i], side) for i in picks] for side in sides[:2]], sides[:2])
        for alignment in ranked[:SYNC_CANDIDATES]:
            result = self._decode(clip, alignment, _crop_rotations())
            if result.found:
                return result
            best = max(best, result, key=lambda r: r.z_score)
        return best

    def _decode(self, clip: list[np.ndarray], alignment: _Alignment, rotations: tuple[int, ...]) -> WatermarkDetection:
        """Averages soft bits over the frames at one alignment and decodes each rotation of the codeword."""
        acc = np.zeros(payload.CODE_BITS)
        count = np.zeros(payload.CODE_BITS)
        used = 0
        for frame in clip:
            soft = _frame_soft(_resize(frame, alignment.long_side)[alignment.dy :, alignment.dx :], alignment.gain)
            if soft is None:
                continue
            a, c = _accumulate(soft)
            acc += a
            count += c
            used += 1
        if used == 0:
            return _NOT_FOUND
        means = acc / np.maximum(count, 1)
        candidates = np.stack([np.roll(means, s) for s in rotations]) * self._whitening_sign
        messages = payload.viterbi(candidates)
        ids = [payload.message_to_id(m) for m in messages]
        # Score the CRC-valid candidates (rare without a watermark), else the first, for the report.
        picks = [i for i, ident in enumerate(ids) if ident is not None] or [0]
        h, w = clip[0].shape[:2]
        best = _NOT_FOUND
        for i in picks:
            confidence, z = _score(candidates[i], messages[i])
            found = ids[i] is not None and z >= Z_MIN
            result = WatermarkDetection(
                found=found,
                watermark_id=ids[i] if found else None,
                confidence=confidence,
                z_score=z,
                frames_used=used,
                scale=1.0 if alignment.long_side is None else alignment.long_side / max(h, w),
                offset_px=(alignment.dx, alignment.dy),
                chroma_gain=alignment.gain,
            )
            if found:
                return result
            best = max(best, result, key=lambda r: r.z_score)
        return best


_NOT_FOUND = WatermarkDetection(False, None, 0.0, 0.0, 0)


def _sync_energy(frames: list[np.ndarray], alignment: _Alignment) -> float:
    """How strongly the block soft values repeat with the codeword period: ~1 for unmarked content."""
    acc = np.zeros(payload.CODE_BITS)
    count = np.zeros(payload.CODE_BITS)
    block_var = []
    for frame in frames:
        soft = _frame_soft(frame[alignment.dy :, alignment.dx :], alignment.gain)
        if soft is None:
            return 0.0
        a, c = _accumulate(soft)
        acc += a
        count += c
        block_var.append(float(np.mean(soft**2)))
    means = acc / np.maximum(count, 1)
    return float(np.var(means) * np.mean(count) / max(np.mean(block_var), 1e-9))


def _check_frames(frames: np.ndarray) -> np.ndarray:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(
            f"frames must be (N, H, W, 3) uint8 RGB, got shape {frames.shape} dtype {frames.dtype}: "
            "stack frames with np.stack and convert with .astype(np.uint8)"
        )
    if min(frames.shape[1:3]) < MIN_SIDE:
        raise ValueError(
            f"frames of {frames.shape[2]}x{frames.shape[1]} are too small: both sides must be >= {MIN_SIDE}"
        )
    return frames


def _resize(frame: np.ndarray, long_side: int | None) -> np.ndarray:
    if long_side is None:
        return frame
    h, w = frame.shape[:2]
    f = long_side / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)


def _rank_alignments(sync: list[list[np.ndarray]], sides: list[int | None]) -> list[_Alignment]:
    """Alignments by decreasing sync energy on a few frames: grid offsets at the given size and at the first output
    size (crops, crops of rescaled copies), coarse then refined; chroma gains at the given size and grid
    (contrast changes). Combinations of crop and contrast are not searched."""
    scored: dict[_Alignment, float] = {}

    def score(alignment: _Alignment, frames: list[np.ndarray]) -> float:
        if alignment not in scored:
            scored[alignment] = _sync_energy(frames, alignment)
        return scored[alignment]

    for side, frames in zip(sides, sync):
        coarse = range(0, GRID_PX, SYNC_COARSE_STEP)
        best = max((_Alignment(side, dx, dy, 1.0) for dy in coarse for dx in coarse), key=lambda a: score(a, frames))
        for step in (SYNC_COARSE_STEP // 2, 1):
            around = [
                _Alignment(side, (best.dx + ix * step) % GRID_PX, (best.dy + iy * step) % GRID_PX, 1.0)
                for iy in (-1, 0, 1) for ix in (-1, 0, 1)
            ]
            best = max(around, key=lambda a: score(a, frames))
    for gain in CHROMA_GAINS[1:]:
        score(_Alignment(None, 0, 0, gain), sync[0])
    scored.pop(_Alignment(None, 0, 0, 1.0), None)  # already decoded on every frame
    return sorted(scored, key=scored.__getitem__, reverse=True)


def _chroma_ll(region: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 RGB -> (2, h/2, w/2) float32 LL bands of U and V (orthonormal Haar LL = 2 x 2x2 mean).

    The 2x2 means are rounded to uint8 (3x faster): s0 moves by ~0.5, against a decision margin of QIM_STEP / 4.
    """
    h, w = region.shape[:2]
    means = cv2.resize(region, (w // 2, h // 2), interpolation=cv2.INTER_AREA).astype(np.float32)
    ll = cv2.transform(means, _LL_FROM_RGB_MEAN)
    return np.ascontiguousarray(ll.transpose(2, 0, 1))


def _blocks(ll: np.ndarray) -> np.ndarray:
    """(2, H2, W2) -> (2, R, C, b, b) contiguous copy of the LL blocks."""
    c, h, w = ll.shape
    return np.ascontiguousarray(ll.reshape(c, h // BLOCK, BLOCK, w // BLOCK, BLOCK).transpose(0, 1, 3, 2, 4))


def _top_singular(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Largest singular value s0 (2, R, C) and singular vectors u, v (2, R, C, b, 1) of each block.

    Power iteration v <- B^T B v from the all-equal vector (the DC direction that dominates chroma blocks), as
    matrix-vector products (cheaper than forming B^T B for 8x8 blocks).
    """
    v = np.ones(blocks.shape[:-1] + (1,), np.float32)
    blocks_t = blocks.swapaxes(-1, -2)
    for _ in range(POWER_ITERATIONS):
        v = blocks_t @ (blocks @ v)
        v /= np.sqrt(np.sum(v * v, axis=-2, keepdims=True)) + 1e-12
    u = blocks @ v
    s0 = np.sqrt(np.sum(u * u, axis=(-2, -1)))
    return s0, u / (s0[..., None, None] + 1e-12), v


@lru_cache(maxsize=32)
def _layout(rows: int, cols: int) -> np.ndarray:
    """(2, rows, cols) int channel-bit index of each block in U and V."""
    n = np.arange(rows)[:, None] * LAYOUT_ROW_BLOCKS + np.arange(cols)[None, :]
    return np.stack([n % payload.CODE_BITS, (n + V_LAYOUT_SHIFT) % payload.CODE_BITS])


def _embed_frame(frame: np.ndarray, bits: np.ndarray) -> None:
    """Marks one (H, W, 3) uint8 frame in place."""
    h8, w8 = frame.shape[0] // GRID_PX * GRID_PX, frame.shape[1] // GRID_PX * GRID_PX
    region = frame[:h8, :w8]
    ll = _chroma_ll(region)
    blocks = _blocks(ll)
    s0, u, v = _top_singular(blocks)
    offset = (0.25 + 0.5 * bits[_layout(*s0.shape[1:])]) * QIM_STEP
    delta = np.rint((s0 - offset) / QIM_STEP) * QIM_STEP + offset - s0
    # B + delta u v^T would move s0 by exactly delta, but as a flat tint with hard edges at every block border
    # (visible tiles on flat backgrounds). Tapered by the window, the change is a soft blob; to first order it moves
    # s0 by u^T (u v^T * window) v per unit, so the amplitude is divided by that gain (measured: s0 lands within 3%
    # of the step from its target for 95% of blocks).
    # The window is separable (s s^T), so the tapered change stays rank one: (u * s)(v * s)^T, and its gain is
    # (sum u^2 s)(sum v^2 s).
    u_s, v_s = u[..., 0] * _SINE, v[..., 0] * _SINE
    gain = np.sum(u[..., 0] * u_s, axis=-1) * np.sum(v[..., 0] * v_s, axis=-1)
    rows = (u_s * (delta / gain)[..., None]).transpose(0, 1, 3, 2)  # (2, R, b, C): block row, pixel row, block col
    c, r, _, q = rows.shape
    d_ll = (rows[..., None] * v_s[:, :, None, :, :]).reshape(c, r * BLOCK, q * BLOCK)
    d_rgb = np.empty(d_ll.shape[1:] + (3,), np.float32)
    for channel in range(3):
        d_rgb[..., channel] = _RGB_FROM_HALF_DLL[channel, 0] * d_ll[0] + _RGB_FROM_HALF_DLL[channel, 1] * d_ll[1]
    # Rounded before the nearest-neighbour upsampling (same result, as the frame is integer): int16 is 2x cheaper.
    d_full = cv2.resize(np.rint(d_rgb).astype(np.int16), (w8, h8), interpolation=cv2.INTER_NEAREST)
    region[:] = cv2.add(region, d_full, dtype=cv2.CV_8U)  # saturates at 0 and 255


def _frame_soft(frame: np.ndarray, gain: float) -> np.ndarray | None:
    """(2, R, C) float32 soft bits of each block in U and V: +1 = bit 1, -1 = bit 0, 0 = no information."""
    h8, w8 = frame.shape[0] // GRID_PX * GRID_PX, frame.shape[1] // GRID_PX * GRID_PX
    if min(h8, w8) < MIN_SIDE:
        return None
    ll = _chroma_ll(frame[:h8, :w8])
    if gain != 1.0:
        ll = (ll - 2.0 * CHROMA_OFFSET) * (1.0 / gain) + 2.0 * CHROMA_OFFSET
    s0 = _top_singular(_blocks(ll))[0]
    return -np.sin((2.0 * np.pi / QIM_STEP) * s0)


def _accumulate(soft: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sums and counts of block soft values per channel-bit index (before rotation and de-whitening)."""
    index = _layout(*soft.shape[1:]).ravel()
    sums = np.bincount(index, weights=soft.ravel(), minlength=payload.CODE_BITS)
    return sums, np.bincount(index, minlength=payload.CODE_BITS).astype(np.float64)


@lru_cache(maxsize=1)
def _crop_rotations() -> tuple[int, ...]:
    shifts = {(by * LAYOUT_ROW_BLOCKS + bx) % payload.CODE_BITS for by in range(MAX_CROP_BLOCKS + 1)
              for bx in range(MAX_CROP_BLOCKS + 1)}
    return tuple(sorted(shifts))


def _correlation(soft_code: np.ndarray, codeword: np.ndarray) -> np.ndarray:
    """Normalised correlation of soft words (..., L) with 0/1 codewords (..., L): 1 = every bit agrees."""
    sign = 2.0 * codeword.astype(np.float64) - 1.0
    return np.sum(sign * soft_code, axis=-1) / (np.linalg.norm(soft_code, axis=-1) * np.sqrt(sign.shape[-1]) + 1e-12)


def _score(soft_code: np.ndarray, message: np.ndarray) -> tuple[float, float]:
    """(confidence 0..1, z) of a decoded message against NULL_TRIALS sign-scrambled decodes of the same soft bits."""
    signs = np.random.default_rng(0).choice([-1.0, 1.0], size=(NULL_TRIALS, len(soft_code)))
    scrambled = soft_code * signs
    null = _correlation(scrambled, np.stack([payload.convolve(m) for m in payload.viterbi(scrambled)]))
    rho = float(_correlation(soft_code, payload.convolve(message)))
    mu, sigma = float(null.mean()), float(null.std()) + 1e-9
    return float(np.clip((rho - mu) / (1.0 - mu), 0.0, 1.0)), (rho - mu) / sigma
