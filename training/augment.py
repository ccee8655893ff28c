"""RawBoost data augmentation (Tak et al., "RawBoost: A Raw Data Boosting and Augmentation Method applied to
Automatic Speaker Verification Anti-Spoofing", ICASSP 2022), in numpy.

RawBoost perturbs the raw waveform with channel-like distortions whose parameters are random per clip, so a
spoofing detector cannot lean on one corpus's exact channel. It complements `training.channel` (which models
named, real transmission paths): RawBoost is deliberately unphysical and wide. Written from the paper's
description and the reference implementation's documented defaults and numbering, not copied; numpy only, so
on-the-fly training and offline evaluation share it without torch.

Algorithms (numbering as in the reference code): 1 linear and non-linear convolutive noise, 2 impulsive
signal-dependent noise, 3 stationary signal-independent noise, 4 = 1->2->3 in series, 5 = 1->2, 6 = 1->3,
7 = 2->3, 8 = 1 and 2 in parallel (summed); 0 leaves the clip unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

__all__ = [
    "RawBoostParams",
    "impulsive_noise",
    "linear_convolutive_noise",
    "rawboost",
    "stationary_noise",
]


@dataclass(frozen=True)
class RawBoostParams:
    """The reference implementation's defaults.

    The reference sets maxF = 8000 Hz for 16 kHz audio, i.e. the Nyquist; `max_f=None` keeps that meaning at any
    rate instead of asking for bands a lower-rate clip cannot carry.
    """

    n_bands: int = 5
    min_f: float = 20.0
    max_f: float | None = None
    min_bw: float = 100.0
    max_bw: float = 1000.0
    min_coeff: int = 10
    max_coeff: int = 100
    min_g: float = 0.0
    max_g: float = 0.0
    min_bias_lin_nonlin: float = 5.0
    max_bias_lin_nonlin: float = 20.0
    n_f: int = 5
    p: float = 10.0
    g_sd: float = 2.0
    snr_min: float = 10.0
    snr_max: float = 40.0


def _mono(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"expected mono audio as a 1-D array, got shape {x.shape}")
    return np.nan_to_num(x.astype(np.float64), nan=0.0, posinf=1.0, neginf=-1.0)


def _peak_normalise(x: np.ndarray, *, always: bool) -> np.ndarray:
    """The reference's normWav: divide by the peak always, or only when the peak exceeds full scale."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 0.0 and (always or peak > 1.0):
        return x / peak
    return x


def _finish(x: np.ndarray) -> np.ndarray:
    x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(_peak_normalise(x, always=False), -1.0, 1.0).astype(np.float32)


def _notch_filter(
    rate: int, rng: np.random.Generator, params: RawBoostParams, gain_db: tuple[float, float]
) -> np.ndarray:
    """A cascade of `n_bands` random band-stop FIRs, scaled to a random peak gain: one random 'channel'."""
    nyquist = rate / 2.0
    max_f = nyquist if params.max_f is None else min(params.max_f, nyquist)
    b = np.ones(1)
    for _ in range(params.n_bands):
        fc = rng.uniform(params.min_f, max_f)
        bw = rng.uniform(params.min_bw, params.max_bw)
        taps = int(rng.integers(params.min_coeff, params.max_coeff))
        taps += 1 - taps % 2  # band-stop needs an odd length (a type I FIR)
        f1 = max(fc - bw / 2.0, 1e-3)
        f2 = min(fc + bw / 2.0, nyquist - 1e-3)
        b = np.convolve(b, signal.firwin(taps, [f1, f2], window="hamming", pass_zero="bandstop", fs=rate))
    gain = rng.uniform(min(gain_db), max(gain_db))
    peak = float(np.max(np.abs(signal.freqz(b, worN=1024)[1])))
    return 10.0 ** (gain / 20.0) * b / max(peak, 1e-12)


def _fir_same(x: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Apply a linear-phase FIR and undo its group delay, so distortions stay aligned with the clip."""
    if len(x) == 0:
        return x.copy()
    return signal.oaconvolve(x, b, mode="same")


def linear_convolutive_noise(
    x: np.ndarray, rate: int, *, rng: np.random.Generator, params: RawBoostParams | None = None
) -> np.ndarray:
    """Algo 1: sum over k = 1..N_f of a random band-stop filter applied to x**k.

    Models microphones, amplifiers and codecs that both colour (k = 1) and non-linearly distort (k > 1,
    attenuated by a random 5-20 dB as in the reference) the signal. DC from even powers is removed; peak
    normalised only if above full scale.
    """
    params = params or RawBoostParams()
    x = _mono(x)
    y = np.zeros_like(x)
    for k in range(params.n_f):
        if k == 0:
            gain_db = (params.min_g, params.max_g)
        else:
            gain_db = (params.min_g - params.min_bias_lin_nonlin, params.max_g - params.max_bias_lin_nonlin)
        y += _fir_same(x ** (k + 1), _notch_filter(rate, rng, params, gain_db))
    if y.size:
        y -= np.mean(y)
    return _finish(y)


def impulsive_noise(x: np.ndarray, *, rng: np.random.Generator, params: RawBoostParams | None = None) -> np.ndarray:
    """Algo 2: on a random fraction (0-P %) of samples add g_sd * x * (product of two uniform[-1, 1]).

    Models clicks, clipping and overflow bursts whose size follows the signal (hence 'signal dependent').
    """
    params = params or RawBoostParams()
    x = _mono(x)
    y = x.copy()
    n = len(x)
    beta = rng.uniform(0.0, params.p)
    count = int(n * beta / 100.0)
    positions = rng.permutation(n)[:count]
    factor = (2.0 * rng.random(count) - 1.0) * (2.0 * rng.random(count) - 1.0)
    y[positions] = x[positions] + params.g_sd * x[positions] * factor
    return _finish(y)


def stationary_noise(
    x: np.ndarray, rate: int, *, rng: np.random.Generator, params: RawBoostParams | None = None
) -> np.ndarray:
    """Algo 3: add white noise coloured by a random band-stop cascade at a random SNR (SNRmin-SNRmax dB).

    Models stationary background and electronic noise that does not depend on the speech.
    """
    params = params or RawBoostParams()
    x = _mono(x)
    if x.size == 0:
        return x.astype(np.float32)
    noise = rng.standard_normal(len(x))
    noise = _peak_normalise(
        _fir_same(noise, _notch_filter(rate, rng, params, (params.min_g, params.max_g))), always=True
    )
    snr = rng.uniform(params.snr_min, params.snr_max)
    noise_norm, signal_norm = float(np.linalg.norm(noise)), float(np.linalg.norm(x))
    if noise_norm > 0.0:
        x = x + noise / noise_norm * signal_norm / 10.0 ** (0.05 * snr)
    return _finish(x)


def rawboost(
    x: np.ndarray, rate: int, *, rng: np.random.Generator, algo: int, params: RawBoostParams | None = None
) -> np.ndarray:
    """Apply RawBoost algorithm `algo` (0-8, the reference numbering; see the module docstring).

    The reference's best ASVspoof 2021 LA setting is algo 5 (1 then 2); DF used 3.
    """
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer) or rate <= 0:
        raise ValueError(f"rate must be a positive integer, got {rate!r}")
    params = params or RawBoostParams()
    x = _mono(x)

    def lnl(v: np.ndarray) -> np.ndarray:
        return linear_convolutive_noise(v, int(rate), rng=rng, params=params)

    def isd(v: np.ndarray) -> np.ndarray:
        return impulsive_noise(v, rng=rng, params=params)

    def ssi(v: np.ndarray) -> np.ndarray:
        return stationary_noise(v, int(rate), rng=rng, params=params)

    series = {0: (), 1: (lnl,), 2: (isd,), 3: (ssi,), 4: (lnl, isd, ssi), 5: (lnl, isd), 6: (lnl, ssi), 7: (isd, ssi)}
    if algo == 8:
        mixed = lnl(x).astype(np.float64) + isd(x).astype(np.float64)
        return _finish(mixed)
    if algo not in series:
        raise ValueError(f"algo must be an integer 0-8, got {algo!r}")
    y: np.ndarray = x
    for step in series[algo]:
        y = step(y).astype(np.float64)
    return _finish(y)
