"""Small trainable heads over time-resolved Whisper states, and the two losses compared on them.

Input of every head: `[B, S, T, D]` (states x positions x 512, `training.voice.frames`), in training reduced per
state to `rank` dimensions by a fixed PCA of the fold's training windows (`StatePCA`). Both heads first mix the
S states with learned softmax weights (lower layers keep more of a vocoder's fine structure; the mix is learned,
not chosen), project 512 -> `width`, then:

- `AttentiveStatsHead`: attentive statistics pooling (Okabe et al. 2018): an attention score per position, the
  attention-weighted mean and std over positions, a linear embedding. The pooled probe is its special case with
  uniform attention and no projection, so it can only add the choice of *where* to look.
- `ConvHead`: two 1-D convolutions over positions (kernel 3: 240 ms at 80 ms per position, 400 ms for both) with
  batch norm,
  then the same attentive statistics pooling; it sees local patterns across neighbouring positions.

Each returns an embedding `[B, embed]`; a loss object turns it into the spoof score (higher = spoof):

- `BinaryLoss` (cross-entropy): a linear logit, class-balanced binary cross-entropy.
- `OCSoftmax` (Zhang, Jiang and Duan, IEEE SPL 2021): one learned direction w for bona fide; the score is the
  cosine of the embedding with w, bona fide pushed above `m_real`, spoofs below `m_fake`, scaled by `alpha`. Real
  speech is kept compact while spoofs may scatter, the property wanted against unseen systems. The spoof score is
  the negated cosine.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AttentiveStatsHead", "BinaryLoss", "ConvHead", "HEADS", "LOSSES", "OCSoftmax", "StatePCA",
           "StateStandardise", "build_head", "build_loss", "fit_state_pca"]


class StatePCA(nn.Module):
    """A fixed per-state linear reduction `[B, S, T, D]` -> `[B, S, T, rank]`: each state centred and projected
    on its top principal directions (fitted on a fold's training windows only, `fit_state_pca`). It makes the
    trainable heads ~4x cheaper on two CPU cores; being linear and fixed, it ships as two constants."""

    mean: torch.Tensor
    components: torch.Tensor

    def __init__(self, mean: torch.Tensor, components: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)  # [S, D]
        self.register_buffer("components", components)  # [S, D, rank]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean[:, None, :]) @ self.components


class StateStandardise(nn.Module):
    """`[B, S, T, D]` -> each (state, dimension) centred and scaled to unit variance over training positions: the
    per-dimension standardisation the pooled probe applies, without dropping the low-variance directions a
    PCA drops (where a vocoder's traces may well live)."""

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, mean: torch.Tensor, scale: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)  # [S, D]
        self.register_buffer("scale", scale)  # [S, D]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean[:, None, :]) / self.scale[:, None, :]


def fit_state_pca(x: torch.Tensor, rank: int) -> StatePCA:
    """Per state, the mean and the top `rank` right singular vectors of positions `x` `[N, S, D]`."""
    mean = x.mean(dim=0)
    comps = []
    for s in range(x.shape[1]):
        centred = x[:, s] - mean[s]
        _, _, vh = torch.linalg.svd(centred, full_matrices=False)
        comps.append(vh[:rank].T)
    return StatePCA(mean, torch.stack(comps))


class LayerMix(nn.Module):
    """`[B, S, T, D]` -> `[B, T, D]`: a softmax-weighted sum of the S states (equal weights at start)."""

    def __init__(self, n_states: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(n_states))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.logits, dim=0)
        return (x.permute(0, 2, 3, 1) @ weights)  # a matmul: einsum's backward is ~2x slower on CPU


class AttentiveStats(nn.Module):
    """`[B, T, C]` -> attention-weighted mean and std over T, `[B, 2C]`."""

    def __init__(self, channels: int, hidden: int = 64) -> None:
        super().__init__()
        self.attention = nn.Sequential(nn.Linear(channels, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = torch.softmax(self.attention(x), dim=1)  # [B, T, 1]
        mean = (alpha * x).sum(dim=1)
        var = (alpha * x.pow(2)).sum(dim=1) - mean.pow(2)
        return torch.cat([mean, torch.sqrt(var.clamp(min=1e-6))], dim=1)


class AttentiveStatsHead(nn.Module):
    """Layer mix -> projection -> attentive statistics pooling -> embedding."""

    def __init__(self, n_states: int, dim: int = 512, width: int = 128, embed: int = 64,
                 dropout: float = 0.3) -> None:
        super().__init__()
        self.mix = LayerMix(n_states)
        self.drop = nn.Dropout(dropout)
        self.project = nn.Linear(dim, width)
        self.pool = AttentiveStats(width)
        self.embed = nn.Linear(2 * width, embed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(self.project(self.mix(x)))  # [B, T, W]
        return self.embed(self.drop(self.pool(h)))


class ConvHead(nn.Module):
    """Layer mix -> projection -> two 1-D convolutions over positions -> attentive statistics -> embedding."""

    def __init__(self, n_states: int, dim: int = 512, width: int = 128, embed: int = 64, kernel: int = 3,
                 dropout: float = 0.3) -> None:
        super().__init__()
        self.mix = LayerMix(n_states)
        self.drop = nn.Dropout(dropout)
        self.project = nn.Linear(dim, width)
        self.convs = nn.Sequential(
            nn.Conv1d(width, width, kernel, padding=kernel // 2), nn.BatchNorm1d(width), nn.ReLU(),
            nn.Conv1d(width, width, kernel, padding=kernel // 2), nn.BatchNorm1d(width), nn.ReLU(),
        )
        self.pool = AttentiveStats(width)
        self.embed = nn.Linear(2 * width, embed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(self.project(self.mix(x)))  # [B, T, W]
        h = self.convs(h.transpose(1, 2)).transpose(1, 2)
        return self.embed(self.drop(self.pool(h)))


class BinaryLoss(nn.Module):
    """A linear spoof logit on the embedding; weighted binary cross-entropy."""

    def __init__(self, embed: int) -> None:
        super().__init__()
        self.linear = nn.Linear(embed, 1)

    def score(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.linear(embedding).squeeze(1)

    def forward(self, embedding: torch.Tensor, spoof: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        loss = F.binary_cross_entropy_with_logits(self.score(embedding), spoof.float(), reduction="none")
        return (loss * weight).sum() / weight.sum()


class OCSoftmax(nn.Module):
    """One-class softmax: bona fide cosine to the centre above `m_real`, spoof cosine below `m_fake`."""

    def __init__(self, embed: int, m_real: float = 0.9, m_fake: float = 0.2, alpha: float = 20.0) -> None:
        super().__init__()
        self.centre = nn.Parameter(torch.randn(1, embed))
        self.m_real, self.m_fake, self.alpha = m_real, m_fake, alpha

    def cosine(self, embedding: torch.Tensor) -> torch.Tensor:
        return (F.normalize(embedding, dim=1) * F.normalize(self.centre, dim=1)).sum(dim=1)

    def score(self, embedding: torch.Tensor) -> torch.Tensor:
        return -self.cosine(embedding)

    def forward(self, embedding: torch.Tensor, spoof: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        cos = self.cosine(embedding)
        margin = torch.where(spoof.bool(), cos - self.m_fake, self.m_real - cos)
        loss = F.softplus(self.alpha * margin)
        return (loss * weight).sum() / weight.sum()


HEADS = ("attstats", "conv")
LOSSES = ("ce", "ocsoftmax")


def build_head(kind: str, n_states: int, dim: int = 512, width: int = 128, embed: int = 64,
               dropout: float = 0.3) -> nn.Module:
    if kind == "attstats":
        return AttentiveStatsHead(n_states, dim, width, embed, dropout=dropout)
    if kind == "conv":
        return ConvHead(n_states, dim, width, embed, dropout=dropout)
    raise ValueError(f"unknown head {kind!r}; known: {', '.join(HEADS)}")


def build_loss(kind: str, embed: int = 64) -> BinaryLoss | OCSoftmax:
    if kind == "ce":
        return BinaryLoss(embed)
    if kind == "ocsoftmax":
        return OCSoftmax(embed)
    raise ValueError(f"unknown loss {kind!r}; known: {', '.join(LOSSES)}")
