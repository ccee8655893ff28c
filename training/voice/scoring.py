"""Scoring clips with an exported ONNX voice model along the service's own path.

Evaluation and calibration must measure what callers get: the service's decoder and resampler (`load_clip`),
its windows (`frame_windows`), ONNX Runtime, and the mean over windows. Only the transmission channel is
added here, as a named condition from `training.channel`, seeded per clip so every run scores the same audio.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tqdm import tqdm

from service import engine
from service.card import VoiceInput
from service.scoring import speech_windows
from training.channel import apply_condition
from training.corpora.audio_io import load_clip
from training.corpora.manifest import ManifestRow, resolve_path


@dataclass(frozen=True)
class ClipScore:
    row: ManifestRow
    condition: str
    logit_diff: float  # mean over windows of logit[1] - logit[0], before calibration


def condition_rng(row: ManifestRow, condition: str, seed: int = 0) -> np.random.Generator:
    """A generator fixed by clip path and condition, so scores are reproducible across runs and processes."""
    return np.random.default_rng((seed, zlib.crc32(f"{row.path}|{condition}".encode())))


def open_session(onnx_path: Path, *, threads: int = 0) -> ort.InferenceSession:
    session = engine.create_session(onnx_path, providers=["cpu"], intra_op_threads=threads)
    engine.check_io(session, "voice", onnx_path)
    return session


def windows_for(samples: np.ndarray, spec: VoiceInput) -> np.ndarray:
    """The windows the service would score: those with enough speech (maybe none)."""
    prepared = speech_windows(samples, spec)
    return prepared.frames[np.asarray(prepared.judged, dtype=bool)]


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
    """Every row under every condition. Clips too short for the model are skipped, as the service refuses them,
    and so are clips in which the speech gate finds no window to judge (the service answers `no_speech`)."""
    rows = list(rows)
    conditions = list(conditions)
    scores: list[ClipScore] = []
    for row in tqdm(rows, desc="scoring", unit="clip", disable=not progress, leave=False):
        clean = load_clip(resolve_path(row, manifest), spec.sample_rate)
        if clean.size < round(spec.min_duration_s * spec.sample_rate):
            continue
        for condition in conditions:
            audio = apply_condition(condition, clean, spec.sample_rate, rng=condition_rng(row, condition, seed))
            frames = windows_for(audio, spec)
            if not frames.shape[0]:
                continue
            chunks = [
                engine.run_logits(session, {"waveform": frames[i : i + batch_size]})
                for i in range(0, frames.shape[0], batch_size)
            ]
            logits = np.concatenate(chunks)
            scores.append(ClipScore(row, condition, float(np.mean(logits[:, 1] - logits[:, 0]))))
    return scores
