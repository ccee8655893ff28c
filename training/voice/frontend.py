"""Feature front-ends that live inside the exported ONNX graph, so the service feeds raw waveforms only.

Why not `torch.stft`: ONNX Runtime has no CUDA kernel for the ONNX `STFT` op and its CPU kernel is slow, and
the exporters' support for it varies between versions. A short-time Fourier transform is a strided convolution
with windowed cosines and sines, so `STFTPower` computes it with `F.conv1d` on fixed kernels, which every
runtime and provider runs fast. Filterbanks and the DCT are fixed matrices applied with `matmul`; AASIST's
mel-spaced sinc band-pass filters are one more fixed Conv1d (`SincFilterbank`). All fixed tensors are buffers
(exported as initialisers, saved in checkpoints so a checkpoint records its front-end, never trained).

Level and channel invariance, and why:
- `normalise_level` divides each waveform by its RMS first. Loudness says nothing about whether a voice is
  synthetic, but corpora differ in level (TTS renders are often louder and more consistent than calls), so a
  network that sees level can learn that shortcut. Dividing first also makes the log floor (`eps`) relative to
  the signal, so quiet and loud copies of one clip give the same features.
- `mean_normalise` subtracts each feature's mean over the window (cepstral/log-spectral mean normalisation).
  A fixed linear channel (microphone, handset, codec pre-filter) is an additive constant in the log domain, so
  this removes most of the recording chain, which is a nuisance here. The price: a static spectral envelope
  (e.g. a vocoder's band limit) survives only through its time variation. It is the `mean_norm` option of
  every spectral front-end (and of the networks built on them) so the choice can be tested; the default is on.
  The sinc front-end has level normalisation only: it outputs band-passed waveforms, not log features.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchaudio.functional import melscale_fbanks

__all__ = [
    "LFCC",
    "LogMel",
    "LogPowerSpectrogram",
    "STFTPower",
    "SincFilterbank",
    "deltas",
    "dct_matrix",
    "linear_filterbank",
    "mean_normalise",
    "normalise_level",
    "sinc_filters",
    "stft_kernels",
]

LEVEL_EPS = 1e-8  # on mean square: a clip 80 dB below full scale is still brought to unit RMS (within 1 %)
LOG_EPS = 1e-6  # power floor after level normalisation, i.e. 60 dB below the clip's RMS per bin


def normalise_level(waveform: torch.Tensor, eps: float = LEVEL_EPS) -> torch.Tensor:
    """Divide each row `[B, N]` by its RMS, so that gain is no cue; digital silence stays zero."""
    return waveform * torch.rsqrt(waveform.pow(2).mean(dim=-1, keepdim=True) + eps)


def mean_normalise(features: torch.Tensor) -> torch.Tensor:
    """Subtract each feature's mean over time (last axis) per utterance: removes a fixed channel response."""
    return features - features.mean(dim=-1, keepdim=True)


def deltas(features: torch.Tensor) -> torch.Tensor:
    """First differences over time `(x[t+1] - x[t-1]) / 2` with edge frames repeated, as in the LFCC baseline."""
    padded = F.pad(features, (1, 1), mode="replicate")
    return 0.5 * (padded[..., 2:] - padded[..., :-2])


def stft_kernels(n_fft: int, win_length: int) -> np.ndarray:
    """Conv1d weights `[2 * (n_fft // 2 + 1), 1, n_fft]`: Hann-windowed cosines then sines.

    The periodic Hann window of `win_length` is centred in `n_fft`, exactly as `torch.stft` places it.
    """
    if n_fft <= 0 or n_fft & (n_fft - 1):
        raise ValueError(f"n_fft must be a power of two, got {n_fft}")
    if not 0 < win_length <= n_fft:
        raise ValueError(f"win_length must be in 1..n_fft ({n_fft}), got {win_length}")
    n = np.arange(win_length)
    window = np.zeros(n_fft)
    left = (n_fft - win_length) // 2
    window[left : left + win_length] = 0.5 - 0.5 * np.cos(2 * np.pi * n / win_length)
    k = np.arange(n_fft // 2 + 1)[:, None]
    angle = 2 * np.pi * k * np.arange(n_fft)[None, :] / n_fft
    kernels = np.concatenate([np.cos(angle) * window, -np.sin(angle) * window])
    return kernels[:, None, :].astype(np.float32)


class STFTPower(nn.Module):
    """Power spectrogram `[B, n_fft // 2 + 1, frames]` of waveforms `[B, N]`, as a fixed strided Conv1d.

    With `center=True` the signal is reflect-padded by `n_fft // 2` on both sides (what `torch.stft` does), so
    frame `t` is centred on sample `t * hop` and there are `N // hop + 1` frames.
    """

    kernels: torch.Tensor

    def __init__(self, n_fft: int, hop_length: int, win_length: int | None = None, *, center: bool = True) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length or n_fft
        self.center = center
        self.n_bins = n_fft // 2 + 1
        self.register_buffer("kernels", torch.from_numpy(stft_kernels(n_fft, self.win_length)))

    def frames(self, n_samples: int) -> int:
        padded = n_samples + (2 * (self.n_fft // 2) if self.center else 0)
        return (padded - self.n_fft) // self.hop_length + 1

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        x = waveform.unsqueeze(1)
        if self.center:
            x = F.pad(x, (self.n_fft // 2, self.n_fft // 2), mode="reflect")
        spectrum = F.conv1d(x, self.kernels, stride=self.hop_length)
        real, imag = spectrum[:, : self.n_bins], spectrum[:, self.n_bins :]
        return real * real + imag * imag


def linear_filterbank(n_filters: int, n_fft: int, sample_rate: int, f_min: float = 0.0,
                      f_max: float | None = None) -> np.ndarray:
    """Triangular filters equally spaced in Hz, `[n_fft // 2 + 1, n_filters]` (the LFCC baseline's `linear_fb`).

    Linear rather than mel spacing because spoofing artefacts are not concentrated where human pitch perception
    is finest; high bands carry as much evidence as low ones (Sahidullah et al., 2015).
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = np.linspace(f_min, f_max, n_filters + 2)
    bank = np.zeros((freqs.size, n_filters))
    for i in range(n_filters):
        low, centre, high = edges[i], edges[i + 1], edges[i + 2]
        rising = (freqs - low) / (centre - low)
        falling = (high - freqs) / (high - centre)
        bank[:, i] = np.clip(np.minimum(rising, falling), 0.0, None)
    return bank.astype(np.float32)


def dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Orthonormal DCT-II `[n_in, n_out]` so that `x @ D` equals `scipy.fft.dct(x, norm='ortho')[..., :n_out]`."""
    n = np.arange(n_in)[:, None]
    k = np.arange(n_out)[None, :]
    matrix = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * math.sqrt(2.0 / n_in)
    matrix[:, 0] /= math.sqrt(2.0)
    return matrix.astype(np.float32)


class _LogFilterbank(nn.Module):
    """Level normalisation, STFT power, a fixed filterbank, log. Shared by LFCC and LogMel."""

    bank: torch.Tensor

    def __init__(self, stft: STFTPower, bank: np.ndarray, *, normalise_input: bool) -> None:
        super().__init__()
        self.stft = stft
        self.normalise_input = normalise_input
        self.register_buffer("bank", torch.from_numpy(bank))

    def log_bands(self, waveform: torch.Tensor) -> torch.Tensor:
        """`[B, bands, frames]` log filterbank energies."""
        if self.normalise_input:
            waveform = normalise_level(waveform)
        power = self.stft(waveform)  # [B, bins, T]
        bands = torch.matmul(power.transpose(1, 2), self.bank)  # [B, T, bands]
        return torch.log(bands + LOG_EPS).transpose(1, 2)


class LFCC(_LogFilterbank):
    """Linear-frequency cepstral coefficients `[B, n_coeffs * (1 + n_deltas), frames]`, as in the ASVspoof
    LFCC-LCNN baseline: pre-emphasis, STFT, linear triangular filterbank, log, DCT-II, deltas and delta-deltas.
    """

    dct: torch.Tensor

    def __init__(self, sample_rate: int, *, n_fft: int, win_length: int, hop_length: int, n_filters: int = 20,
                 n_coeffs: int = 20, n_deltas: int = 2, pre_emphasis: float = 0.97, normalise_input: bool = True,
                 mean_norm: bool = True) -> None:
        if n_coeffs > n_filters:
            raise ValueError(f"n_coeffs ({n_coeffs}) cannot exceed n_filters ({n_filters})")
        if n_deltas not in (0, 1, 2):
            raise ValueError(f"n_deltas must be 0, 1 or 2, got {n_deltas}")
        super().__init__(STFTPower(n_fft, hop_length, win_length),
                         linear_filterbank(n_filters, n_fft, sample_rate), normalise_input=normalise_input)
        self.register_buffer("dct", torch.from_numpy(dct_matrix(n_filters, n_coeffs)))
        self.n_deltas = n_deltas
        self.pre_emphasis = pre_emphasis
        self.mean_norm = mean_norm
        self.n_features = n_coeffs * (1 + n_deltas)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        if self.pre_emphasis:
            # y[t] = x[t] - a x[t-1] with x[-1] = x[0]; linear, so the level normalisation after it still holds
            previous = torch.cat([waveform[:, :1], waveform[:, :-1]], dim=1)
            waveform = waveform - self.pre_emphasis * previous
        cepstra = torch.matmul(self.log_bands(waveform).transpose(1, 2), self.dct).transpose(1, 2)  # [B, C, T]
        if self.mean_norm:
            cepstra = mean_normalise(cepstra)
        parts = [cepstra]
        for _ in range(self.n_deltas):
            parts.append(deltas(parts[-1]))
        return torch.cat(parts, dim=1)


class LogMel(_LogFilterbank):
    """Log mel filterbank energies `[B, n_mels, frames]`, the filterbank fixed at init.

    The bank is torchaudio's with Slaney scale and area normalisation, which is librosa's default bank to 1e-8;
    torchaudio builds it in milliseconds where librosa's first call costs seconds of lazy imports.
    """

    def __init__(self, sample_rate: int, *, n_fft: int, win_length: int, hop_length: int, n_mels: int = 64,
                 f_min: float = 0.0, f_max: float | None = None, normalise_input: bool = True,
                 mean_norm: bool = True) -> None:
        bank = melscale_fbanks(n_fft // 2 + 1, f_min, sample_rate / 2 if f_max is None else f_max, n_mels,
                               sample_rate, norm="slaney", mel_scale="slaney")
        super().__init__(STFTPower(n_fft, hop_length, win_length), bank.numpy().astype(np.float32),
                         normalise_input=normalise_input)
        self.mean_norm = mean_norm
        self.n_features = n_mels

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        features = self.log_bands(waveform)
        return mean_normalise(features) if self.mean_norm else features


class LogPowerSpectrogram(nn.Module):
    """Log power per FFT bin `[B, n_fft // 2 + 1, frames]`: full frequency resolution for fine artefacts."""

    def __init__(self, *, n_fft: int, win_length: int, hop_length: int, normalise_input: bool = True,
                 mean_norm: bool = True) -> None:
        super().__init__()
        self.stft = STFTPower(n_fft, hop_length, win_length)
        self.normalise_input = normalise_input
        self.mean_norm = mean_norm
        self.n_features = self.stft.n_bins

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        if self.normalise_input:
            waveform = normalise_level(waveform)
        features = torch.log(self.stft(waveform) + LOG_EPS)
        return mean_normalise(features) if self.mean_norm else features


def sinc_filters(n_filters: int, kernel_size: int, sample_rate: int) -> np.ndarray:
    """Fixed band-pass sinc filters `[n_filters, 1, kernel_size]` with mel-spaced edges, Hamming-windowed.

    As in AASIST's `CONV` layer (after SincNet, Ravanelli and Bengio 2018): band edges are equally spaced on the
    mel scale between 0 Hz and the Nyquist, each filter the difference of two ideal low-passes. Fixed, not
    learnt, as in AASIST and RawNet2 (Tak et al., 2021): fixed cut-offs cannot drift towards one corpus's artefacts.
    """
    nyquist = sample_rate / 2
    freqs = nyquist * np.linspace(0, 1, 257)
    mel = 2595 * np.log10(1 + freqs / 700)
    edges_mel = np.linspace(mel.min(), mel.max(), n_filters + 1)
    edges = 700 * (10 ** (edges_mel / 2595) - 1)
    t = np.arange(-(kernel_size - 1) / 2, (kernel_size - 1) / 2 + 1)
    window = np.hamming(kernel_size)
    bank = np.empty((n_filters, kernel_size))
    for i in range(n_filters):
        low, high = edges[i], edges[i + 1]
        below_high = (2 * high / sample_rate) * np.sinc(2 * high * t / sample_rate)  # ideal low-pass at `high`
        below_low = (2 * low / sample_rate) * np.sinc(2 * low * t / sample_rate)
        bank[i] = window * (below_high - below_low)
    return bank[:, None, :].astype(np.float32)


class SincFilterbank(nn.Module):
    """Level normalisation then the fixed sinc filters: `[B, N] -> [B, n_filters, N - kernel_size + 1]`."""

    filters: torch.Tensor

    def __init__(self, sample_rate: int, *, n_filters: int, kernel_size: int, normalise_input: bool = True) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (a filter symmetric about its centre), got {kernel_size}")
        self.kernel_size = kernel_size
        self.normalise_input = normalise_input
        self.register_buffer("filters", torch.from_numpy(sinc_filters(n_filters, kernel_size, sample_rate)))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        if self.normalise_input:
            waveform = normalise_level(waveform)
        return F.conv1d(waveform.unsqueeze(1), self.filters)
