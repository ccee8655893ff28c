"""Training the copy-synthesis vocoder on bona fide speech, within a step and a wall-clock budget.

Reconstruction losses (multi-resolution STFT and log-mel L1) first, so the generator is already a decent
vocoder when the discriminators join at `adversarial_from` steps. Checkpoints resume, so a run can be given
more time later and its copies carry the step count in their system id.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from training.vocoder.model import Generator, LogMel, MultiResolutionSTFTLoss, MultiScaleDiscriminator, VocoderConfig

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 20_000
    max_minutes: float = 60.0
    batch_size: int = 8
    segment: int = 8192
    learning_rate: float = 2e-4
    adversarial_from: int = 4000
    lambda_mel: float = 1.0
    lambda_feature: float = 2.0
    checkpoint_every: int = 500
    seed: int = 0
    vocoder: VocoderConfig = field(default_factory=VocoderConfig)


class SegmentSampler:
    """Random fixed-length segments from in-memory clips, longer clips drawn more often."""

    def __init__(self, clips: list[np.ndarray], segment: int, seed: int) -> None:
        usable = [c for c in clips if c.size >= segment // 2]
        if not usable:
            raise ValueError(f"no clip has the {segment // 2} samples a training segment needs")
        self.clips = usable
        self.segment = segment
        lengths = np.array([c.size for c in usable], dtype=np.float64)
        self.weights = lengths / lengths.sum()
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> torch.Tensor:
        out = np.zeros((size, self.segment), dtype=np.float32)
        for row, index in enumerate(self.rng.choice(len(self.clips), size=size, p=self.weights)):
            clip = self.clips[index]
            if clip.size <= self.segment:
                out[row, : clip.size] = clip
            else:
                start = self.rng.integers(0, clip.size - self.segment)
                out[row] = clip[start : start + self.segment]
        return torch.from_numpy(out)


def _discriminator_loss(real: list, fake: list) -> torch.Tensor:
    # Least-squares GAN objectives, as in MelGAN's successors: stable on small batches.
    terms = [torch.mean((1 - r[0]) ** 2) + torch.mean(f[0] ** 2) for r, f in zip(real, fake, strict=True)]
    return torch.stack(terms).sum()


def _generator_adversarial(real: list, fake: list) -> tuple[torch.Tensor, torch.Tensor]:
    adversarial = torch.stack([torch.mean((1 - f[0]) ** 2) for f in fake]).sum()
    feature = torch.stack([
        nn.functional.l1_loss(ff, rf.detach())
        for r, f in zip(real, fake, strict=True) for rf, ff in zip(r[1], f[1], strict=True)
    ]).sum()
    return adversarial, feature


def train(
    clips: list[np.ndarray], out_dir: Path, config: TrainConfig, *, device: torch.device, progress: bool = True
) -> dict[str, float]:
    """Train (or resume) in `out_dir`; returns the final step and losses. Clips are at the vocoder's rate."""
    torch.manual_seed(config.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    vcfg = config.vocoder
    generator = Generator(vcfg).to(device)
    discriminator = MultiScaleDiscriminator().to(device)
    logmel = LogMel(vcfg).to(device)
    stft_loss = MultiResolutionSTFTLoss().to(device)
    opt_g = torch.optim.AdamW(generator.parameters(), config.learning_rate, betas=(0.8, 0.99))
    opt_d = torch.optim.AdamW(discriminator.parameters(), config.learning_rate, betas=(0.8, 0.99))
    step = 0
    checkpoint = out_dir / CHECKPOINT
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        step = state["step"]
        log.info("resumed from step %d", step)
    sampler = SegmentSampler(clips, config.segment, config.seed + step)
    deadline = time.monotonic() + 60 * config.max_minutes
    bar = _progress(progress, total=config.steps, initial=step)
    losses: dict[str, float] = {}
    generator.train()
    while step < config.steps and time.monotonic() < deadline:
        real = sampler.batch(config.batch_size).to(device)
        mel = logmel(real)
        fake = generator(mel)[:, : real.shape[1]]
        adversarial = step >= config.adversarial_from
        if adversarial:
            opt_d.zero_grad(set_to_none=True)
            loss_d = _discriminator_loss(discriminator(real), discriminator(fake.detach()))
            loss_d.backward()
            opt_d.step()
            losses["d"] = loss_d.item()
        loss_stft = stft_loss(fake, real)
        loss_mel = nn.functional.l1_loss(logmel(fake), mel)
        loss_g = loss_stft + config.lambda_mel * loss_mel
        if adversarial:
            adv, feat = _generator_adversarial(discriminator(real), discriminator(fake))
            loss_g = loss_g + adv + config.lambda_feature * feat
            losses["adv"] = float(adv.item())
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        nn.utils.clip_grad_norm_(generator.parameters(), 10.0)
        opt_g.step()
        step += 1
        losses.update(stft=loss_stft.item(), mel=loss_mel.item())
        if bar is not None:
            bar.update(1)
            bar.set_postfix(stft=f"{losses['stft']:.3f}", mel=f"{losses['mel']:.3f}")
        if step % config.checkpoint_every == 0:
            _save(checkpoint, generator, discriminator, opt_g, opt_d, step, config)
    if bar is not None:
        bar.close()
    _save(checkpoint, generator, discriminator, opt_g, opt_d, step, config)
    return {"step": step, **losses}


def _save(path: Path, generator: nn.Module, discriminator: nn.Module, opt_g: torch.optim.Optimizer,
          opt_d: torch.optim.Optimizer, step: int, config: TrainConfig) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"generator": generator.state_dict(), "discriminator": discriminator.state_dict(),
                "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "step": step,
                "config": asdict(config)}, tmp)
    tmp.replace(path)  # a killed run never leaves half a checkpoint


def load_generator(out_dir: Path, device: torch.device) -> tuple[Generator, VocoderConfig, int]:
    state = torch.load(out_dir / CHECKPOINT, map_location=device, weights_only=False)
    raw = state["config"]["vocoder"]
    vcfg = VocoderConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})  # type: ignore[arg-type]
    generator = Generator(vcfg).to(device)
    generator.load_state_dict(state["generator"])
    generator.eval()
    return generator, vcfg, int(state["step"])


def _progress(enabled: bool, **kw):  # type: ignore[no-untyped-def]
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(desc="vocoder", unit="step", **kw)
