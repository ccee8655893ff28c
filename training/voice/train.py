"""`nepcheck train voice`: fit one network on a built corpus, stopping early on held-out systems.

The dev split holds systems and sources that training never sees, so early stopping and model choice reward
what generalises. Dev clips are scored exactly as the service scores them (its windows, mean logit difference
over windows), clean and through the telephone channel, and the selection metric is the mean EER over those
conditions: a model that only works on wideband audio is not the better model for a telephone partner.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from service.card import VoiceInput
from service.windowing import model_windows
from training.channel import apply_condition
from training.helpers import count_parameters, pick_device, seed_everything
from training.spoof_metrics import compute_eer
from training.voice.data import Augmentation, Clip, WindowDataset, balanced_class_weights, load_split
from training.voice.networks import build_network

log = logging.getLogger(__name__)


@dataclass
class VoiceTrainConfig:
    manifest: Path
    out_dir: Path
    network: str = "specresnet"
    network_options: dict[str, Any] = field(default_factory=dict)
    sample_rate: int = 16_000
    window_s: float = 4.0
    hop_s: float = 2.0
    min_duration_s: float = 1.0
    train_split: str = "train"
    dev_split: str = "dev"
    dev_conditions: tuple[str, ...] = ("clean", "mulaw8k")
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    patience: int = 6
    seed: int = 0
    augmentation: Augmentation | None = field(default_factory=Augmentation)
    threads: int = 0  # 0: torch's default
    loader_workers: int = 1
    max_minutes: float | None = None
    device: str = "auto"

    @property
    def spec(self) -> VoiceInput:
        """The input spec the exported card will carry: the service's window rule for dev scoring."""
        return VoiceInput(sample_rate=self.sample_rate, window_s=self.window_s, hop_s=self.hop_s,
                          min_duration_s=self.min_duration_s)

    @property
    def window(self) -> int:
        return self.spec.window_samples

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))


def load_config(path: Path | None, overrides: dict[str, Any] | None = None) -> VoiceTrainConfig:
    """YAML (or JSON) config plus `key=value` overrides; unknown keys are an error, not silently ignored."""
    raw: dict[str, Any] = {}
    if path is not None:
        raw = yaml.safe_load(path.read_text()) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: a config is a mapping of option names to values")
    raw.update(overrides or {})
    names = {f.name for f in dataclasses.fields(VoiceTrainConfig)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ValueError(f"unknown config option(s) {unknown}; known: {sorted(names)}")
    for key in ("manifest", "out_dir"):
        if key not in raw:
            raise ValueError(f"config needs {key!r}")
        raw[key] = Path(raw[key])
    if "dev_conditions" in raw:
        raw["dev_conditions"] = tuple(raw["dev_conditions"])
    aug = raw.get("augmentation", {})
    if aug is None or aug is False:
        raw["augmentation"] = None
    elif isinstance(aug, dict):
        options: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in aug.items()}
        raw["augmentation"] = Augmentation(**options)
    return VoiceTrainConfig(**raw)


@dataclass
class DevSet:
    """Dev clips cut into service windows once per condition (the channel drawn with a fixed seed)."""

    windows: dict[str, list[np.ndarray]]
    targets: np.ndarray

    @classmethod
    def build(cls, clips: list[Clip], config: VoiceTrainConfig) -> DevSet:
        windows: dict[str, list[np.ndarray]] = {}
        spec = config.spec
        for condition in config.dev_conditions:
            rng = np.random.default_rng(config.seed + 1)
            windows[condition] = [
                model_windows(apply_condition(condition, c.samples, config.sample_rate, rng=rng), spec)[0]
                for c in clips
            ]
        return cls(windows, np.array([c.target for c in clips]))


@torch.no_grad()
def clip_scores(model: nn.Module, windows: list[np.ndarray], device: torch.device, batch_size: int) -> np.ndarray:
    """Mean logit difference over each clip's windows: the service's aggregate before calibration."""
    model.eval()
    flat = np.concatenate(windows)
    owners = np.repeat(np.arange(len(windows)), [w.shape[0] for w in windows])
    diffs = []
    for start in range(0, flat.shape[0], batch_size):
        logits = model(torch.from_numpy(flat[start : start + batch_size]).to(device)).float().cpu().numpy()
        diffs.append(logits[:, 1] - logits[:, 0])
    per_window = np.concatenate(diffs)
    return np.bincount(owners, weights=per_window) / np.bincount(owners)


def dev_metrics(model: nn.Module, dev: DevSet, device: torch.device, batch_size: int) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for condition, windows in dev.windows.items():
        scores = clip_scores(model, windows, device, batch_size)
        eer, _ = compute_eer(scores[dev.targets == 0], scores[dev.targets == 1])
        metrics[f"eer_{condition}"] = eer
    metrics["eer_mean"] = float(np.mean([metrics[f"eer_{c}"] for c in dev.windows]))
    return metrics


def _schedule(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up, then cosine decay to zero over the planned steps."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_voice(config: VoiceTrainConfig) -> dict[str, Any]:
    """Train, keep the checkpoint with the best dev EER, and return the run's summary (also in summary.json)."""
    seed_everything(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    device = pick_device(config.device)
    config.out_dir.mkdir(parents=True, exist_ok=True)
    (config.out_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2))

    train_clips = load_split(config.manifest, config.train_split, config.sample_rate)
    dev_clips = load_split(config.manifest, config.dev_split, config.sample_rate)
    dev = DevSet.build(dev_clips, config)
    dataset = WindowDataset(train_clips, config.sample_rate, config.window, config.augmentation, seed=config.seed)
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, drop_last=len(dataset) > config.batch_size,
                        num_workers=config.loader_workers,
                        generator=torch.Generator().manual_seed(config.seed))

    model = build_network(config.network, sample_rate=config.sample_rate, window_samples=config.window,
                          **config.network_options).to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = len(loader)
    scheduler = _schedule(optimizer, round(config.warmup_epochs * steps_per_epoch), config.epochs * steps_per_epoch)
    criterion = nn.CrossEntropyLoss(weight=balanced_class_weights(train_clips).to(device))
    parameters = count_parameters(model)
    log.info("%s: %d parameters (%d trainable), %d train / %d dev clips, device %s", config.network,
             parameters["trainable"] + parameters["frozen"], parameters["trainable"], len(train_clips),
             len(dev_clips), device)

    started = time.monotonic()
    best: dict[str, Any] = {"eer_mean": float("inf"), "epoch": -1}
    history = []
    stale = 0
    for epoch in range(config.epochs):
        dataset.epoch = epoch  # new crops and channels each epoch; workers are forked per epoch and see it
        model.train()
        losses = []
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, unit="batch")
        for waveform, target in bar:
            waveform, target = waveform.to(device), target.to(device)
            loss = criterion(model(waveform), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(trainable, 5.0)
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        metrics = dev_metrics(model, dev, device, config.batch_size)
        entry = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), **metrics,
                 "minutes": (time.monotonic() - started) / 60}
        history.append(entry)
        log.info("epoch %d: %s", epoch + 1, {k: round(v, 4) for k, v in entry.items()})
        state = {"network": config.network, "network_options": config.network_options,
                 "sample_rate": config.sample_rate, "window_samples": config.window,
                 "state_dict": model.state_dict(), "epoch": epoch + 1, "dev": metrics, "config": config.to_dict()}
        torch.save(state, config.out_dir / "last.pt")
        if metrics["eer_mean"] < best["eer_mean"]:
            best = {**metrics, "epoch": epoch + 1}
            torch.save(state, config.out_dir / "best.pt")
            stale = 0
        else:
            stale += 1
        (config.out_dir / "history.json").write_text(json.dumps(history, indent=2))
        if stale >= config.patience:
            log.info("no dev improvement for %d epochs: stopping", stale)
            break
        if config.max_minutes is not None and (time.monotonic() - started) / 60 >= config.max_minutes:
            log.info("time budget of %.1f min reached: stopping", config.max_minutes)
            break
    summary = {"network": config.network, "best": best, "epochs_run": len(history),
               "minutes": (time.monotonic() - started) / 60, "train_clips": len(train_clips),
               "dev_clips": len(dev_clips)}
    (config.out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
