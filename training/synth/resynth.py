"""Copy-synthesis of real clips through classic vocoders, each a spoof system of its own.

Resynthesis keeps the speaker, words and prosody of a bona fide clip and changes only the waveform generator, so
it teaches a detector vocoder artefacts rather than text or speaker cues (the ASVspoof-style "vocoded" attack).
Every function returns audio the same length as its input, float32, finite and peak-normalised to the input's
peak, so the resynthesised clip can stand beside its source in a manifest with identical channel processing.
The vocoder packages are optional: `available_resynthesizers()` lists the ones that import here.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

FRAME_PERIOD_MS = 5.0
F0_FLOOR, F0_CEIL = 60.0, 400.0  # covers low male to high female/child voices in conversational speech


def _as_signal(x: np.ndarray) -> np.ndarray:
    signal = np.asarray(x, dtype=np.float64)
    if signal.ndim != 1:
        raise ValueError(f"expected mono audio (1-D), got shape {signal.shape}")
    if signal.size == 0:
        raise ValueError("empty audio")
    return np.nan_to_num(signal, nan=0.0, posinf=0.0, neginf=0.0)


def _match(y: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Pad/trim to the reference's length and rescale to its peak, so only the waveform generator differs."""
    y = np.nan_to_num(np.asarray(y, dtype=np.float64).reshape(-1), nan=0.0, posinf=0.0, neginf=0.0)
    y = y[: reference.size] if y.size >= reference.size else np.pad(y, (0, reference.size - y.size))
    target, peak = float(np.max(np.abs(reference))), float(np.max(np.abs(y)))
    y = y * (target / peak) if peak > 0 else np.zeros_like(y)
    return y.astype(np.float32)


def _f0_factor(rng: np.random.Generator, max_semitones: float) -> float:
    """A small random pitch shift, so resynthesised clips are not sample-aligned twins of their sources."""
    return float(2.0 ** (rng.uniform(-max_semitones, max_semitones) / 12.0)) if max_semitones > 0 else 1.0


def world(x: np.ndarray, rate: int, *, rng: np.random.Generator, f0_shift_semitones: float = 0.5,
          f0_method: str = "harvest") -> np.ndarray:  # fmt: skip
    """WORLD analysis (harvest or dio F0, CheapTrick envelope, D4C aperiodicity) and resynthesis.

    Harvest is the default because dio's voicing errors add buzz that is a property of the F0 tracker, not of
    the vocoder; dio stays selectable for speed on long clips.
    """
    with warnings.catch_warnings():  # pyworld imports pkg_resources, whose deprecation warning is noise here
        warnings.simplefilter("ignore")
        import pyworld

    signal = _as_signal(x)
    if f0_method == "harvest":
        f0, times = pyworld.harvest(signal, rate, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=FRAME_PERIOD_MS)
    elif f0_method == "dio":
        f0, times = pyworld.dio(signal, rate, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=FRAME_PERIOD_MS)
        f0 = pyworld.stonemask(signal, f0, times, rate)
    else:
        raise ValueError(f"f0_method must be 'harvest' or 'dio', got {f0_method!r}")
    envelope = pyworld.cheaptrick(signal, f0, times, rate)
    aperiodicity = pyworld.d4c(signal, f0, times, rate)
    f0 = f0 * _f0_factor(rng, f0_shift_semitones)
    y = pyworld.synthesize(f0, envelope, aperiodicity, rate, frame_period=FRAME_PERIOD_MS)
    return _match(y, signal)


def _import_pysptk() -> Any:
    # pysptk 1.0 imports pkg_resources, whose deprecation warning is noise for every caller.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module("pysptk")


def _mlsa_settings(rate: int) -> tuple[int, int, int]:
    """(frame length, hop, mel-cepstrum order) for a rate: ~25 ms or more frames, 5 ms hop, more order when wider."""
    frame = int(2 ** np.ceil(np.log2(0.025 * rate)))
    hop = max(1, int(round(rate * FRAME_PERIOD_MS / 1000.0)))
    order = 24 if rate <= 16000 else 34
    return frame, hop, order


def mlsa(x: np.ndarray, rate: int, *, rng: np.random.Generator, f0_shift_semitones: float = 0.5) -> np.ndarray:
    """Mel-cepstral analysis per frame, pulse/noise excitation from a SWIPE' F0 track, MLSA filter synthesis.

    This is the HTS-era source-filter vocoder: a buzzy pulse train in voiced frames and Gaussian noise in
    unvoiced ones, which is exactly the artefact older parametric TTS carried.
    """
    pysptk = _import_pysptk()
    from pysptk.synthesis import MLSADF, Synthesizer

    signal = _as_signal(x)
    frame, hop, order = _mlsa_settings(rate)
    alpha = float(pysptk.util.mcepalpha(rate))

    # A whisper of dither keeps mcep's iterations away from log(0) in digital silence.
    dithered = signal + 1e-6 * rng.standard_normal(signal.size)
    padded = np.pad(dithered, (frame // 2, frame // 2 + hop))
    n_frames = 1 + (padded.size - frame) // hop
    index = np.arange(frame)[None, :] + hop * np.arange(n_frames)[:, None]
    frames = padded[index] * np.blackman(frame)[None, :]
    mc = np.apply_along_axis(pysptk.mcep, 1, frames, order=order, alpha=alpha, etype=1, eps=1e-8)
    b = pysptk.mc2b(mc, alpha)

    f0 = pysptk.swipe(signal, fs=rate, hopsize=hop, min=F0_FLOOR, max=F0_CEIL, otype="f0")
    f0 = np.pad(f0, (0, max(0, n_frames - f0.size)))[:n_frames] * _f0_factor(rng, f0_shift_semitones)
    period = np.where(f0 > 0, rate / np.maximum(f0, 1e-3), 0.0)
    seed = int(rng.integers(1, 2**31 - 1))
    excitation = pysptk.excite(period.astype(np.float64), hop, gaussian=True, seed=seed)

    synthesizer = Synthesizer(MLSADF(order=order, alpha=alpha), hop)
    y = synthesizer.synthesis(excitation.astype(np.float64), b.astype(np.float64))
    return _match(y, signal)


def _griffin_lim_settings(rate: int) -> tuple[int, int, int]:
    """(n_fft, hop, n_mels): ~64 ms windows (1024 at 16 kHz), 75 % overlap, fewer mels at telephone rates."""
    n_fft = int(2 ** round(np.log2(0.064 * rate)))
    return n_fft, n_fft // 4, min(80, n_fft // 8)


def griffin_lim(x: np.ndarray, rate: int, *, rng: np.random.Generator, n_iter: int = 32) -> np.ndarray:
    """Mel spectrogram, its pseudo-inverse back to a magnitude STFT, then Griffin-Lim phase reconstruction.

    The mel round trip smears harmonics and Griffin-Lim's phase is never consistent, which gives the metallic
    phasiness of early neural TTS front ends that used it as their vocoder.
    """
    # The core/filters/util entry points rather than librosa.feature: the latter compiles far more numba code on a
    # fresh install (tens of seconds) for the same two matrix products.
    import librosa.core.spectrum as spectrum
    import librosa.filters
    import librosa.util

    signal = _as_signal(x)
    n_fft, hop, n_mels = _griffin_lim_settings(rate)
    power = np.abs(spectrum.stft(signal, n_fft=n_fft, hop_length=hop)) ** 2
    basis = librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=n_mels)
    mel = basis @ power
    magnitude = np.sqrt(librosa.util.nnls(basis, mel))  # the least-squares inverse librosa's mel_to_stft uses
    seed = int(rng.integers(0, 2**31 - 1))
    y = spectrum.griffinlim(magnitude, n_iter=n_iter, hop_length=hop, n_fft=n_fft, length=signal.size,
                            random_state=seed)  # fmt: skip
    return _match(y, signal)


Resynthesizer = Callable[..., np.ndarray]

RESYNTHESIZERS: dict[str, Resynthesizer] = {"world": world, "mlsa": mlsa, "griffin_lim": griffin_lim}

_REQUIRES: dict[str, str] = {"world": "pyworld", "mlsa": "pysptk", "griffin_lim": "librosa"}


def available_resynthesizers() -> list[str]:
    """Ids in `RESYNTHESIZERS` whose vocoder package imports here."""
    found = []
    for name, module in _REQUIRES.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importlib.import_module(module)
        except Exception:  # a broken install (e.g. pysptk without pkg_resources) is as unavailable as a missing one
            continue
        found.append(name)
    return found
