"""From a trained checkpoint to a model folder the service loads: `models/text/<version>/`.

Writes `model.onnx` (fp32), `model.int8.onnx` (dynamic int8 weights, for CPU) and `model.fp16.onnx` (for GPU),
`tokenizer.json` and `card.json`. Every graph is checked against the PyTorch model it came from; fp32 must
match to 1e-4 in the logits or the export fails. Calibration and thresholds are fitted on dev scores made the
way the service makes them (`onnx_scoring`). A reduced-precision variant ships (is named in the card) only
when its test F1 at the `likely_scam` threshold stays within one point of fp32's; the card's default is int8
when it ships, else fp32 (else the one shipped). All variants share the fp32 calibration: their logits agree to
about 1e-2. `ship` narrows the variants further by choice (size: the repository keeps `models/` small); those
left out are deleted and the card's checks say why.

Exporter: torch.export-based (`dynamo=True`, the default since torch 2.9) at opset 18. For BERT under
transformers 5 it gives a graph half the size of the TorchScript exporter's, with no trace-time constants
from the masking code, and matches eager to ~1e-7. The exporter writes weights inside `model.onnx`; a shipped
variant larger than 16 MiB then has its weights moved to external-data shards of at most 16 MiB
(`training.onnx_shards`), because the repository refuses files over 20 MiB. The card hashes every shard and lists
exactly the files the graph references, which the service cannot check itself (it does not depend on `onnx`).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from service import engine
from service.card import Calibration, NgramSpec
from service.registry import CARD_FILE, sha256_file, write_card
from service.text.ngram_model import NgramModel
from service.text.normalize import normalize
from service.text.tokenize import TextEncoder
from training.helpers import build_card, open_session
from training.onnx_shards import ship_variant
from training.text.calibration import TextCalibration, calibrate
from training.text.corpora import TextRow, load_corpora, select
from training.text.evaluate import binary_metrics, evaluate_scores
from training.text.ngram import DEFAULT_BUCKETS, NGRAM_FILE, fit_ngram, write_onnx
from training.text.onnx_scoring import max_window_llr, ngram_offsets
from training.text.train import TOKENIZER_FILE, read_record

log = logging.getLogger(__name__)

OPSET = 18
FP32_TOLERANCE = 1e-4
MAX_F1_DROP = 0.01
VARIANT_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx", "fp16": "model.fp16.onnx"}
NOT_SHIPPED_BY_CHOICE = "not shipped by choice (size)"
PARITY_SENTENCES = (
    "Hoi, zullen we vanavond samen eten?",
    "Uw rekening is geblokkeerd. Maak vandaag nog uw saldo over naar een veilige rekening.",
    "Guaranteed 10% weekly returns with our AI crypto trading bot, endorsed by a famous investor. Sign up now!",
)


class LogitsOnly(nn.Module):
    """The contract's signature: (input_ids, attention_mask) -> logits; token types are all zero for one text."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def export_onnx(model: Any, example: dict[str, np.ndarray], path: Path, *, exporter: str = "dynamo") -> None:
    """fp32 ONNX with dynamic batch and sequence axes, weights inside the file (`model`: a transformers
    sequence classifier)."""
    wrapper = LogitsOnly(model).eval()
    args = (torch.from_numpy(example["input_ids"]), torch.from_numpy(example["attention_mask"]))
    names = {"input_names": ["input_ids", "attention_mask"], "output_names": ["logits"], "opset_version": OPSET}
    with torch.no_grad():
        if exporter == "dynamo":
            # torch.export proves the graph valid for every length up to the position table, and no further.
            batch = torch.export.Dim("batch")
            seq = torch.export.Dim("seq", max=int(model.config.max_position_embeddings))
            shapes = {"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}}
            torch.onnx.export(wrapper, args, str(path), dynamo=True, dynamic_shapes=shapes, external_data=False,
                              **names)  # type: ignore[arg-type]
        elif exporter == "torchscript":
            axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                    "logits": {0: "batch"}}
            torch.onnx.export(wrapper, args, str(path), dynamo=False, dynamic_axes=axes,
                              **names)  # type: ignore[arg-type]
        else:
            raise ValueError(f"exporter must be 'dynamo' or 'torchscript', got {exporter!r}")
    stray = path.with_name(path.name + ".data")
    if stray.exists():
        raise RuntimeError(f"{stray}: the exporter wrote external weights; the card can only hash one file")


# The six weight MatMuls of each BERT layer, in the order the exporter writes them.
LAYER_MATMULS = ("q", "k", "v", "attn_out", "ffn_in", "ffn_out")


def weight_matmuls(model_path: Path, keep: Sequence[str]) -> list[str]:
    """Graph node names of the weight MatMuls named as "LAYER.PART" (e.g. "4.ffn_out": layer 4's FFN output).

    Node names are the exporter's own (node_MatMul_139), so they are found by position: the graph holds six weight
    MatMuls per layer in `LAYER_MATMULS` order (the attention score MatMuls, which have no weights, left out)."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    weights = {t.name for t in graph.initializer}
    names = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights]
    if len(names) % len(LAYER_MATMULS):
        raise ValueError(f"{model_path}: {len(names)} weight MatMuls, not {len(LAYER_MATMULS)} per layer")
    chosen = []
    for item in keep:
        layer, _, part = item.partition(".")
        if not layer.isdigit() or part not in LAYER_MATMULS or int(layer) >= len(names) // len(LAYER_MATMULS):
            raise ValueError(f"int8 keep {item!r}: expected LAYER.PART with PART in {LAYER_MATMULS}")
        chosen.append(names[int(layer) * len(LAYER_MATMULS) + LAYER_MATMULS.index(part)])
    return chosen


def quantize_int8(source: Path, target: Path, *, keep_fp32: Sequence[str] = ()) -> None:
    """Dynamic quantisation: uint8 weights per output channel, activations quantised at run time (CPU).

    Unsigned weights, because signed ones lost accuracy on the shipped e5 model: test F1 0.831 (QInt8) and
    0.849 (QInt8, reduce_range) against 0.860 (QUInt8) and 0.863 (fp32), same calibration. ONNX Runtime's
    U8S8 kernels can saturate on CPUs without VNNI, which is the usual cause.

    `keep_fp32` ("LAYER.PART", see `weight_matmuls`) leaves single MatMuls in fp32: one whose input activations
    have outliers loses most when they are quantised per tensor at run time. For 1.4.0, layer 4's FFN output (its
    input is the GELU activation): with every MatMul quantised, int8 test F1 was 1.5 points below fp32; with that
    one kept, 0.3 (+1.8 MB). It was found by leaving groups of MatMuls in fp32 and measuring the LLR change on the
    40 test texts that int8 moved most.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QUInt8, per_channel=True,
                     nodes_to_exclude=weight_matmuls(source, keep_fp32) if keep_fp32 else [])


def convert_fp16(source: Path, target: Path) -> None:
    """fp16 weights and arithmetic; the int64 inputs and the float32 `logits` output stay as the contract says."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    onnx.save(convert_float_to_float16(onnx.load(str(source)), keep_io_types=True), str(target))


# ---------------------------------------------------------------- parity


def parity_batches(encoder: TextEncoder, texts: Sequence[str]) -> list[dict[str, np.ndarray]]:
    """Every window of every text alone (batch 1), then all of them in one padded batch."""
    windows = [w.input_ids for text in texts for w in encoder.windows(text)]
    return [encoder.collate([w]) for w in windows] + [encoder.collate(windows)]


def parity_texts(rows: Sequence[TextRow], count: int = 6) -> list[str]:
    """Real texts from the shortest to the longest (the longest spans several windows when any does)."""
    by_length = sorted((r.text for r in rows), key=len)
    picks = [by_length[round(i * (len(by_length) - 1) / max(count - 1, 1))] for i in range(count)] if by_length else []
    return [*PARITY_SENTENCES, *dict.fromkeys(picks)]


@torch.no_grad()
def compare(model: nn.Module, session: Any, batches: Sequence[dict[str, np.ndarray]]) -> dict[str, float]:
    """Max abs logit difference from eager PyTorch, and the share of windows on the same side of zero."""
    wrapper = LogitsOnly(model).eval()
    worst, same, total = 0.0, 0, 0
    for feeds in batches:
        expected = wrapper(*(torch.from_numpy(feeds[k]) for k in ("input_ids", "attention_mask"))).numpy()
        (actual,) = session.run(["logits"], feeds)
        worst = max(worst, float(np.max(np.abs(actual.astype(np.float64) - expected))))
        same += int(np.sum((np.diff(actual, axis=1) > 0) == (np.diff(expected, axis=1) > 0)))
        total += expected.shape[0]
    return {"max_abs_diff": worst, "agreement": same / total, "windows": total}


# ---------------------------------------------------------------- the export


@dataclass(frozen=True)
class ExportResult:
    directory: Path
    card: dict[str, Any]


def _library_versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__,
            "onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__}


def export_text(
    checkpoint: Path,
    out_root: Path,
    version: str,
    *,
    calibrate_on: str = "dev",
    exporter: str = "dynamo",
    force: bool = False,
    ship: Sequence[str] | None = None,
    int8_keep: Sequence[str] = (),
    ngram_weight: float | None = None,
    ngram_buckets: int = DEFAULT_BUCKETS,
) -> ExportResult:
    """Export, check, calibrate and write the card; refuses to overwrite a version unless `force`.

    `ship` names the variants to ship among those that pass their checks (default: all that pass). `int8_keep`
    names MatMuls the int8 variant keeps in fp32 (`quantize_int8`); the card records them. With `ngram_weight`,
    an n-gram model (`training.text.ngram`) is fitted on the train split and shipped beside the transformer, and
    calibration, thresholds and test figures are those of the sum the service computes.
    """
    from transformers import AutoModelForSequenceClassification

    wanted = list(VARIANT_FILES) if ship is None else list(dict.fromkeys(ship))
    if not wanted or not set(wanted) <= set(VARIANT_FILES):
        raise ValueError(f"ship must name some of {list(VARIANT_FILES)}, got {list(ship or [])}")
    config, record = read_record(checkpoint)
    directory = out_root / version
    if (directory / CARD_FILE).exists() and not force:
        raise FileExistsError(f"{directory} already holds a model; choose another version or pass --force")
    directory.mkdir(parents=True, exist_ok=True)
    for stale in [*VARIANT_FILES.values(), TOKENIZER_FILE, CARD_FILE, NGRAM_FILE]:
        (directory / stale).unlink(missing_ok=True)
    for file in VARIANT_FILES.values():
        for shard in directory.glob(f"{Path(file).stem}.data-*"):
            shard.unlink()

    model = AutoModelForSequenceClassification.from_pretrained(checkpoint, local_files_only=True).eval()
    shutil.copyfile(checkpoint / TOKENIZER_FILE, directory / TOKENIZER_FILE)
    encoder = TextEncoder(directory / TOKENIZER_FILE, max_length=config.max_length, stride=config.stride)
    rows = load_corpora(**config.corpus_paths())
    calibration_rows, test_rows = select(rows, calibrate_on), select(rows, "test")
    if not calibration_rows or not test_rows:
        raise ValueError(f"need texts in the '{calibrate_on}' and 'test' splits to calibrate and to check variants")

    paths = {name: directory / file for name, file in VARIANT_FILES.items()}
    batches = parity_batches(encoder, parity_texts(calibration_rows))
    export_onnx(model, batches[-1], paths["fp32"], exporter=exporter)
    quantize_int8(paths["fp32"], paths["int8"], keep_fp32=int8_keep)
    convert_fp16(paths["fp32"], paths["fp16"])
    sessions = {name: open_session(path, "text") for name, path in paths.items()}
    parity = {name: compare(model, session, batches) for name, session in sessions.items()}
    log.info("parity with PyTorch: %s", parity)
    if parity["fp32"]["max_abs_diff"] > FP32_TOLERANCE:
        raise RuntimeError(f"fp32 ONNX logits differ from PyTorch by {parity['fp32']['max_abs_diff']:.2e} "
                           f"(limit {FP32_TOLERANCE:.0e})")

    ngram: NgramModel | None = None
    ngram_fit: dict[str, Any] = {}
    if ngram_weight is not None:
        ngram, ngram_fit = _export_ngram(directory, select(rows, "train"), calibration_rows, weight=ngram_weight,
                                         buckets=ngram_buckets)
    dev_offsets = ngram_offsets(ngram, [r.text for r in calibration_rows])
    test_offsets = ngram_offsets(ngram, [r.text for r in test_rows])

    # Calibration on the fp32 graph's service-path scores; every variant is judged with it on test.
    raw = max_window_llr(sessions["fp32"], encoder, [r.text for r in calibration_rows], offsets=dev_offsets)
    fitted = calibrate([r.y for r in calibration_rows], raw)
    test_labels = [r.y for r in test_rows]
    # Test F1 for fp32 (the reference) and the variants asked for; one not asked for is never shipped, so scoring
    # the test split with it (fp16 is slow on a CPU) would only cost time.
    # Each variant scored as the service will run it (int8 one window per call: engine.runs_per_item).
    test_llr = {name: fitted.llr(max_window_llr(session, encoder, [r.text for r in test_rows], offsets=test_offsets,
                                                batch_size=1 if engine.runs_per_item(name) else 32))
                for name, session in sessions.items() if name == "fp32" or name in wanted}
    test_f1 = {name: binary_metrics(test_labels, llr, fitted.thresholds["likely_scam"])["f1"] or 0.0
               for name, llr in test_llr.items()}
    passed = ["fp32"] + [n for n in ("int8", "fp16")
                         if n in test_f1 and test_f1[n] >= test_f1["fp32"] - MAX_F1_DROP]
    shipped = [n for n in passed if n in wanted]
    reasons: dict[str, str] = {}
    for name in VARIANT_FILES:
        if name not in wanted:
            reasons[name] = NOT_SHIPPED_BY_CHOICE
        elif name not in passed:
            reasons[name] = f"test F1 {test_f1[name]:.4f} is more than {MAX_F1_DROP} below fp32's {test_f1['fp32']:.4f}"
        if name in reasons:
            log.warning("variant %s not shipped: %s", name, reasons[name])
    if not shipped:
        raise RuntimeError(f"no variant left to ship: asked for {wanted}, only {passed} passed their checks")
    for name in set(VARIANT_FILES) - set(shipped):
        paths[name].unlink()
    default = "int8" if "int8" in shipped else "fp32" if "fp32" in shipped else shipped[0]
    variants = {n: ship_variant(paths[n], n, sessions[n], batches[-1]) for n in shipped}

    card = _text_card(
        name=out_root.name, version=version, config_record=record, fitted=fitted, exporter=exporter,
        variants=variants,
        default_variant=default,
        checks={n: {**parity[n], "test_f1_at_likely_scam": test_f1.get(n), "shipped": n in shipped,
                    **({"reason": reasons[n]} if n in reasons else {}),
                    **({"kept_fp32": list(int8_keep)} if n == "int8" and int8_keep else {})} for n in parity},
        metrics={"test": evaluate_scores(test_rows, test_llr[default], fitted.thresholds),
                 "variant": default, "calibrated_on": calibrate_on},
        max_length=config.max_length, stride=config.stride,
    )
    if ngram is not None:
        card["ngram"] = ngram.spec.model_dump()
        card["training_data"]["ngram"] = ngram_fit
    write_card(directory, card)
    return ExportResult(directory=directory, card=card)


def _export_ngram(directory: Path, train_rows: Sequence[TextRow], calibration_rows: Sequence[TextRow], *,
                  weight: float, buckets: int) -> tuple[NgramModel, dict[str, Any]]:
    """Fit the n-gram model on every train text, write `ngram.onnx`, calibrate it (Platt) on the calibration
    split and check the graph against scikit-learn's scores there; returns the loaded model (its spec is the
    card's `ngram` section) and what the card's training data records about the fit."""
    train_texts = [normalize(r.text).text for r in train_rows]
    fit = fit_ngram(train_texts, [r.y for r in train_rows], buckets=buckets)
    path = directory / NGRAM_FILE
    write_onnx(fit, path)
    dev_texts = [normalize(r.text).text for r in calibration_rows]
    dev_raw = fit.decision(dev_texts)
    fitted = calibrate([r.y for r in calibration_rows], dev_raw)
    spec = NgramSpec(file=NGRAM_FILE, sha256=sha256_file(path), buckets=buckets, weight=weight,
                     calibration=Calibration.model_validate(fitted.card_calibration()))
    model = NgramModel(path, spec)
    # raw log-odds of both, on the first dev texts: calibration would scale the difference
    checked = dev_texts[:256]
    onnx_raw = (model.llr(checked) - fitted.bias) / fitted.scale
    max_diff = float(np.max(np.abs(onnx_raw - dev_raw[: len(checked)]))) if checked else 0.0
    if max_diff > FP32_TOLERANCE:
        raise RuntimeError(f"the n-gram graph differs from scikit-learn by {max_diff:.2e} (limit {FP32_TOLERANCE:.0e})")
    log.info("n-gram model: %d train texts, %d buckets per analyzer, weight %s, parity %.1e",
             len(train_texts), buckets, weight, max_diff)
    return model, {"train_texts": len(train_texts), "max_abs_diff_vs_sklearn": max_diff}


def _text_card(
    *,
    name: str,
    version: str,
    config_record: dict[str, Any],
    fitted: TextCalibration,
    exporter: str,
    variants: dict[str, dict[str, Any]],
    default_variant: str,
    checks: dict[str, Any],
    metrics: dict[str, Any],
    max_length: int,
    stride: int,
) -> dict[str, Any]:
    config = config_record["config"]
    return build_card(
        task="text",
        name=name,
        version=version,
        input_spec={"tokenizer": TOKENIZER_FILE, "max_length": max_length, "stride": stride},
        calibration=fitted.card_calibration(),
        thresholds=fitted.thresholds,
        variants=variants,
        default_variant=default_variant,
        onnx={"opset": OPSET, "exporter": f"torch.onnx.export(dynamo={exporter == 'dynamo'})",
              **_library_versions(), "checks_against_pytorch": checks},
        training_data={
            "corpora": {k: config[k] for k in ("seed_dir", "uci_path", "mishra_path", "public_dir", "pairs_dir",
                                                  "extra_dir") if config.get(k)},
            "sizes": config_record["training_data"],
            "base_model": config["base_model"],
            "train_texts_used": config_record["train_texts"],
            "best_epoch": (config_record.get("best") or {}).get("epoch"),
            "dev_selection": (config_record.get("best") or {}).get("dev"),
        },
        metrics=metrics,
    )
