"""Features -> leave-sources-and-families-out CV -> probe export -> the service loads and scores it, end to end.

LFCC statistics only (the Whisper front-end is tested on its own in test_whisper_encoder.py; exporting its
80 MB graph here would cost minutes). Spoofs are the shipped speech clips with a planted 5.2 kHz buzz, the kind of
steady artefact a vocoder can leave; sources and families are spread so that every fold has both classes.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from service.registry import load_artifact  # noqa: E402
from service.windowing import speech_windows  # noqa: E402
from tests.audiokit import speech  # noqa: E402
from training.corpora.audio_io import write_clip  # noqa: E402
from training.corpora.manifest import ManifestRow, write_manifest  # noqa: E402
from training.voice.crossval import cross_validate, make_folds, summarise  # noqa: E402
from training.voice.features import extract, load_features, load_rows  # noqa: E402
from training.voice.probe_export import ProbeExportConfig, export_probe  # noqa: E402

RATE = 16000


def _corpus(root: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for source in range(6):
        for i in range(5):
            for label in ("bonafide", "spoof"):
                x = np.roll(speech(4.5, RATE, lang="nl" if i % 2 else "en"), int(rng.integers(0, RATE)))
                x = x * rng.uniform(0.3, 1.0)
                if label == "spoof":
                    x = x + 0.03 * np.sin(2 * np.pi * 5200 * np.arange(x.size) / RATE).astype(np.float32)
                path = f"audio/{source}/{label}_{i}.flac"
                write_clip(root / path, np.clip(x, -1, 1), RATE)
                rows.append(ManifestRow(path, label, "bonafide" if label == "bonafide" else f"sys{i}",
                                        source=f"page{source}", language="nl" if i % 2 else "en",
                                        family="" if label == "bonafide" else f"fam{(source + i) % 3}"))
    manifest = root / "manifest.csv"
    write_manifest(rows, manifest)
    return manifest


def test_probe_pipeline_end_to_end(tmp_path: Path) -> None:
    manifest = _corpus(tmp_path)
    cache = tmp_path / "features"
    extract(manifest, cache, front_ends=["lfcc"], conditions=["clean", "mulaw8k"], progress=False)
    extract(manifest, cache, front_ends=["lfcc"], conditions=["clean"], progress=False)  # resumes: nothing to do
    rows = load_rows(cache)
    features = {c: load_features(cache, c, "lfcc") for c in ("clean", "mulaw8k")}
    folds = make_folds(rows, 3, seed=0)
    result = cross_validate(rows, features, folds, front_end="lfcc", train_conditions=["clean", "mulaw8k"],
                            test_conditions=["clean", "mulaw8k"], c=1.0)
    clean = summarise(rows, result, "clean")
    assert clean["pooled_eer"] < 0.2, clean

    scores = tmp_path / "scores.csv"
    with scores.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["front_end", "condition", "clip", "label", "score"])
        for condition, by_clip in result.scores.items():
            for clip, score in by_clip.items():
                writer.writerow(["lfcc", condition, clip, rows[clip].label, score])
    target = export_probe(ProbeExportConfig(features=cache, cv_scores=scores, front_ends=("lfcc",), version="9.9.9",
                                            out_dir=tmp_path / "models", c=1.0, eval_only=(), int8_clips=12))
    card = json.loads((target / "card.json").read_text())
    assert card["onnx"]["parity_max_abs_logit_diff"]["real_windows"] < 1e-3
    assert card["thresholds"]["inconclusive"] <= card["thresholds"]["likely_fake"] <= card["thresholds"]["fake"]

    artifact = load_artifact(target)  # hashes and schema as the service checks them
    import onnxruntime as ort

    session = ort.InferenceSession(str(artifact.onnx_path), providers=["CPUExecutionProvider"])
    spec = artifact.card.input
    buzz = 0.03 * np.sin(2 * np.pi * 5200 * np.arange(4 * RATE) / RATE).astype(np.float32)
    real, fake = speech(4.0, RATE), np.clip(speech(4.0, RATE) + buzz, -1, 1)
    diffs = []
    for clip in (real, fake):
        prepared = speech_windows(clip, spec)  # type: ignore[arg-type]
        logits = session.run(None, {"waveform": prepared.frames})[0]
        diffs.append(float(np.mean(logits[:, 1] - logits[:, 0])))
    assert diffs[1] > diffs[0]
