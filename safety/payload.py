"""The watermark payload as channel bits: id + CRC-32, convolutional code, keyed whitening.

A watermark id is 48 bits (12 hex digits). Message = id || CRC-32(id) = 80 bits. The message is coded with the
rate-1/2, constraint-length-7 convolutional code of NASA/CCSDS and 802.11 (generators 171, 133 octal) plus 6 zero
tail bits: 172 channel bits. The channel bits are XOR-ed with a keyed pseudo-random sequence, so that the biased
bits a decoder reads from unmarked content (flat regions read the same bit everywhere) do not form a codeword.
A random bit string passes the CRC with probability 2**-32; that is the false-alarm rate of one decoding attempt.
"""

from __future__ import annotations

import hashlib
import zlib

import numpy as np

ID_BITS = 48
ID_HEX_DIGITS = ID_BITS // 4
CRC_BITS = 32
MESSAGE_BITS = ID_BITS + CRC_BITS
CONSTRAINT_LENGTH = 7
GENERATORS = (0o171, 0o133)  # the industry-standard K=7 pair (best free distance, 10)
TAIL_BITS = CONSTRAINT_LENGTH - 1
CODE_BITS = len(GENERATORS) * (MESSAGE_BITS + TAIL_BITS)  # 172 channel bits per frame
_STATES = 1 << (CONSTRAINT_LENGTH - 1)


def _parity(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    for shift in (4, 2, 1):
        x ^= x >> shift
    return x & 1


# Trellis, indexed by [next_state, which_predecessor]: register = predecessor's oldest bit h << 6 | next_state.
_NEXT = np.arange(_STATES)[:, None]
_H = np.arange(2)[None, :]
_REGISTER = (_H << (CONSTRAINT_LENGTH - 1)) | _NEXT
_PREDECESSOR = (_NEXT >> 1) | (_H << (CONSTRAINT_LENGTH - 2))
_OUTPUT_SIGN = np.stack([2.0 * _parity(_REGISTER & g) - 1.0 for g in GENERATORS], axis=-1).astype(np.float32)


def whitening(key: bytes, length: int = CODE_BITS) -> np.ndarray:
    """(length,) uint8 0/1 keyed pseudo-random sequence (SHA-256 in counter mode)."""
    blocks = range(1 + length // 256)
    stream = b"".join(hashlib.sha256(key + b"/whitening/" + i.to_bytes(4, "big")).digest() for i in blocks)
    return np.unpackbits(np.frombuffer(stream, np.uint8))[:length]


def check_id(watermark_id: str) -> bytes:
    """The 6 bytes of a watermark id; raises ValueError saying what an id looks like."""
    try:
        raw = bytes.fromhex(watermark_id)
    except (TypeError, ValueError):
        raw = b""
    if len(raw) * 2 != ID_HEX_DIGITS or len(watermark_id) != ID_HEX_DIGITS:
        raise ValueError(f"watermark id {watermark_id!r} is not {ID_HEX_DIGITS} hex digits (use Watermarker.new_id())")
    return raw


def encode(watermark_id: str) -> np.ndarray:
    """(CODE_BITS,) uint8 0/1 convolutional codeword of id || CRC-32 (not yet whitened)."""
    raw = check_id(watermark_id)
    message = raw + zlib.crc32(raw).to_bytes(4, "big")
    return convolve(np.unpackbits(np.frombuffer(message, np.uint8)))


def convolve(message: np.ndarray) -> np.ndarray:
    """(MESSAGE_BITS,) 0/1 -> (CODE_BITS,) uint8 codeword, tail bits appended."""
    bits = np.concatenate([message.astype(np.uint8), np.zeros(TAIL_BITS, np.uint8)])
    register = 0
    out = np.empty((len(bits), len(GENERATORS)), np.uint8)
    for i, b in enumerate(bits):
        register = ((register << 1) | int(b)) & ((1 << CONSTRAINT_LENGTH) - 1)
        out[i] = [bin(register & g).count("1") & 1 for g in GENERATORS]
    return out.reshape(-1)


def viterbi(soft: np.ndarray) -> np.ndarray:
    """Maximum-likelihood messages for a batch of soft channel words.

    soft: (B, CODE_BITS) float, > 0 means bit 1, magnitude = reliability. Returns (B, MESSAGE_BITS) uint8.
    """
    soft = np.asarray(soft, np.float32).reshape(len(soft), -1, len(GENERATORS))
    batch, steps = soft.shape[:2]
    metric = np.full((batch, _STATES), -np.inf, np.float32)
    metric[:, 0] = 0.0
    choice = np.empty((steps, batch, _STATES), np.uint8)
    rows = np.arange(batch)[:, None]
    for t in range(steps):
        branch = np.einsum("bk,nhk->bnh", soft[:, t], _OUTPUT_SIGN)
        candidates = metric[:, _PREDECESSOR] + branch  # (B, 64, 2)
        choice[t] = np.argmax(candidates, axis=2)
        metric = np.take_along_axis(candidates, choice[t][..., None].astype(np.intp), axis=2)[..., 0]
    state = np.zeros(batch, np.intp)  # the tail bits drive the encoder back to state 0
    bits = np.empty((batch, steps), np.uint8)
    for t in range(steps - 1, -1, -1):
        bits[:, t] = state & 1
        state = _PREDECESSOR[state, choice[t][rows[:, 0], state]]
    return bits[:, :MESSAGE_BITS]


def message_to_id(message: np.ndarray) -> str | None:
    """The id if the message's CRC-32 checks, else None."""
    raw = np.packbits(message.astype(np.uint8)).tobytes()
    ident, crc = raw[: ID_BITS // 8], raw[ID_BITS // 8 :]
    return ident.hex() if zlib.crc32(ident).to_bytes(4, "big") == crc else None
