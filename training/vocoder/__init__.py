"""`nepcheck corpus vocode`: train a small neural vocoder on bona fide speech, then write its copies as spoofs.

torch is imported here, so only the CLI command that needs it imports this package.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from service.errors import NepcheckError
from training.corpora.audio_io import load_clip
from training.corpora.manifest import ManifestRow, read_manifest, resolve_path, write_manifest
from training.helpers import pick_device
from training.vocoder.copy import write_copies
from training.vocoder.train import TrainConfig, load_generator, train

log = logging.getLogger(__name__)


def _bonafide_clips(
    manifest: Path, rate: int, *, limit: int | None, seed: int
) -> tuple[list[ManifestRow], list[np.ndarray]]:
    rows = [r for r in read_manifest(manifest) if r.label == "bonafide"]
    if limit is not None and len(rows) > limit:
        rng = np.random.default_rng(seed)
        rows = [rows[i] for i in sorted(rng.choice(len(rows), size=limit, replace=False))]
    kept_rows, clips = [], []
    for row in rows:
        try:
            clips.append(load_clip(resolve_path(row, manifest), rate))
            kept_rows.append(row)
        except (NepcheckError, OSError) as exc:
            log.warning("skipping %s: %s", row.path, exc)
    if not clips:
        raise ValueError(f"{manifest}: no decodable bona fide clip")
    return kept_rows, clips


def run_vocode(
    manifest: Path, out_dir: Path, config: TrainConfig, *, train_limit: int | None = None,
    copy_limit: int | None = None, device: str = "auto", progress: bool = True,
) -> dict[str, Any]:
    """Train (or resume) in out_dir, then copy-synthesise bona fide clips; writes vocoded.csv and sources.csv."""
    dev = pick_device(device)
    rate = config.vocoder.sample_rate
    _, train_clips = _bonafide_clips(manifest, rate, limit=train_limit, seed=config.seed)
    train_seconds = sum(c.size for c in train_clips) / rate
    stats = train(train_clips, out_dir, config, device=dev, progress=progress)
    generator, vcfg, step = load_generator(out_dir, dev)
    rows, clips = _bonafide_clips(manifest, rate, limit=copy_limit, seed=config.seed + 1)
    system = f"melgan-s{step}"
    copies, distances = write_copies(generator, vcfg, rows, clips, out_dir, system=system, device=dev,
                                     progress=progress)
    write_manifest(copies, out_dir / "vocoded.csv")
    write_manifest(rows, out_dir / "sources.csv")  # row i of vocoded.csv is a copy of row i here
    summary = {
        "system": system, "steps": step, "device": str(dev), "train_clips": len(train_clips),
        "train_hours": round(train_seconds / 3600, 3), "copies": len(copies),
        "mel_distance_mean": float(np.mean(distances)), "mel_distance_median": float(np.median(distances)),
        "final_losses": {k: v for k, v in stats.items() if k != "step"},
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
