"""Time-resolved Whisper states of a window, for heads that see local structure instead of pooled statistics.

The pooled probe (`training.voice.pooled.PooledWhisper`) keeps only the mean and std over the 4 s window of each
hidden state, so a short artefact (a vocoder glitch, a codec burst) is averaged away. Here the same states
(embedding and the first k layers, each position layer-normed exactly as `PooledWhisper` does) are kept per
position, average-pooled in time by `pool` (4: 200 positions of 20 ms -> 50 of 80 ms) so that a cache of every
window fits on disk in float16 (7,777 windows x 4 states x 50 x 512 x 2 bytes = 1.6 GB per condition).

The mean over positions of a frames feature equals the pooled feature's mean half, which the tests check: the
time-resolved cache and the pooled cache describe the same windows.

Cached by `training.voice.features.extract` under the front-end name `frames<pool>-whisper<k>` (e.g.
`frames4-whisper3`): chunk files `<condition>/frames4-whisper3-<chunk>.npz` hold `features` float16
`[windows, k + 1, positions, 512]` and `clip`. `load_frames` reads them back (as `WindowFeatures` with 4-D
features) without widening to float32.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training.voice.features import WindowFeatures
from training.voice.frontend import normalise_level
from training.voice.pooled import WHISPER_INPUT_RMS
from training.voice.whisper import WhisperFrontEnd

__all__ = ["FramesWhisper", "frames_spec", "is_frames_name", "load_frames"]

_NAME = re.compile(r"^frames(\d+)-whisper(\d+)$")


def is_frames_name(name: str) -> bool:
    return _NAME.match(name) is not None


def frames_spec(name: str) -> tuple[int, int]:
    """`frames<pool>-whisper<k>` -> (pool, k)."""
    match = _NAME.match(name)
    if match is None:
        raise ValueError(f"not a frames front-end name: {name!r} (expected e.g. frames4-whisper3)")
    return int(match.group(1)), int(match.group(2))


def pool_states(states: torch.Tensor, pool: int) -> torch.Tensor:
    """Hidden states `[S, B, T, D]` -> each position layer-normed (no affine), then averaged over `pool`
    consecutive positions: `[B, S, T // pool, D]`. Trailing positions that do not fill a group are dropped."""
    dim = states.shape[-1]
    states = F.layer_norm(states, (dim,))
    s, b, t, d = states.shape
    keep = (t // pool) * pool
    grouped = states[:, :, :keep].reshape(s, b, keep // pool, pool, d).mean(dim=3)
    return grouped.transpose(0, 1)


class FramesWhisper(nn.Module):
    """Waveform `[B, N]` -> layer-normed, time-pooled Whisper states `[B, k + 1, N // 320 // pool, 512]`."""

    def __init__(self, layers: int = 3, pool: int = 4, frontend: WhisperFrontEnd | None = None) -> None:
        super().__init__()
        self.frontend = frontend if frontend is not None else WhisperFrontEnd(layers=layers)
        self.frontend.eval()
        self.pool = pool
        self.n_states = self.frontend.encoder.n_layers + 1
        self.dim = self.frontend.encoder.conv1.out_channels

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        states = self.frontend(normalise_level(waveform) * WHISPER_INPUT_RMS)  # [S, B, T, D]
        return pool_states(states, self.pool)


def build_frames(name: str) -> FramesWhisper:
    pool, layers = frames_spec(name)
    return FramesWhisper(layers=layers, pool=pool)


def load_frames(cache: Path, condition: str, name: str = "frames4-whisper3") -> WindowFeatures:
    """Every chunk of one frames front-end under one condition, in clip order, kept in float16."""
    paths = sorted(p for p in (cache / condition).glob(f"{name}-*.npz") if not p.name.endswith(".tmp.npz"))
    if not paths:
        raise FileNotFoundError(f"no {name} frames for condition {condition} in {cache}")
    frames, clips = [], []
    for path in paths:
        with np.load(path) as data:
            if data["clip"].size:
                frames.append(data["features"].astype(np.float16, copy=False))
                clips.append(data["clip"])
    return WindowFeatures(np.concatenate(frames), np.concatenate(clips))
