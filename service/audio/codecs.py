"""G.711 (mu-law, A-law) and 16-bit PCM in numpy, and `RAW_CODECS`: the one table of headerless encodings.

Telephone audio reaches the service as raw G.711 and training simulates telephone channels with these same
functions, so a model sees exactly the quantisation the service applies. Decoding goes through 256-entry
tables built once at import; encoding follows the ITU-T G.711 segment algorithms as written in Sun's
public-domain g711.c, vectorised.

Upload decoding, the live stream, the upload parser's `?encoding=`, the stream's start message and the CLI
all read `RAW_CODECS`, so adding an encoding is one row there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from service.errors import InvalidInput

__all__ = [
    "RAW_CODECS",
    "RAW_ENCODINGS",
    "RawCodec",
    "RawEncoding",
    "alaw_decode",
    "alaw_encode",
    "mulaw_decode",
    "mulaw_encode",
    "pcm16_decode",
    "pcm16_encode",
]

_SCALE = 32768.0
_SIGN_BIT = 0x80
_QUANT_MASK = 0x0F
_SEG_SHIFT = 4
_SEG_MASK = 0x70
_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159
# Upper end of each segment, in the 14-bit (mu-law) and 13-bit (A-law) domains of g711.c.
_SEG_UEND = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_SEG_AEND = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)


def _ulaw_to_linear(codes: np.ndarray) -> np.ndarray:
    u = ~codes.astype(np.int32) & 0xFF
    t = ((u & _QUANT_MASK) << 3) + _ULAW_BIAS
    t = t << ((u & _SEG_MASK) >> _SEG_SHIFT)
    return np.where(u & _SIGN_BIT, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


def _alaw_to_linear(codes: np.ndarray) -> np.ndarray:
    a = codes.astype(np.int32) ^ 0x55
    t = (a & _QUANT_MASK) << 4
    seg = (a & _SEG_MASK) >> _SEG_SHIFT
    t = np.where(seg == 0, t + 8, (t + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & _SIGN_BIT, t, -t).astype(np.int16)


_ALL_CODES = np.arange(256, dtype=np.uint8)
_ULAW_TABLE = (_ulaw_to_linear(_ALL_CODES) / _SCALE).astype(np.float32)
_ALAW_TABLE = (_alaw_to_linear(_ALL_CODES) / _SCALE).astype(np.float32)
_ULAW_TABLE.flags.writeable = False
_ALAW_TABLE.flags.writeable = False


def _as_codes(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    if isinstance(data, np.ndarray):
        if data.dtype == np.uint8:
            return data.ravel()
        if not np.issubdtype(data.dtype, np.integer) or (data.size and (data.min() < 0 or data.max() > 255)):
            raise ValueError("G.711 codes must be integers in 0..255")
        return data.astype(np.uint8).ravel()
    return np.frombuffer(data, dtype=np.uint8)


def _to_int16(x: np.ndarray) -> np.ndarray:
    """Float [-1, 1] to int16; NaN becomes 0 and infinities clip, so no input can produce garbage codes."""
    x = np.nan_to_num(np.asarray(x, dtype=np.float64).ravel(), nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(np.round(x * _SCALE), -32768, 32767).astype(np.int16)


def mulaw_decode(data: bytes | np.ndarray) -> np.ndarray:
    """Decode G.711 mu-law codes to float32 in [-1, 1] (the int16 value / 32768)."""
    return _ULAW_TABLE[_as_codes(data)]


def alaw_decode(data: bytes | np.ndarray) -> np.ndarray:
    """Decode G.711 A-law codes to float32 in [-1, 1] (the int16 value / 32768)."""
    return _ALAW_TABLE[_as_codes(data)]


def mulaw_encode(x: np.ndarray) -> bytes:
    """Encode float [-1, 1] (clipped) to G.711 mu-law, as Sun's g711.c `linear2ulaw` does on int16."""
    pcm = _to_int16(x).astype(np.int32) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = np.searchsorted(_SEG_UEND, mag, side="left")  # first segment whose upper end >= mag
    uval = (seg << 4) | ((mag >> (seg + 1)) & _QUANT_MASK)
    uval = np.where(seg >= 8, 0x7F, uval)
    return (uval ^ mask).astype(np.uint8).tobytes()


def alaw_encode(x: np.ndarray) -> bytes:
    """Encode float [-1, 1] (clipped) to G.711 A-law, as Sun's g711.c `linear2alaw` does on int16."""
    pcm = _to_int16(x).astype(np.int32) >> 3
    negative = pcm < 0
    mask = np.where(negative, 0x55, 0xD5)
    mag = np.where(negative, -pcm - 1, pcm)
    seg = np.searchsorted(_SEG_AEND, mag, side="left")
    quant = np.where(seg < 2, mag >> 1, mag >> np.maximum(seg, 1)) & _QUANT_MASK
    aval = np.where(seg >= 8, 0x7F, (seg << _SEG_SHIFT) | quant)
    return (aval ^ mask).astype(np.uint8).tobytes()


def pcm16_decode(data: bytes) -> np.ndarray:
    """Decode little-endian signed 16-bit PCM to float32.

    An odd byte count means the upload is cut or mislabelled, so it is refused rather than silently trimmed.
    """
    if len(data) % 2:
        raise InvalidInput(f"Raw 16-bit PCM must have an even number of bytes, got {len(data)}.", code="bad_raw_audio")
    return (np.frombuffer(data, dtype="<i2") / _SCALE).astype(np.float32)


def pcm16_encode(x: np.ndarray) -> bytes:
    """Encode float [-1, 1] (clipped; 1.0 becomes 32767) to little-endian signed 16-bit PCM."""
    return _to_int16(x).astype("<i2").tobytes()


@dataclass(frozen=True)
class RawCodec:
    """A headerless encoding: how to decode and encode it, and how many bytes one sample takes."""

    name: str
    decode: Callable[[bytes], np.ndarray]
    encode: Callable[[np.ndarray], bytes]
    bytes_per_sample: int
    default_rate: int | None  # the rate assumed when a caller names none; None: the caller must say


RAW_CODECS: dict[str, RawCodec] = {
    codec.name: codec
    for codec in (
        RawCodec("pcm_s16le", pcm16_decode, pcm16_encode, bytes_per_sample=2, default_rate=None),
        RawCodec("mulaw", mulaw_decode, mulaw_encode, bytes_per_sample=1, default_rate=8000),
        RawCodec("alaw", alaw_decode, alaw_encode, bytes_per_sample=1, default_rate=8000),
    )
}
RAW_ENCODINGS = tuple(RAW_CODECS)

# The names as a Literal, so request models and query parameters validate them and OpenAPI lists them. Built from
# the table at run time; a type checker, which cannot read a table, sees a plain str.
if TYPE_CHECKING:
    RawEncoding = str
else:
    RawEncoding = Literal[RAW_ENCODINGS]
