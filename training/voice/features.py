"""Cached window features: every clip of a corpus, under each channel condition, through each frozen front-end.

Computing a Whisper encoder per window costs tens of milliseconds on a CPU; choosing a front-end honestly needs
many fits (k folds x front-ends x conditions). So windows are featurised once and the fits read the cache.

Windows are exactly the service's: the service's decoder and resampler (`load_clip`), the condition applied to
the whole clip (seeded per clip, as evaluation does), then `service.scoring.speech_windows`, of which only the
windows the speech gate judges are kept. A clip's score is later the mean over its windows, as the service
aggregates. Work is written in chunks of clips, so a killed run resumes where it stopped.

Layout of a cache folder: `rows.csv` (the manifest rows, row i = clip i), and per condition and chunk
`<condition>/<front-end>-<chunk>.npz` with `features` (float16 `[windows, F]`; `[windows, states, positions, 512]`
for the time-resolved `frames<pool>-whisper<k>` of `training.voice.frames`) and `clip` (int32 `[windows]`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from service.card import VoiceInput
from service.windowing import speech_windows
from training.channel import apply_condition
from training.corpora.audio_io import load_clip
from training.corpora.manifest import ManifestRow, read_manifest, resolve_path, write_manifest
from training.voice.onnx_scoring import condition_rng
from training.voice.pooled import build_front_end, distillmos_feature_count, distillmos_layers, whisper_layers

log = logging.getLogger(__name__)

CHUNK_CLIPS = 500
SPEC = VoiceInput(sample_rate=16_000, window_s=4.0, hop_s=2.0, min_duration_s=1.0)


@dataclass(frozen=True)
class WindowFeatures:
    features: np.ndarray  # [windows, F] float32
    clip: np.ndarray  # [windows] index into the cache's rows


def _chunk_path(out_dir: Path, condition: str, front_end: str, chunk: int) -> Path:
    return out_dir / condition / f"{front_end}-{chunk:04d}.npz"


def _clip_windows(row: ManifestRow, manifest: Path, condition: str, spec: VoiceInput) -> np.ndarray:
    clean = load_clip(resolve_path(row, manifest), spec.sample_rate)
    if clean.size < round(spec.min_duration_s * spec.sample_rate):
        return np.zeros((0, spec.window_samples), np.float32)
    audio = apply_condition(condition, clean, spec.sample_rate, rng=condition_rng(row, condition))
    prepared = speech_windows(audio, spec)
    return prepared.frames[np.asarray(prepared.judged, dtype=bool)]


def extract(
    manifest: Path,
    out_dir: Path,
    *,
    front_ends: Sequence[str],
    conditions: Sequence[str],
    spec: VoiceInput = SPEC,
    batch_size: int = 16,
    progress: bool = True,
) -> None:
    """Featurise every clip of `manifest`; chunks already on disk are kept, so a rerun only does what is missing."""
    rows = read_manifest(manifest)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows_path = out_dir / "rows.csv"
    if rows_path.exists():
        if read_manifest(rows_path) != [_absolute(r, manifest) for r in rows]:
            raise ValueError(f"{out_dir} caches another manifest; use a new folder")
    else:
        write_manifest([_absolute(r, manifest) for r in rows], rows_path)
    models = {name: _build(name).eval() for name in front_ends}
    chunks = range(0, len(rows), CHUNK_CLIPS)
    for condition in conditions:
        for first in tqdm(chunks, desc=f"features {condition}", unit="chunk", disable=not progress):
            chunk = first // CHUNK_CLIPS
            todo = [n for n in front_ends if not _chunk_path(out_dir, condition, n, chunk).exists()]
            if not todo:
                continue
            feats: dict[str, list[np.ndarray]] = {n: [] for n in todo}
            clip_ids: list[np.ndarray] = []
            for index in range(first, min(first + CHUNK_CLIPS, len(rows))):
                try:
                    windows = _clip_windows(rows[index], manifest, condition, spec)
                except Exception as exc:  # one unreadable clip must not stop a long run; it is logged and left out
                    log.warning("clip %d (%s): %s", index, rows[index].path, exc)
                    continue
                if not windows.shape[0]:
                    continue
                clip_ids.append(np.full(windows.shape[0], index, np.int32))
                with torch.inference_mode():
                    for name in todo:
                        parts = [models[name](torch.from_numpy(windows[i : i + batch_size])).numpy()
                                 for i in range(0, windows.shape[0], batch_size)]
                        feats[name].append(np.concatenate(parts))
            ids = np.concatenate(clip_ids) if clip_ids else np.zeros(0, np.int32)
            for name in todo:
                path = _chunk_path(out_dir, condition, name, chunk)
                path.parent.mkdir(parents=True, exist_ok=True)
                stacked = np.concatenate(feats[name]) if feats[name] else np.zeros((0, 0), np.float32)
                tmp = path.with_suffix(".tmp.npz")
                np.savez(tmp, features=stacked.astype(np.float16), clip=ids)
                tmp.replace(path)  # whole chunks only: a killed run never leaves a half-written one


def _build(name: str) -> torch.nn.Module:
    """A pooled front-end, or a time-resolved one (`frames<pool>-whisper<k>`, see `training.voice.frames`)."""
    from training.voice.frames import build_frames, is_frames_name

    return build_frames(name) if is_frames_name(name) else build_front_end(name)


def _absolute(row: ManifestRow, manifest: Path) -> ManifestRow:
    return ManifestRow(**{**row.__dict__, "path": str(resolve_path(row, manifest).resolve())})


def load_rows(cache: Path) -> list[ManifestRow]:
    return read_manifest(cache / "rows.csv")


def load_features(cache: Path, condition: str, front_end: str) -> WindowFeatures:
    """All chunks of one front-end under one condition, in clip order. "whisper<k>" is read as the first k + 1
    hidden states of a cached "whisper" when it was not cached itself, and "distillmos<k>" as the prefix of a
    cached "distillmos"."""
    paths = sorted((cache / condition).glob(f"{front_end}-*.npz"))
    if not paths and front_end.startswith("distillmos") and front_end != "distillmos":
        full = load_features(cache, condition, "distillmos")
        return WindowFeatures(full.features[:, : distillmos_feature_count(distillmos_layers(front_end))], full.clip)
    if not paths and front_end.startswith("whisper") and front_end != "whisper":
        full = load_features(cache, condition, "whisper")
        states = whisper_layers(front_end)
        assert states is not None
        per_state = full.features.shape[1] // 7  # Whisper-base: embedding + 6 layers, each mean and std
        return WindowFeatures(full.features[:, : (states + 1) * per_state], full.clip)
    if not paths:
        raise FileNotFoundError(f"no {front_end} features for condition {condition} in {cache}")
    feats, clips = [], []
    for path in paths:
        with np.load(path) as data:
            if data["clip"].size:
                feats.append(data["features"].astype(np.float32))
                clips.append(data["clip"])
    return WindowFeatures(np.concatenate(feats), np.concatenate(clips))
