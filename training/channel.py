"""Recording-condition and transmission-channel simulation: numpy and scipy, PyAV for the lossy codecs.

The voice detector must judge the voice, not how a clip was recorded: if real speech came from phones and
synthetic speech from clean studio renders, a model would learn "telephone = real". So every clip, real or
fake, goes through the same randomised chain (`apply_chain`), and telephone and codec channels are also named
evaluation conditions (`CONDITIONS`). The corpus builder, on-the-fly training and evaluation all import this
one module so that they apply literally the same processing.

Filters are causal IIR sections run with `scipy.signal` (scipy comes with the training extra; the service does
not carry it, and nothing here is imported by the service); lossy codecs (Opus, AMR-NB and the like) go
through FFmpeg via PyAV. G.711 and resampling reuse `service.audio`, so a simulated telephone call is quantised
bit-for-bit as the service quantises a real one.

Every random choice comes from the `numpy.random.Generator` passed in as `rng`: same generator state, same
output. All functions take and return float32 mono and keep the output finite and inside [-1, 1].
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, cast

import av
import numpy as np
from av.audio.codeccontext import AudioCodecContext
from scipy import signal

from service.audio import alaw_decode, alaw_encode, mulaw_decode, mulaw_encode, resample
from service.windowing import repeat_pad

__all__ = [
    "CONDITIONS",
    "CodecUnavailableError",
    "Condition",
    "MatchedChain",
    "add_noise",
    "apply_chain",
    "apply_condition",
    "available_codecs",
    "bandpass",
    "crop",
    "g711",
    "lossy_codec",
    "packet_loss",
    "rms_dbfs",
    "telephone",
    "telephone_codes",
    "trim_silence",
]

Law = Literal["mulaw", "alaw"]
Condition = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]
"""A named evaluation condition: (float32 mono clip, sample rate, generator) -> processed clip, same length."""

TELEPHONE_RATE = 8000
_TINY = 1e-12


# --------------------------------------------------------------------------------------------- helpers


def _mono(x: np.ndarray) -> np.ndarray:
    """Float64 1-D copy with NaN -> 0 and inf -> +-1, so one corrupt sample cannot poison a whole clip."""
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"expected mono audio as a 1-D array, got shape {x.shape}")
    return np.nan_to_num(x.astype(np.float64), nan=0.0, posinf=1.0, neginf=-1.0)


def _out(y: np.ndarray) -> np.ndarray:
    """Finite float32 with peak <= 1; scales rather than clips so the waveform shape (and any SNR) survives."""
    y = np.nan_to_num(np.asarray(y, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 1.0:
        y = y / peak
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def _fit_length(y: np.ndarray, n: int) -> np.ndarray:
    """Resampling round trips can be off by a sample or two; callers promise the input length back."""
    if len(y) >= n:
        return y[:n]
    return np.pad(y, (0, n - len(y)))


def _check_rate(rate: int) -> int:
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer) or rate <= 0:
        raise ValueError(f"rate must be a positive integer, got {rate!r}")
    return int(rate)


def rms_dbfs(x: np.ndarray) -> float:
    """RMS level in dB relative to a full-scale square wave; -inf-free (silence reads as -240 dB)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return -240.0
    return 10.0 * math.log10(max(float(np.mean(x * x)), 1e-24))


def _biquad(b: tuple[float, float, float], a: tuple[float, float, float]) -> np.ndarray:
    """One second-order section in scipy's `sos` layout, normalised so that a0 = 1."""
    return np.array([*b, *a], dtype=np.float64) / a[0]


def _filter(x: np.ndarray, sos: np.ndarray) -> np.ndarray:
    """Causal IIR filtering from zero state, like the analogue and line filters it models."""
    if len(x) == 0 or len(sos) == 0:
        return x.copy()
    return signal.sosfilt(sos, x)


# --------------------------------------------------------------------------------------------- channels


def bandpass(x: np.ndarray, rate: int, low: float = 300.0, high: float = 3400.0, *, order: int = 4) -> np.ndarray:
    """Models the analogue/PSTN voice band (ITU-T G.712: 300-3400 Hz) with an order-`order` Butterworth.

    Causal, like the real line filters (it adds their small group delay and phase distortion); `order` is the
    prototype order, so the band-pass has 2 * order poles as with scipy's `butter`.
    """
    rate = _check_rate(rate)
    if not 0.0 < low < high < rate / 2.0:
        raise ValueError(f"need 0 < low < high < Nyquist ({rate / 2} Hz), got low={low}, high={high}")
    if not 1 <= order <= 12:
        raise ValueError(f"order must be in 1..12, got {order}")
    sos = signal.butter(order, [low, high], btype="bandpass", fs=rate, output="sos")
    return _out(_filter(_mono(x), sos))


_band_pass = bandpass  # telephone()'s `bandpass` flag shadows the function name inside it


def _g711_roundtrip(x8k: np.ndarray, law: Law) -> tuple[bytes, np.ndarray]:
    if law == "mulaw":
        codes = mulaw_encode(x8k)
        return codes, mulaw_decode(codes)
    if law == "alaw":
        codes = alaw_encode(x8k)
        return codes, alaw_decode(codes)
    raise ValueError(f"law must be 'mulaw' or 'alaw', got {law!r}")


def g711(x: np.ndarray, rate: int, law: Law = "mulaw") -> np.ndarray:
    """Models a G.711 digital telephone trunk: resample to 8 kHz, mu-law/A-law quantise, resample back.

    The output is at `rate` but keeps the 8 kHz channel's band limit (nothing above ~4 kHz), as a phone call
    upsampled by the service would. Uses the service's own codecs, so quantisation matches live calls.
    """
    rate = _check_rate(rate)
    x = _mono(x)
    if x.size == 0:
        return x.astype(np.float32)
    _, decoded = _g711_roundtrip(resample(x, rate, TELEPHONE_RATE), law)
    return _out(_fit_length(resample(decoded, TELEPHONE_RATE, rate), len(x)))


def _telephone_band(rng: np.random.Generator | None) -> tuple[float, float]:
    if rng is None:
        return 300.0, 3400.0
    return float(rng.uniform(200.0, 400.0)), float(rng.uniform(3100.0, 3600.0))


def telephone_codes(
    x: np.ndarray, rate: int, *, law: Law = "mulaw", rng: np.random.Generator | None = None, bandpass: bool = True
) -> bytes:
    """The G.711 bytes a narrowband call would carry for `x`: 8 kHz, voice-band filter, mu-law/A-law.

    With `rng` the band edges vary per call (low 200-400 Hz, high 3100-3600 Hz) as real handsets and line
    cards do; without it they are the nominal 300/3400 Hz, which is what a fixed evaluation condition wants.
    """
    rate = _check_rate(rate)
    x8k = resample(_mono(x), rate, TELEPHONE_RATE)
    if bandpass and x8k.size:
        low, high = _telephone_band(rng)
        x8k = _band_pass(x8k, TELEPHONE_RATE, low, high)
    codes, _ = _g711_roundtrip(x8k, law)
    return codes


def telephone(
    x: np.ndarray, rate: int, *, law: Law = "mulaw", rng: np.random.Generator | None = None, bandpass: bool = True
) -> np.ndarray:
    """Models a narrowband PSTN/VoIP-G.711 call: 8 kHz, voice-band filter, G.711, heard back at `rate`.

    Decodes `telephone_codes` with the service's decoders, so it is exactly the path a real call takes
    into the service. The output keeps the 8 kHz band limit.
    """
    rate = _check_rate(rate)
    n = len(_mono(x))
    if n == 0:
        return np.zeros(0, np.float32)
    codes = telephone_codes(x, rate, law=law, rng=rng, bandpass=bandpass)
    decoded = mulaw_decode(codes) if law == "mulaw" else alaw_decode(codes)
    return _out(_fit_length(resample(decoded, TELEPHONE_RATE, rate), n))


# --------------------------------------------------------------------------------------------- lossy codecs


class CodecUnavailableError(ValueError):
    """The requested codec is unknown or this FFmpeg build lacks its encoder or decoder."""


@dataclass(frozen=True)
class _CodecSpec:
    encoder: str
    decoders: tuple[str, ...]
    rates: tuple[int, ...]
    sample_format: str
    default_bitrate: int
    bitrates: tuple[int, ...] | None = None  # exact modes the codec has; None: the encoder picks the nearest
    options: tuple[tuple[str, str], ...] = ()


# What each models: Opus = WebRTC/WhatsApp/Teams VoIP; MP3/AAC = audio re-shared as files or voice notes;
# AMR-NB = GSM/UMTS mobile voice; G.722 = wideband "HD voice" desk phones and DECT. GSM-FR has only a decoder
# in this FFmpeg build, so it is not offered.
_CODECS: dict[str, _CodecSpec] = {
    "opus": _CodecSpec(
        "libopus",
        ("libopus", "opus"),
        (8000, 12000, 16000, 24000, 48000),
        "flt",
        16000,
        options=(("application", "voip"),),
    ),
    "mp3": _CodecSpec(
        "libmp3lame", ("mp3float", "mp3"), (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000), "fltp", 32000
    ),
    "aac": _CodecSpec("aac", ("aac",), (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000), "fltp", 32000),
    "amr_nb": _CodecSpec(
        "libopencore_amrnb",
        ("amrnb", "libopencore_amrnb"),
        (8000,),
        "s16",
        12200,
        bitrates=(4750, 5150, 5900, 6700, 7400, 7950, 10200, 12200),
    ),
    "g722": _CodecSpec("g722", ("g722",), (16000,), "s16", 64000, bitrates=(64000,)),
}


def _has(name: str, mode: Literal["r", "w"]) -> bool:
    try:
        av.codec.Codec(name, mode)
    except Exception:  # PyAV raises UnknownCodecError or ValueError depending on version
        return False
    return True


@functools.cache
def available_codecs() -> list[str]:
    """Lossy codecs `lossy_codec` can use with this PyAV/FFmpeg build (checked once, on first call)."""
    return [
        name for name, spec in _CODECS.items() if _has(spec.encoder, "w") and any(_has(d, "r") for d in spec.decoders)
    ]


def _spec(codec: str) -> _CodecSpec:
    if codec not in _CODECS:
        raise CodecUnavailableError(f"unknown codec {codec!r}; known: {sorted(_CODECS)}")
    if codec not in available_codecs():
        raise CodecUnavailableError(
            f"codec {codec!r} is not available in this FFmpeg build; available: {available_codecs()}"
        )
    return _CODECS[codec]


def _codec_rate(spec: _CodecSpec, rate: int) -> int:
    """The codec's own rate closest from above, so a wideband clip is not needlessly narrowed."""
    above = [r for r in spec.rates if r >= rate]
    return min(above) if above else max(spec.rates)


def _encode_decode(x: np.ndarray, codec: str, rate: int, bitrate: int) -> np.ndarray:
    """One FFmpeg encode + decode in memory (no container), output resampled to `rate`, delay NOT removed."""
    spec = _CODECS[codec]
    enc = cast(AudioCodecContext, av.CodecContext.create(spec.encoder, "w"))
    enc.sample_rate = rate
    enc.layout = "mono"
    enc.format = spec.sample_format
    enc.bit_rate = bitrate
    enc.time_base = Fraction(1, rate)
    if spec.options:
        enc.options = dict(spec.options)
    enc.open()
    frame_size = enc.frame_size or 1024
    # Trailing silence flushes the encoder's look-ahead so the clip's end survives delay removal.
    total = -(-(len(x) + rate // 4) // frame_size) * frame_size
    samples = np.pad(x, (0, total - len(x)))
    if spec.sample_format == "s16":
        samples = np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)
    else:
        samples = samples.astype(np.float32)
    packets = []
    for start in range(0, total, frame_size):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples[None, start : start + frame_size]), format=spec.sample_format, layout="mono"
        )
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        packets.extend(enc.encode(frame))
    packets.extend(enc.encode(None))

    dec = cast(AudioCodecContext, av.CodecContext.create(next(d for d in spec.decoders if _has(d, "r")), "r"))
    dec.sample_rate = rate
    dec.layout = "mono"
    if enc.extradata:
        dec.extradata = enc.extradata
    chunks: list[np.ndarray] = []
    out_rate = rate
    for packet in [*packets, None]:
        for frame in dec.decode(packet):
            a = frame.to_ndarray()
            a = a[0] if a.ndim == 2 and a.shape[0] > 1 else a.reshape(-1)
            if np.issubdtype(a.dtype, np.integer):
                a = a.astype(np.float64) / float(np.iinfo(a.dtype).max + 1)
            chunks.append(a.astype(np.float32))
            out_rate = frame.sample_rate
    y = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return resample(y, out_rate, rate).astype(np.float64)  # libopus always decodes at 48 kHz


def _probe(rate: int) -> np.ndarray:
    """A fixed speech-like probe: formant-filtered pulses with jittered pitch (aperiodic, so one lag fits)."""
    probe_rng = np.random.default_rng(20220308)
    n = rate
    excitation = 0.05 * probe_rng.standard_normal(n)
    position = 0
    while position < n:
        excitation[position] += 1.0
        position += int(rate / probe_rng.uniform(90.0, 220.0))
    formants = []
    for freq, bw in ((500.0, 80.0), (1500.0, 120.0), (2500.0, 200.0)):
        r, theta = math.exp(-math.pi * bw / rate), 2 * math.pi * freq / rate
        formants.append(_biquad((1.0 - r, 0.0, 0.0), (1.0, -2 * r * math.cos(theta), r * r)))
    y = _filter(excitation, np.vstack(formants)) * (0.55 + 0.45 * np.sin(2 * np.pi * 3.3 * np.arange(n) / rate))
    return 0.3 * y / np.max(np.abs(y))


@functools.lru_cache(maxsize=64)
def _codec_delay(codec: str, rate: int, bitrate: int) -> int:
    """Encoder+decoder delay in samples at `rate`, measured once by cross-correlating a fixed probe.

    FFmpeg strips some codecs' priming (Opus pre-skip) but not others' (AAC's 1024 samples, AMR's look-ahead)
    when no container carries it, so measuring is simpler and sturdier than a per-codec table.
    """
    x = _probe(rate)
    y = _encode_decode(x, codec, rate, bitrate)
    max_lag = rate // 5
    xcorr = signal.correlate(y, x, mode="full", method="fft")[len(x) - 1 : len(x) - 1 + max_lag]
    return int(np.argmax(xcorr))


def lossy_codec(x: np.ndarray, rate: int, *, codec: str = "opus", bitrate: int | None = None) -> np.ndarray:
    """Models a lossy speech/audio codec hop (VoIP app, voice note, mobile network) via FFmpeg in memory.

    The clip is resampled to the nearest rate the codec supports (AMR-NB: 8 kHz, so it comes back
    narrowband), coded at `bitrate` bit/s (codec default when None), decoded, delay-compensated and resampled
    back; the output has exactly the input's length. Raises `CodecUnavailableError` for codecs this FFmpeg
    build lacks (see `available_codecs`).
    """
    rate = _check_rate(rate)
    spec = _spec(codec)
    bitrate = spec.default_bitrate if bitrate is None else int(bitrate)
    if spec.bitrates is not None and bitrate not in spec.bitrates:
        raise ValueError(f"{codec} bitrate must be one of {spec.bitrates}, got {bitrate}")
    if bitrate <= 0:
        raise ValueError(f"bitrate must be positive, got {bitrate}")
    x = _mono(x)
    if x.size == 0:
        return x.astype(np.float32)
    codec_rate = _codec_rate(spec, rate)
    xc = np.clip(resample(x, rate, codec_rate).astype(np.float64), -1.0, 1.0)
    delay = _codec_delay(codec, codec_rate, bitrate)
    yc = _fit_length(_encode_decode(xc, codec, codec_rate, bitrate)[delay:], len(xc))
    return _out(_fit_length(resample(yc, codec_rate, rate), len(x)))


# --------------------------------------------------------------------------------------------- impairments


def packet_loss(
    x: np.ndarray,
    rate: int,
    *,
    loss_rate: float = 0.05,
    frame_ms: float = 20.0,
    rng: np.random.Generator,
    concealment: Literal["repeat", "zero"] = "repeat",
) -> np.ndarray:
    """Models VoIP packet loss: each `frame_ms` packet is lost independently with probability `loss_rate`.

    Default concealment is what simple receivers (G.711 Appendix I style) do: replay the last good frame,
    halving its level for each further consecutive loss so long bursts fade to silence; a loss at the very
    start has nothing to replay and is silent. `concealment="zero"` models a receiver without PLC.
    """
    rate = _check_rate(rate)
    if not 0.0 <= loss_rate <= 1.0:
        raise ValueError(f"loss_rate must be in [0, 1], got {loss_rate}")
    if concealment not in ("repeat", "zero"):
        raise ValueError(f"concealment must be 'repeat' or 'zero', got {concealment!r}")
    x = _mono(x)
    frame = max(1, round(frame_ms * rate / 1000.0))
    n_frames = -(-len(x) // frame)
    lost = rng.random(n_frames) < loss_rate
    y = x.copy()
    previous = np.zeros(frame)
    for i in range(n_frames):
        start, stop = i * frame, min((i + 1) * frame, len(x))
        if lost[i]:
            previous = 0.5 * previous if concealment == "repeat" and i > 0 and lost[i - 1] else previous
            y[start:stop] = previous[: stop - start] if concealment == "repeat" else 0.0
        else:
            previous = np.pad(x[start:stop], (0, frame - (stop - start)))
    return _out(y)


def _coloured_noise(n: int, rng: np.random.Generator, colour: Literal["white", "pink"]) -> np.ndarray:
    white = rng.standard_normal(n)
    if colour == "white" or n < 2:
        return white
    spectrum = np.fft.rfft(white)
    freqs = np.arange(len(spectrum), dtype=np.float64)
    spectrum[1:] /= np.sqrt(freqs[1:])  # 1/f power
    spectrum[0] = 0.0
    return np.fft.irfft(spectrum, n)


def add_noise(
    x: np.ndarray,
    *,
    snr_db: float,
    rng: np.random.Generator,
    noise: np.ndarray | None = None,
    colour: Literal["white", "pink"] = "white",
) -> np.ndarray:
    """Models additive background/electronic noise at an exact SNR (clip power over noise power, whole clip).

    `noise` (e.g. a recorded background) is tiled or randomly cropped to the clip's length; otherwise white or
    pink (1/f, closer to room and handling noise) Gaussian noise is drawn. A silent clip has no defined SNR and
    comes back unchanged. If the mix would exceed full scale it is scaled down as a whole, keeping the SNR.
    """
    if colour not in ("white", "pink"):
        raise ValueError(f"colour must be 'white' or 'pink', got {colour!r}")
    x = _mono(x)
    n = len(x)
    if n == 0:
        return x.astype(np.float32)
    if noise is None:
        nz = _coloured_noise(n, rng, colour)
    else:
        nz = _mono(noise)
        if nz.size == 0:
            raise ValueError("noise must not be empty")
        if len(nz) < n:
            nz = np.tile(nz, -(-n // len(nz)))
        start = int(rng.integers(0, len(nz) - n + 1))
        nz = nz[start : start + n]
    signal_power = float(np.mean(x * x))
    noise_power = float(np.mean(nz * nz))
    if signal_power <= _TINY or noise_power <= _TINY:
        return _out(x)
    nz = nz * math.sqrt(signal_power / (noise_power * 10.0 ** (snr_db / 10.0)))
    return _out(x + nz)


# --------------------------------------------------------------------------------------------- conditions


def _cond_clean(x: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    return _out(_mono(x))


def _cond_g711(x: np.ndarray, rate: int, rng: np.random.Generator, *, law: Law) -> np.ndarray:
    return g711(x, rate, law=law)


def _cond_telephone(x: np.ndarray, rate: int, rng: np.random.Generator, *, law: Law) -> np.ndarray:
    return telephone(x, rate, law=law)


def _cond_bandpass(x: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    return bandpass(x, rate)


def _cond_codec(x: np.ndarray, rate: int, rng: np.random.Generator, *, codec: str, bitrate: int) -> np.ndarray:
    return lossy_codec(x, rate, codec=codec, bitrate=bitrate)


def _cond_loss(x: np.ndarray, rate: int, rng: np.random.Generator, *, loss_rate: float) -> np.ndarray:
    return packet_loss(x, rate, loss_rate=loss_rate, rng=rng)


def _cond_noise(x: np.ndarray, rate: int, rng: np.random.Generator, *, snr_db: float) -> np.ndarray:
    return add_noise(x, snr_db=snr_db, rng=rng)


def _build_conditions() -> dict[str, Condition]:
    table: dict[str, Condition] = {
        "clean": _cond_clean,
        "mulaw8k": functools.partial(_cond_g711, law="mulaw"),
        "alaw8k": functools.partial(_cond_g711, law="alaw"),
        "telephone_mulaw": functools.partial(_cond_telephone, law="mulaw"),
        "bandpass": _cond_bandpass,  # the analogue voice band (300-3400 Hz) alone, at the clip's own rate
    }
    if "opus" in available_codecs():
        # Named by bit rate (kbit/s): narrowband-ish and wideband VoIP operating points.
        table["opus8k"] = functools.partial(_cond_codec, codec="opus", bitrate=8000)
        table["opus16k"] = functools.partial(_cond_codec, codec="opus", bitrate=16000)
    table["packetloss5"] = functools.partial(_cond_loss, loss_rate=0.05)
    table["noise20db"] = functools.partial(_cond_noise, snr_db=20.0)
    table["noise10db"] = functools.partial(_cond_noise, snr_db=10.0)
    return table


class _Conditions(Mapping[str, Condition]):
    """Read-only name -> condition table, built on first use so importing this module never probes FFmpeg."""

    def __init__(self) -> None:
        self._table: dict[str, Condition] | None = None

    def _get(self) -> dict[str, Condition]:
        if self._table is None:
            self._table = _build_conditions()
        return self._table

    def __getitem__(self, name: str) -> Condition:
        return self._get()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __repr__(self) -> str:
        return f"CONDITIONS({list(self._get())})"


CONDITIONS: Mapping[str, Condition] = _Conditions()
"""Named evaluation conditions. Conditions take (x, rate, rng) and keep the clip's length; the codec conditions
(opus8k, opus16k: Opus at 8 and 16 kbit/s) exist only when this FFmpeg build has libopus."""


def apply_condition(name: str, x: np.ndarray, rate: int, *, rng: np.random.Generator) -> np.ndarray:
    """Apply one named evaluation condition; an unknown name lists the known ones."""
    if name not in CONDITIONS:
        raise ValueError(f"unknown condition {name!r}; known: {list(CONDITIONS)}")
    return CONDITIONS[name](x, _check_rate(rate), rng)


# --------------------------------------------------------------------------------------------- matched chain


_DEFAULT_CODEC_BITRATES: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("opus", (8000, 12000, 16000, 24000, 32000)),
    ("mp3", (16000, 24000, 32000, 48000, 64000)),
    ("aac", (16000, 24000, 32000, 48000)),
    ("amr_nb", (5900, 7400, 10200, 12200)),
    ("g722", (64000,)),
)


@dataclass(frozen=True)
class MatchedChain:
    """Ranges for the randomised chain every corpus clip goes through, real and synthetic alike.

    Loudness defaults centre on -26 dBFS, ITU-T P.56's nominal active speech level for telephony.
    """

    loudness_dbfs: tuple[float, float] = (-32.0, -20.0)
    # microphone / room colouring: a few peaking and shelving biquads
    eq_bands: tuple[int, int] = (1, 4)
    eq_gain_db: tuple[float, float] = (-6.0, 6.0)
    eq_freq_hz: tuple[float, float] = (80.0, 7000.0)
    eq_q: tuple[float, float] = (0.5, 2.0)
    # synthetic room: exponentially decaying noise impulse response
    p_reverb: float = 0.3
    rt60_s: tuple[float, float] = (0.1, 0.5)
    reverb_wet: tuple[float, float] = (0.05, 0.4)
    # noise floor
    snr_db: tuple[float, float] = (30.0, 50.0)
    # silence trimming
    trim_top_db: float = 40.0
    margin_s: tuple[float, float] = (0.05, 0.15)
    # transmission channel: with probability p_channel, telephone (share p_telephone) or a lossy codec
    p_channel: float = 0.3
    p_telephone: float = 0.5
    codec_bitrates: tuple[tuple[str, tuple[int, ...]], ...] = _DEFAULT_CODEC_BITRATES

    def __post_init__(self) -> None:
        pairs = {
            "loudness_dbfs": self.loudness_dbfs,
            "eq_gain_db": self.eq_gain_db,
            "eq_freq_hz": self.eq_freq_hz,
            "eq_q": self.eq_q,
            "rt60_s": self.rt60_s,
            "reverb_wet": self.reverb_wet,
            "snr_db": self.snr_db,
            "margin_s": self.margin_s,
            "eq_bands": self.eq_bands,
        }
        for name, (lo, hi) in pairs.items():
            if lo > hi:
                raise ValueError(f"{name}: lower bound {lo} exceeds upper bound {hi}")
        for name in ("p_reverb", "p_channel", "p_telephone"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability, got {getattr(self, name)}")
        if self.loudness_dbfs[1] > 0.0:
            raise ValueError("loudness_dbfs must be <= 0 dBFS")
        if self.eq_freq_hz[0] <= 0 or self.eq_q[0] <= 0 or self.rt60_s[0] <= 0 or self.margin_s[0] < 0:
            raise ValueError("eq_freq_hz, eq_q and rt60_s must be positive and margin_s non-negative")
        if self.reverb_wet[0] < 0.0 or self.reverb_wet[1] > 1.0:
            raise ValueError("reverb_wet must lie in [0, 1]")


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(math.exp(rng.uniform(math.log(bounds[0]), math.log(bounds[1]))))


def _set_rms(x: np.ndarray, dbfs: float) -> np.ndarray:
    power = float(np.mean(x * x)) if x.size else 0.0
    if power <= _TINY:
        return x
    return x * (10.0 ** (dbfs / 20.0) / math.sqrt(power))


def _peaking(freq: float, gain_db: float, q: float, rate: int) -> np.ndarray:
    a, w0 = 10.0 ** (gain_db / 40.0), 2.0 * math.pi * freq / rate
    alpha, cw = math.sin(w0) / (2.0 * q), math.cos(w0)
    return _biquad((1 + alpha * a, -2 * cw, 1 - alpha * a), (1 + alpha / a, -2 * cw, 1 - alpha / a))


def _shelf(freq: float, gain_db: float, rate: int, *, high: bool) -> np.ndarray:
    """RBJ shelf with slope 1 (Q = 1/sqrt 2): no overshoot, like a mic's proximity or presence tilt."""
    a, w0 = 10.0 ** (gain_db / 40.0), 2.0 * math.pi * freq / rate
    alpha, cw, sa = math.sin(w0) / math.sqrt(2.0), math.cos(w0), math.sqrt(a)
    s = -1.0 if high else 1.0
    b = (
        a * ((a + 1) - s * (a - 1) * cw + 2 * sa * alpha),
        s * 2 * a * ((a - 1) - s * (a + 1) * cw),
        a * ((a + 1) - s * (a - 1) * cw - 2 * sa * alpha),
    )
    den = (
        (a + 1) + s * (a - 1) * cw + 2 * sa * alpha,
        -s * 2 * ((a - 1) + s * (a + 1) * cw),
        (a + 1) + s * (a - 1) * cw - 2 * sa * alpha,
    )
    return _biquad(b, den)


def _random_eq(rate: int, config: MatchedChain, rng: np.random.Generator) -> np.ndarray:
    """A few random peaking/shelving biquads: the broad tilts and resonances of cheap mics and small rooms."""
    n_bands = int(rng.integers(config.eq_bands[0], config.eq_bands[1] + 1))
    top = min(config.eq_freq_hz[1], 0.45 * rate)
    bounds = (min(config.eq_freq_hz[0], top), top)
    sections = []
    for _ in range(n_bands):
        kind = int(rng.integers(0, 3))
        freq, gain = _log_uniform(rng, bounds), _uniform(rng, config.eq_gain_db)
        if kind == 0:
            sections.append(_peaking(freq, gain, _log_uniform(rng, config.eq_q), rate))
        else:
            sections.append(_shelf(freq, gain, rate, high=kind == 2))
    return np.vstack(sections) if sections else np.zeros((0, 6))


def _reverb(x: np.ndarray, rate: int, config: MatchedChain, rng: np.random.Generator) -> np.ndarray:
    """Dry/wet mix with Gaussian noise decaying 60 dB over RT60: a cheap diffuse-field room model."""
    rt60, wet = _uniform(rng, config.rt60_s), _uniform(rng, config.reverb_wet)
    length = max(1, math.ceil(rt60 * rate))
    t = np.arange(length) / rate
    ir = rng.standard_normal(length) * np.exp(-3.0 * math.log(10.0) * t / rt60)
    ir /= math.sqrt(float(np.sum(ir * ir))) + _TINY
    return (1.0 - wet) * x + wet * signal.fftconvolve(x, ir)[: len(x)]


def trim_silence(
    x: np.ndarray, rate: int, *, top_db: float = 40.0, lead_s: float = 0.1, trail_s: float = 0.1
) -> np.ndarray:
    """Cut leading/trailing silence, then leave exactly `lead_s`/`trail_s` of margin (zero-padded if short).

    Corpora differ in how much silence surrounds an utterance (TTS renders often have none); a fixed margin
    removes that give-away. Activity = 25 ms frames (10 ms hop) within `top_db` of the loudest frame, as
    librosa's `effects.trim` judges it, then refined to the first/last sample that reaches that threshold
    power. A clip with no energy at all comes back unchanged.
    """
    rate = _check_rate(rate)
    x = _mono(x)
    n = len(x)
    frame, hop = max(1, round(0.025 * rate)), max(1, round(0.010 * rate))
    if n == 0:
        return x.astype(np.float32)
    starts = np.arange(0, max(n - frame, 0) + 1, hop)
    energy_cum = np.concatenate([[0.0], np.cumsum(x * x)])
    ends = np.minimum(starts + frame, n)
    power = (energy_cum[ends] - energy_cum[starts]) / frame
    if float(np.max(power)) <= _TINY:
        return _out(x)
    threshold = float(np.max(power)) * 10.0 ** (-top_db / 10.0)
    active = np.flatnonzero(power >= threshold)
    first, last = int(starts[active[0]]), int(ends[active[-1]])
    # Refine to the sample: a frame is 25 ms, too coarse for a margin meant to be exact.
    loud = np.flatnonzero(x[first:last] ** 2 >= threshold)
    if loud.size:
        first, last = first + int(loud[0]), first + int(loud[-1]) + 1
    lead, trail = round(lead_s * rate), round(trail_s * rate)
    lo, hi = max(0, first - lead), min(n, last + trail)
    return _out(np.pad(x[lo:hi], (lead - (first - lo), trail - (hi - last))))


def _channel(x: np.ndarray, rate: int, config: MatchedChain, rng: np.random.Generator) -> np.ndarray:
    available = set(available_codecs())
    codecs = [(c, rates) for c, rates in config.codec_bitrates if c in available and rates]
    if not codecs or rng.random() < config.p_telephone:
        law: Law = "mulaw" if rng.random() < 0.5 else "alaw"
        return telephone(x, rate, law=law, rng=rng).astype(np.float64)
    codec, bitrates = codecs[int(rng.integers(0, len(codecs)))]
    bitrate = int(bitrates[int(rng.integers(0, len(bitrates)))])
    return lossy_codec(x, rate, codec=codec, bitrate=bitrate).astype(np.float64)


def apply_chain(
    x: np.ndarray, rate: int, config: MatchedChain | None = None, *, rng: np.random.Generator
) -> np.ndarray:
    """Run a clip through the randomised recording chain; the output length changes (silence is trimmed).

    Order follows the physical path: trim to a random 50-150 ms margin, level to a sampled target, mic/room
    EQ, optional room reverb, noise floor at a sampled SNR, optional telephone or codec channel, and finally
    back to the sampled loudness (scaled down only if that would clip, so extremely peaky clips end up quieter
    than the range rather than distorted).
    """
    rate = _check_rate(rate)
    config = MatchedChain() if config is None else config
    y = _mono(x)
    target = _uniform(rng, config.loudness_dbfs)
    lead, trail = _uniform(rng, config.margin_s), _uniform(rng, config.margin_s)
    y = trim_silence(y, rate, top_db=config.trim_top_db, lead_s=lead, trail_s=trail).astype(np.float64)
    if y.size == 0:
        return y.astype(np.float32)
    y = _set_rms(y, target)
    y = _filter(y, _random_eq(rate, config, rng))
    if rng.random() < config.p_reverb:
        y = _reverb(y, rate, config, rng)
    colour: Literal["white", "pink"] = "pink" if rng.random() < 0.5 else "white"
    y = add_noise(_out(y), snr_db=_uniform(rng, config.snr_db), rng=rng, colour=colour).astype(np.float64)
    if rng.random() < config.p_channel:
        y = _channel(y, rate, config, rng)
    return _out(_set_rms(y, target))


def crop(x: np.ndarray, rate: int, *, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Random fixed-length window for batching; shorter clips are repeated end to end (AASIST-style padding).

    Repeating rather than zero-padding avoids teaching the model that trailing silence means a short corpus.
    """
    rate = _check_rate(rate)
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    x = _mono(x)
    n = max(1, round(seconds * rate))
    if x.size == 0:
        return np.zeros(n, np.float32)
    if len(x) < n:
        return _out(repeat_pad(x, n))  # the service's padding, so training crops match served windows
    start = int(rng.integers(0, len(x) - n + 1))
    return _out(x[start : start + n])
