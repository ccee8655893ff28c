"""Pooled window features from frozen front-ends, and the detector that ships a linear head on them.

Why pooled features and a linear head: on 2 CPU cores a Whisper encoder cannot be fine-tuned, but its frozen
hidden states can be computed once per window and cached (`training.voice.features`). Every layer is kept
(Kawa et al., Interspeech 2023: lower layers keep more of the fine structure a vocoder leaves; the final layer
alone was near chance in our probe), pooled over time as mean and standard deviation, so a logistic head learns
its own weighting of layers and dimensions. LFCC statistics are the classic baseline and a fusion partner.

`ProbeDetector` is the shipped graph: waveform -> the same front-ends -> standardisation -> the head's weights,
as `logits [batch, 2]` (bona fide logit 0, spoof logit = the head's score), so the service contract holds and the
ONNX graph computes exactly what cross-validation measured.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training.voice.distillmos import N_LAYERS as DISTILLMOS_LAYERS
from training.voice.distillmos import STATE_DIMS as DISTILLMOS_STATE_DIMS
from training.voice.distillmos import TRANSFORMER_DIM as DISTILLMOS_DIM
from training.voice.distillmos import DistillMOSFrontEnd
from training.voice.frontend import LFCC, normalise_level
from training.voice.whisper import WhisperFrontEnd

__all__ = ["FRONT_ENDS", "PooledDistillMOS", "PooledLFCC", "PooledWhisper", "ProbeDetector", "build_front_end",
           "distillmos_feature_count", "distillmos_layers"]

SAMPLE_RATE = 16_000
# Whisper was trained on speech at natural levels; its log-mel is not level invariant ((log10 + 4) / 4), so every
# window is brought to one RMS first and loudness can never be a cue.
WHISPER_INPUT_RMS = 0.05


def _mean_std(x: torch.Tensor, dim: int) -> torch.Tensor:
    mean = x.mean(dim=dim)
    std = torch.sqrt(((x - mean.unsqueeze(dim)) ** 2).mean(dim=dim) + 1e-8)
    return torch.cat([mean, std], dim=-1)


class PooledWhisper(nn.Module):
    """Waveform `[B, N]` -> mean and std over time of every hidden state, flattened: `[B, (k + 1) * 1024]`."""

    def __init__(self, layers: int | None = None) -> None:
        super().__init__()
        self.frontend = WhisperFrontEnd(layers=layers)
        self.frontend.eval()
        self.n_states = self.frontend.encoder.n_layers + 1
        self.dim = self.frontend.encoder.conv1.out_channels
        self.n_features = self.n_states * 2 * self.dim

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        states = self.frontend(normalise_level(waveform) * WHISPER_INPUT_RMS)  # [S, B, T, D]
        # Layers 4-5 keep one or two "sink" positions ~25x the norm of the rest (a pause often hosts them in a
        # 4 s window); normalising each position first keeps them from dominating the pooled statistics.
        states = F.layer_norm(states, (self.dim,))  # a constant shape, so the ONNX export traces it
        pooled = _mean_std(states, dim=2)  # [S, B, 2D]
        return pooled.transpose(0, 1).reshape(waveform.shape[0], -1)


class PooledLFCC(nn.Module):
    """Waveform `[B, N]` -> mean and std over time of LFCCs with deltas (20 ms windows, 10 ms hop): `[B, 120]`."""

    def __init__(self) -> None:
        super().__init__()
        # no mean normalisation before pooling: the mean *is* the static spectral envelope the head should see
        self.lfcc = LFCC(SAMPLE_RATE, n_fft=512, win_length=320, hop_length=160, mean_norm=False)
        self.n_features = 2 * self.lfcc.n_features

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return _mean_std(self.lfcc(waveform), dim=2)


class PooledDistillMOS(nn.Module):
    """Waveform `[B, N]` -> mean and std over time of DistillMOS's hidden states (`training.voice.distillmos`):
    the CNN output (1024), the transformer input and the first k transformer layers (200 each); with every layer
    (`layers=None`) also its attention-pooled vector (200) and its MOS, `[B, 5449]` in all.

    No level normalisation here: DistillMOS peak-normalises its input itself, as it was trained. No per-position
    normalisation either: its transformer is post-LayerNorm (every position's norm is ~13.6) and its CNN output
    has no outlier positions, unlike Whisper's residual stream.
    """

    def __init__(self, layers: int | None = None) -> None:
        super().__init__()
        if layers is not None and not 0 <= layers <= DISTILLMOS_LAYERS:
            raise ValueError(f"DistillMOS has {DISTILLMOS_LAYERS} transformer layers, asked for {layers}")
        self.frontend = DistillMOSFrontEnd()
        self.layers = layers
        self.n_features = distillmos_feature_count(layers)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        states, last = self.frontend.states(waveform)
        keep = len(states) if self.layers is None else self.layers + 2
        pooled = [_mean_std(s, dim=1) for s in states[:keep]]
        if self.layers is None:
            vector, mos = self.frontend.head(last)
            pooled += [vector, mos.unsqueeze(1)]
        return torch.cat(pooled, dim=1)


def distillmos_feature_count(layers: int | None) -> int:
    """Features of "distillmos<layers>"; each is a prefix of the full "distillmos" vector (so one cache serves all)."""
    states = len(DISTILLMOS_STATE_DIMS) if layers is None else layers + 2
    count = 2 * sum(DISTILLMOS_STATE_DIMS[:states])
    return count + (DISTILLMOS_DIM + 1 if layers is None else 0)


FRONT_ENDS = ("whisper", "whisper<k>", "lfcc", "distillmos", "distillmos<k>")


def whisper_layers(name: str) -> int | None:
    """"whisper" is every layer; "whisper3" the embedding and the first 3 layers (their states are the same as
    the full encoder's first four, so their features are a slice of the full cache)."""
    if name == "whisper":
        return None
    if name.startswith("whisper") and name[len("whisper"):].isdigit():
        return int(name[len("whisper"):])
    raise ValueError(f"unknown front-end {name!r}; known: {', '.join(FRONT_ENDS)}")


def distillmos_layers(name: str) -> int | None:
    """"distillmos" is every state plus the MOS head; "distillmos<k>" the CNN output, the transformer input and
    the first k transformer layers (0-7), a prefix of the full feature vector."""
    if name == "distillmos":
        return None
    if name.startswith("distillmos") and name[len("distillmos"):].isdigit():
        return int(name[len("distillmos"):])
    raise ValueError(f"unknown front-end {name!r}; known: {', '.join(FRONT_ENDS)}")


def build_front_end(name: str) -> PooledWhisper | PooledLFCC | PooledDistillMOS:
    if name == "lfcc":
        return PooledLFCC()
    if name.startswith("distillmos"):
        return PooledDistillMOS(layers=distillmos_layers(name))
    return PooledWhisper(layers=whisper_layers(name))


class ProbeDetector(nn.Module):
    """Front-ends, feature standardisation and a linear head as one waveform-in, logits-out network."""

    mean: torch.Tensor
    scale: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor

    def __init__(self, front_ends: Sequence[str], *, mean: np.ndarray, scale: np.ndarray, weight: np.ndarray,
                 bias: float) -> None:
        super().__init__()
        self.front_end_names = tuple(front_ends)
        modules = [build_front_end(name) for name in front_ends]
        self.front_ends = nn.ModuleList(modules)
        size = sum(m.n_features for m in modules)
        for name, value in (("mean", mean), ("scale", scale), ("weight", weight)):
            if value.shape != (size,):
                raise ValueError(f"{name} has shape {value.shape}, the front-ends give {size} features")
        self.register_buffer("mean", torch.from_numpy(mean.astype(np.float32)))
        self.register_buffer("scale", torch.from_numpy(scale.astype(np.float32)))
        self.register_buffer("weight", torch.from_numpy(weight.astype(np.float32)))
        self.register_buffer("bias", torch.tensor(float(bias), dtype=torch.float32))
        self.requires_grad_(False)

    def features(self, waveform: torch.Tensor) -> torch.Tensor:
        return torch.cat([f(waveform) for f in self.front_ends], dim=1)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        z = (self.features(waveform) - self.mean) / self.scale
        spoof = z @ self.weight + self.bias
        return torch.stack([torch.zeros_like(spoof), spoof], dim=1)
