"""Scoring clips with an exported ONNX voice model exactly as the service does.

Evaluation and calibration must measure what callers get: the service's decoder and resampler (`load_clip`),
its speech windows (`service.windowing.speech_windows`), ONNX Runtime, and the mean over windows. Only the
transmission channel is added here, as a named condition from `training.channel`, seeded per clip so every run
scores the same audio. The text detector's counterpart is `training.text.onnx_scoring`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import onnxruntime as ort
from tqdm import tqdm

from service import engine
from service.card import VoiceInput
from service.windowing import speech_windows
from training.channel import apply_condition
from training.corpora.audio_io import load_clip
from training.corpora.manifest import ManifestRow, resolve_path


@dataclass(frozen=True)
class ClipScore:
    row: ManifestRow
    condition: str
    logit_diff: float  # mean over windows of logit[1] - logit[0], before calibration


class DecodedClip(Protocol):
    """A manifest row and its samples at the model's rate (`training.voice.data.Clip` is one)."""

    @property
    def row(self) -> ManifestRow: ...

    @property
    def samples(self) -> np.ndarray: ...


@dataclass(frozen=True)
class _Decoded:
    row: ManifestRow
    samples: np.ndarray


def condition_rng(row: ManifestRow, condition: str, seed: int = 0) -> np.random.Generator:
    """A generator fixed by clip path and condition, so scores are reproducible across runs and processes."""
    return np.random.default_rng((seed, zlib.crc32(f"{row.path}|{condition}".encode())))


def windows_for(samples: np.ndarray, spec: VoiceInput) -> np.ndarray:
    """The windows the service would score: those with enough speech (maybe none)."""
    prepared = speech_windows(samples, spec)
    return prepared.frames[np.asarray(prepared.judged, dtype=bool)]


def score_clips(
    session: ort.InferenceSession,
    spec: VoiceInput,
    clips: Iterable[DecodedClip],
    conditions: Iterable[str],
    *,
    batch_size: int = 16,
    seed: int = 0,
    progress: bool = True,
    total: int | None = None,
) -> list[ClipScore]:
    """Every clip (decoded at the model's rate) under every condition. Clips too short for the model are
    skipped, as the service refuses them, and so are clips in which the speech gate finds no window to judge
    (the service answers `no_speech`)."""
    conditions = list(conditions)
    scores: list[ClipScore] = []
    for clip in tqdm(clips, desc="scoring", unit="clip", disable=not progress, leave=False, total=total):
        if clip.samples.size < spec.min_samples:
            continue
        for condition in conditions:
            audio = apply_condition(condition, clip.samples, spec.sample_rate,
                                    rng=condition_rng(clip.row, condition, seed))
            frames = windows_for(audio, spec)
            if not frames.shape[0]:
                continue
            chunks = [
                engine.run_logits(session, {"waveform": frames[i : i + batch_size]})
                for i in range(0, frames.shape[0], batch_size)
            ]
            logits = np.concatenate(chunks)
            scores.append(ClipScore(clip.row, condition, float(np.mean(logits[:, 1] - logits[:, 0]))))
    return scores


def score_rows(
    session: ort.InferenceSession,
    spec: VoiceInput,
    rows: Iterable[ManifestRow],
    manifest: Path,
    conditions: Iterable[str],
    *,
    batch_size: int = 16,
    seed: int = 0,
    progress: bool = True,
) -> list[ClipScore]:
    """`score_clips` on manifest rows, each decoded when its turn comes (a split may not fit in memory)."""
    rows = list(rows)

    def decoded() -> Iterator[DecodedClip]:
        for row in rows:
            yield _Decoded(row, load_clip(resolve_path(row, manifest), spec.sample_rate))

    return score_clips(session, spec, decoded(), conditions, batch_size=batch_size, seed=seed, progress=progress,
                       total=len(rows))
