"""Copy-synthesis: real clips re-rendered through the trained vocoder, written as spoofs with a manifest."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from training.corpora.manifest import ManifestRow
from training.vocoder.model import Generator, LogMel, VocoderConfig


@torch.no_grad()
def copy_synthesize(generator: Generator, logmel: LogMel, clip: np.ndarray, device: torch.device) -> np.ndarray:
    wave = torch.from_numpy(clip.astype(np.float32)).to(device).unsqueeze(0)
    copy = generator(logmel(wave))[0, : clip.size]
    return copy.cpu().numpy().astype(np.float32)


@torch.no_grad()
def mel_distance(logmel: LogMel, a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute log-mel difference (natural log units): how far a copy is from its source."""
    n = min(a.size, b.size)
    ma = logmel(torch.from_numpy(a[:n].astype(np.float32)))
    mb = logmel(torch.from_numpy(b[:n].astype(np.float32)))
    return float(torch.mean(torch.abs(ma - mb)))


def write_copies(
    generator: Generator, config: VocoderConfig, rows: list[ManifestRow], clips: list[np.ndarray], out_dir: Path,
    *, system: str, device: torch.device, progress: bool = True,
) -> tuple[list[ManifestRow], list[float]]:
    """One 16-bit FLAC per source clip under out_dir/audio; rows keep speaker, language, split, source."""
    logmel_device = LogMel(config).to(device)
    logmel_cpu = LogMel(config)
    audio_dir = out_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    out_rows: list[ManifestRow] = []
    distances: list[float] = []
    items = zip(rows, clips, strict=True)
    if progress:
        try:
            from tqdm import tqdm

            items = tqdm(items, total=len(rows), desc="copy-synthesis", unit="clip")
        except ImportError:
            pass
    for index, (row, clip) in enumerate(items):
        copy = copy_synthesize(generator, logmel_device, clip, device)
        path = audio_dir / f"{index:06d}_{Path(row.path).stem}.flac"
        sf.write(path, np.clip(copy, -1.0, 1.0), config.sample_rate, subtype="PCM_16")
        distances.append(mel_distance(logmel_cpu, copy, clip))
        out_rows.append(replace(row, path=str(path.resolve()), label="spoof", system=system))
    return out_rows, distances
