"""Train -> export -> evaluate for the voice detector on a small generated corpus, end to end.

The spoofs carry a planted vocoder-like artefact (a steady 2.7 kHz buzz) that survives the telephone channel, so a
network that learns at all separates held-out clips; the test checks that it does, that the ONNX export matches
PyTorch, that the card is one the service loads, and that the evaluation writes its reports.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from service.registry import load_artifact  # noqa: E402
from service.settings import Settings  # noqa: E402
from tests.audiokit import speech  # noqa: E402
from training.corpora.audio_io import write_clip  # noqa: E402
from training.corpora.manifest import ManifestRow, write_manifest  # noqa: E402
from training.voice.evaluate import evaluate_voice  # noqa: E402
from training.voice.export import VoiceExportConfig, export_voice, resolve_inputs  # noqa: E402
from training.voice.train import load_config, train_voice  # noqa: E402

RATE = 8000


def _voice(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Real-sounding speech (the shipped espeak-ng clips) from a random offset, so the speech gate passes it."""
    x = speech(seconds, RATE, lang=str(rng.choice(["en", "nl"])), amplitude=float(rng.uniform(0.2, 0.6)))
    return np.roll(x, int(rng.integers(0, x.size)))


def _corpus(root: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for split, n in (("train", 24), ("dev", 10), ("eval", 10)):
        for i in range(n):
            for label in ("bonafide", "spoof"):
                x = _voice(rng, rng.uniform(1.2, 2.0))
                if label == "spoof":
                    t = np.arange(x.size) / RATE
                    x = x + 0.05 * np.sin(2 * np.pi * 2700 * t).astype(np.float32)
                path = f"audio/{split}/{label}_{i}.flac"
                write_clip(root / path, x / max(1.0, float(np.abs(x).max())), RATE)
                system = "human" if label == "bonafide" else f"tts_{split}"
                rows.append(ManifestRow(path, label, system, speaker=f"s{i}", split=split, source=f"src_{split}"))
    manifest = root / "manifest.csv"
    write_manifest(rows, manifest)
    return manifest


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("voice")
    manifest = _corpus(root)
    config = load_config(None, {
        "manifest": str(manifest), "out_dir": str(root / "run"), "network": "lcnn", "sample_rate": RATE,
        "window_s": 1.0, "hop_s": 0.5, "min_duration_s": 0.5, "epochs": 6, "batch_size": 8, "lr": 0.003,
        "threads": 1, "loader_workers": 0, "warmup_epochs": 0.5, "patience": 6,
        "augmentation": {"p_channel": 0.3, "conditions": ["mulaw8k", "noise20db"], "p_rawboost": 0.0},
    })
    summary = train_voice(config)
    assert (root / "run" / "best.pt").is_file() and summary["epochs_run"] >= 1
    return root, manifest


def test_config_rejects_unknown_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown config option"):
        load_config(None, {"manifest": "m.csv", "out_dir": str(tmp_path), "epoch": 3})


def test_training_learns_a_planted_artefact_on_held_out_clips(trained: tuple[Path, Path]) -> None:
    root, _ = trained
    summary = json.loads((root / "run" / "summary.json").read_text())
    assert summary["best"]["eer_mean"] < 0.25, summary


def test_export_calibrates_and_the_service_loads_the_card(trained: tuple[Path, Path]) -> None:
    root, manifest = trained
    target = export_voice(VoiceExportConfig(checkpoint=root / "run" / "best.pt", manifest=manifest,
                                      out_dir=root / "models" / "voice", version="0.0.1", hop_s=0.5,
                                      min_duration_s=0.5, try_int8=True))
    artifact = load_artifact(target, task="voice")
    card = artifact.card
    assert card.input.sample_rate == RATE and card.calibration.scale > 0
    assert max(card.onnx["parity_max_abs_logit_diff"].values()) <= 1e-4
    assert card.thresholds["inconclusive"] <= card.thresholds["likely_fake"] <= card.thresholds["fake"]
    assert "kept" in card.onnx["int8"]  # the int8 decision is recorded whichever way it went
    assert set(card.variants) == ({"fp32", "int8"} if card.onnx["int8"]["kept"] else {"fp32"})
    with pytest.raises(FileExistsError):  # versions are immutable
        export_voice(VoiceExportConfig(checkpoint=root / "run" / "best.pt", manifest=manifest,
                                 out_dir=root / "models" / "voice", version="0.0.1"))

    from service.loaded_models import load_voice

    model = load_voice(Settings(models_dir=root / "models", variant="fp32"))
    assert model.card.version == "0.0.1"

    out = root / "eval"
    summary = evaluate_voice(target, manifest, split="eval", conditions=("clean", "mulaw8k"), out_dir=out,
                             update_card_as="synthetic/eval")
    assert [row["condition"] for row in summary["by_condition"]] == ["clean", "mulaw8k"]
    assert summary["by_condition"][0]["eer"] < 0.25
    for condition in ("clean", "mulaw8k", "pooled"):
        assert (out / condition / "det.png").stat().st_size > 0
        lines = (out / condition / "scores.tsv").read_text().splitlines()
        assert len(lines) == 1 + (20 if condition != "pooled" else 40)
    assert "synthetic/eval" in load_artifact(target, task="voice").card.metrics


def test_export_takes_manifest_hop_and_minimum_from_the_checkpoint(trained: tuple[Path, Path]) -> None:
    root, manifest = trained
    target = export_voice(VoiceExportConfig(checkpoint=root / "run" / "best.pt", out_dir=root / "from-ckpt" / "voice",
                                            version="0.0.1", try_int8=False))
    card = load_artifact(target, task="voice").card
    assert (card.input.hop_s, card.input.min_duration_s) == (0.5, 0.5)  # the training config's, not 2.0 and 1.0
    assert card.model_extra is not None and card.model_extra["calibration_data"]["clips"] == 20
    assert card.training_data["corpus"] == manifest.parent.name


def test_export_flags_override_the_checkpoint(tmp_path: Path) -> None:
    manifest = tmp_path / "other.csv"
    manifest.write_text("path,label\n")
    state = {"sample_rate": RATE, "window_samples": RATE,
             "config": {"manifest": str(tmp_path / "gone.csv"), "hop_s": 0.5, "min_duration_s": 0.5,
                        "dev_split": "dev2"}}
    base = {"checkpoint": tmp_path / "best.pt", "out_dir": tmp_path, "version": "1"}
    inputs = resolve_inputs(VoiceExportConfig(**base, manifest=manifest, hop_s=0.25, min_duration_s=0.75), state)
    assert inputs.manifest == manifest and inputs.dev_split == "dev2"
    assert (inputs.spec.hop_s, inputs.spec.min_duration_s, inputs.spec.window_s) == (0.25, 0.75, 1.0)
    with pytest.raises(FileNotFoundError, match="stored in the checkpoint"):
        resolve_inputs(VoiceExportConfig(**base), state)


def test_a_bona_fide_only_set_reports_false_positive_rates(trained: tuple[Path, Path]) -> None:
    root, manifest = trained
    target = root / "models" / "voice" / "0.0.1"
    if not target.exists():
        pytest.skip("needs the export test's model")
    from training.corpora.manifest import read_manifest

    studio = root / "studio.csv"
    write_manifest([r for r in read_manifest(manifest) if r.label == "bonafide" and r.split == "eval"], studio)
    summary = evaluate_voice(target, studio, split="eval", conditions=("clean",), out_dir=root / "eval-studio")
    (row,) = summary["by_condition"]
    assert row["n_bonafide"] == 10 and row["n_spoof"] == 0 and row["eer"] is None
    assert 0.0 <= row["fpr_bonafide_at_card_fake"] <= row["fpr_bonafide_at_card_likely_fake"] <= 1.0
