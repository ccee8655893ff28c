"""Audio in: decoding untrusted uploads, G.711/PCM codecs and resampling.

Shared by the service and training so that both see exactly the same samples.
"""

from service.audio.codecs import (
    RAW_CODECS,
    RAW_ENCODINGS,
    RawCodec,
    RawEncoding,
    alaw_decode,
    alaw_encode,
    mulaw_decode,
    mulaw_encode,
    pcm16_decode,
    pcm16_encode,
)
from service.audio.decode import ACCEPTED_CONTENT_TYPES, DecodedAudio, container_signature, decode_audio
from service.audio.resample import StreamResampler, resample

__all__ = [
    "ACCEPTED_CONTENT_TYPES",
    "RAW_CODECS",
    "RAW_ENCODINGS",
    "DecodedAudio",
    "RawCodec",
    "RawEncoding",
    "StreamResampler",
    "alaw_decode",
    "alaw_encode",
    "container_signature",
    "decode_audio",
    "mulaw_decode",
    "mulaw_encode",
    "pcm16_decode",
    "pcm16_encode",
    "resample",
]
