"""Fitting a time-resolved head (`training.voice.heads`) on cached frames, with early stopping on an inner dev
split that holds out whole sources and families of the training clips, never the test fold.

`fit_frames_head` has the signature `training.voice.crossval.cross_validate` takes as `fit`, so the heads are
cross-validated on exactly the folds, seeds, aggregation and reports of the pooled linear probe.

Why an inner split by sources: the outer folds test on unseen pages and vocoder families; an epoch chosen on
windows of the same sources as training would reward memorising a page's recording chain. The inner dev set is
one fold of `make_folds` over the training clips (a source and family split), so early stopping asks the same
question the outer test does.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from training.corpora.manifest import ManifestRow
from training.spoof_metrics import compute_eer
from training.voice.heads import StatePCA, StateStandardise, build_head, build_loss, fit_state_pca

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeadConfig:
    head: str = "attstats"
    loss: str = "ce"
    width: int = 64
    embed: int = 32
    rank: int = 64  # per-state PCA dimensions (0: no PCA, every dimension standardised instead)
    pca_positions: int = 20_000
    epochs: int = 12
    patience: int = 3
    batch_size: int = 64
    lr: float = 3e-3
    dropout: float = 0.1
    weight_decay: float = 1e-2
    inner_k: int = 5
    seed: int = 0
    select: str = "dev"  # "dev": the epoch with the best inner dev EER; "last": train all epochs, keep the last


@dataclass
class FitLog:
    """Per fitted head: the chosen epoch, dev EER there and the training clips' EER (the fit gap)."""

    entries: list[dict[str, float]] = field(default_factory=list)


class FramesScorer:
    """A trained head and loss (after an optional fixed reduction); `score` maps frames `[N, S, T, D]` (any float
    dtype) to spoof scores `[N]`."""

    def __init__(self, head: nn.Module, loss: nn.Module, reduce: nn.Module | None = None,
                 batch_size: int = 256) -> None:
        self.reduce = reduce if reduce is not None else nn.Identity()
        self.head = head.eval()
        self.loss = loss.eval()
        self.batch_size = batch_size

    def score(self, x: np.ndarray) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for i in range(0, x.shape[0], self.batch_size):
                batch = torch.from_numpy(np.asarray(x[i : i + self.batch_size], dtype=np.float32))
                out.append(self.loss.score(self.head(self.reduce(batch))).numpy())  # type: ignore[operator]
        return np.concatenate(out) if out else np.zeros(0, np.float32)


def reduce_frames(x: np.ndarray, reduce: nn.Module, batch_size: int = 256) -> np.ndarray:
    """`reduce` applied to every window, stored float16 (the heads train on this, not on the 512-d states)."""
    out = []
    with torch.inference_mode():
        for i in range(0, x.shape[0], batch_size):
            out.append(reduce(torch.from_numpy(x[i : i + batch_size].astype(np.float32))).numpy().astype(np.float16))
    return np.concatenate(out)


def _sample_positions(x: np.ndarray, rows: np.ndarray, config: HeadConfig, rng: np.random.Generator) -> torch.Tensor:
    """`pca_positions` random (window, position) pairs of the training windows `rows`: `[P, S, D]`."""
    n, s, t, d = x.shape
    picks = rng.choice(rows.size * t, size=min(config.pca_positions, rows.size * t), replace=False)
    windows, positions = rows[picks // t], picks % t
    return torch.from_numpy(x[windows, :, positions].astype(np.float32))


def _fit_reduction(x: np.ndarray, rows: np.ndarray, config: HeadConfig, rng: np.random.Generator) -> StatePCA:
    """PCA per state on sampled positions of the training windows `rows`."""
    return fit_state_pca(_sample_positions(x, rows, config, rng), config.rank)


def _fit_standardiser(x: np.ndarray, rows: np.ndarray, config: HeadConfig,
                      rng: np.random.Generator) -> StateStandardise:
    sample = _sample_positions(x, rows, config, rng)
    return StateStandardise(sample.mean(dim=0), sample.std(dim=0).clamp(min=1e-3))


def _clip_eer(scores: np.ndarray, clip: np.ndarray, spoof: np.ndarray) -> float:
    """EER over clips (mean window score per clip, the service's aggregation)."""
    ids, inverse = np.unique(clip, return_inverse=True)
    sums = np.bincount(inverse, weights=scores)
    mean = sums / np.bincount(inverse)
    labels = np.zeros(ids.size, bool)
    labels[inverse] = spoof.astype(bool)
    if labels.all() or not labels.any():
        return float("nan")
    return float(compute_eer(mean[~labels], mean[labels])[0])


def inner_dev_clips(rows: Sequence[ManifestRow], train_clips: np.ndarray, k: int, seed: int) -> np.ndarray:
    """One source-and-family fold of the training clips, the largest of the k that holds both labels."""
    from training.voice.crossval import make_folds

    subset = [rows[i] for i in train_clips]
    folds = make_folds(subset, k, seed=seed)
    labels = np.array([r.label == "spoof" for r in subset])
    best = np.zeros(0, np.int64)
    for test in folds.test:
        if labels[test].any() and not labels[test].all() and test.size > best.size:
            best = test
    return train_clips[best]


# (training clips, rank) -> the fold's reduction and its reduced training windows, shared by the heads of one run
ReductionCache = dict[str, tuple[StatePCA, np.ndarray]]


def fit_frames_head(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, clip: np.ndarray, *, rows: Sequence[ManifestRow],
    config: HeadConfig, fit_log: FitLog | None = None, cache: ReductionCache | None = None,
) -> FramesScorer:
    """Train on the windows `x` `[N, S, T, D]` with labels `y` (1 spoof) and weights `w` (each clip alike);
    keep the epoch with the lowest clip EER on the inner dev split. The per-state PCA is fitted on the training
    windows outside the inner dev split; `cache` keeps it (and the reduced windows) for the next head of the
    same fold."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    dev = np.isin(clip, inner_dev_clips(rows, np.unique(clip), config.inner_k, 1000 + config.seed))
    train = np.flatnonzero(~dev)
    dev_idx = np.flatnonzero(dev)
    weights = w.astype(np.float64).copy()
    for label in (0, 1):  # class-balanced, as the probe's class_weight="balanced"
        mask = y == label
        if mask.any():
            weights[mask] *= 0.5 * weights[~dev].sum() / weights[mask & ~dev].sum()
    reduce: nn.Module | None = None
    online: nn.Module | None = None  # applied per batch (standardisation), not once to all windows (PCA)
    if not config.rank:
        reduce = online = _fit_standardiser(x, train, config, np.random.default_rng(config.seed))
    else:
        key = hashlib.sha256(clip.tobytes() + f"{x.shape}|{config.rank}|{config.seed}".encode()).hexdigest()
        if cache is not None and key in cache:
            reduce, x = cache[key]
        else:
            reduce = _fit_reduction(x, train, config, np.random.default_rng(config.seed))
            x = reduce_frames(x, reduce)
            if cache is not None:
                cache[key] = (reduce, x)
    head = build_head(config.head, x.shape[1], x.shape[3], config.width, config.embed, config.dropout)
    loss = build_loss(config.loss, config.embed)
    params = list(head.parameters()) + list(loss.parameters())
    optimiser = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    best: tuple[float, int, dict[str, object]] = (float("inf"), -1, {})
    stale = 0
    for epoch in range(config.epochs):
        head.train()
        loss.train()
        order = rng.permutation(train)
        for i in range(0, order.size, config.batch_size):
            batch = np.sort(order[i : i + config.batch_size])
            xb = torch.from_numpy(x[batch].astype(np.float32))
            if online is not None:
                xb = online(xb)
            value = loss(head(xb), torch.from_numpy(y[batch]), torch.from_numpy(weights[batch]).float())
            optimiser.zero_grad()
            value.backward()
            optimiser.step()
        scorer = FramesScorer(head, loss, online)
        dev_eer = _clip_eer(scorer.score(x[dev_idx]), clip[dev_idx], y[dev_idx]) if dev_idx.size else 0.0
        if config.select == "last":
            best = (dev_eer, epoch, {"head": copy.deepcopy(head.state_dict()),
                                     "loss": copy.deepcopy(loss.state_dict())})
        elif dev_eer < best[0] - 1e-4:
            best = (dev_eer, epoch, {"head": copy.deepcopy(head.state_dict()),
                                     "loss": copy.deepcopy(loss.state_dict())})
            stale = 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    if best[1] >= 0:
        head.load_state_dict(best[2]["head"])  # type: ignore[arg-type]
        loss.load_state_dict(best[2]["loss"])  # type: ignore[arg-type]
    if fit_log is not None:
        scorer = FramesScorer(head, loss, online)
        sample = train if train.size <= 4000 else np.sort(rng.choice(train, 4000, replace=False))
        entry = {"epoch": float(best[1]), "dev_eer": best[0], "dev_clips": float(np.unique(clip[dev_idx]).size),
                 "train_eer": _clip_eer(scorer.score(x[sample]), clip[sample], y[sample])}
        fit_log.entries.append(entry)
        log.info("%s/%s: best epoch %d, inner dev EER %.3f, train EER %.3f", config.head, config.loss,
                 best[1], best[0], entry["train_eer"])
    return FramesScorer(head, loss, reduce)
