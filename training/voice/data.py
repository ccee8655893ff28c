"""Training and scoring data for the voice detector, cut the way the service cuts it.

Clips are decoded with the service's decoder and resampler (`load_clip`), and windows follow the service's
`service.windowing` (`repeat_pad` here, `model_windows` for dev scoring), so a model trains on exactly the
fixed windows it is later served. Training windows are random crops (or the repeat-padded clip when it is
shorter than a window), then a random channel: the telephone and codec conditions of `training.channel` and
RawBoost, drawn per example, so the model cannot learn the recording chain of any one source.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from service.windowing import repeat_pad
from training.augment import rawboost
from training.channel import CONDITIONS, apply_condition
from training.corpora.audio_io import load_clip
from training.corpora.manifest import ManifestRow, read_manifest, resolve_path

log = logging.getLogger(__name__)

LABELS = ("bonafide", "spoof")


@dataclass(frozen=True)
class Clip:
    row: ManifestRow
    samples: np.ndarray  # float32 mono at the working rate

    @property
    def target(self) -> int:
        return LABELS.index(self.row.label)


def load_split(manifest: Path, split: str | Sequence[str], rate: int, *, workers: int = 2) -> list[Clip]:
    """Every clip of the named split(s), decoded once and held in memory (a few hundred MB at most here)."""
    splits = {split} if isinstance(split, str) else set(split)
    rows = [row for row in read_manifest(manifest) if row.split in splits]
    if not rows:
        raise ValueError(f"{manifest}: no rows in split(s) {sorted(splits)}")

    def load(row: ManifestRow) -> Clip:
        return Clip(row, load_clip(resolve_path(row, manifest), rate).astype(np.float32))

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        clips = list(pool.map(load, rows))
    log.info("loaded %d clips of split %s from %s", len(clips), sorted(splits), manifest)
    return clips


@dataclass(frozen=True)
class Augmentation:
    """Per-example probabilities. `conditions` are names in `training.channel.CONDITIONS` drawn uniformly."""

    p_channel: float = 0.4
    conditions: tuple[str, ...] = ("mulaw8k", "alaw8k", "telephone_mulaw", "opus8k", "opus16k", "packetloss5",
                                   "noise20db", "noise10db")
    p_rawboost: float = 0.3
    rawboost_algos: tuple[int, ...] = (1, 2, 3, 5)
    gain_db: tuple[float, float] = (-20.0, 6.0)


@dataclass
class WindowDataset(Dataset[tuple[torch.Tensor, int]]):
    """Random fixed windows of the clips, re-drawn every epoch (the clip is the unit, not the window)."""

    clips: list[Clip]
    rate: int
    window: int
    augmentation: Augmentation | None = None
    seed: int = 0
    epoch: int = 0
    _available: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        if self.augmentation is not None:
            self._available = tuple(c for c in self.augmentation.conditions if c in CONDITIONS)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        clip = self.clips[index]
        x = clip.samples
        if x.size > self.window:
            start = int(rng.integers(0, x.size - self.window + 1))
            x = x[start : start + self.window]
        aug = self.augmentation
        if aug is not None:
            x = self._augment(x, aug, rng)
        x = repeat_pad(np.asarray(x, dtype=np.float32), self.window)
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), clip.target

    def _augment(self, x: np.ndarray, aug: Augmentation, rng: np.random.Generator) -> np.ndarray:
        if self._available and rng.random() < aug.p_channel:
            x = apply_condition(str(rng.choice(self._available)), x, self.rate, rng=rng)
        if rng.random() < aug.p_rawboost:
            x = rawboost(x, self.rate, rng=rng, algo=int(rng.choice(aug.rawboost_algos)))
        gain = 10.0 ** (rng.uniform(*aug.gain_db) / 20.0)
        peak = float(np.max(np.abs(x))) or 1.0
        return np.clip(x * min(gain, 0.999 / peak), -1.0, 1.0)


def balanced_class_weights(clips: Sequence[Clip]) -> torch.Tensor:
    """Inverse-frequency weights normalised to mean 1: each class counts equally in the loss."""
    counts = np.bincount([c.target for c in clips], minlength=2).astype(np.float64)
    if (counts == 0).any():
        raise ValueError("training data needs clips of both classes")
    weights = counts.sum() / (2.0 * counts)
    return torch.tensor(weights, dtype=torch.float32)
