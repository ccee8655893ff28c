"""Small but real ONNX models for tests, built with onnx.helper so the suite needs no trained weights.

The voice model scores loudness (log mean energy) and the text model sums per-token weights, so tests can
check that the service returns what the graph computes, not just that it returns something.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from service.registry import write_card

VOICE_RATE = 16_000
VOICE_WINDOW_S = 2.0
VOICE_HOP_S = 1.0
VOICE_MIN_S = 0.5
# logit[1] = ENERGY_SLOPE * log(mean(x^2) + 1e-6) + ENERGY_BIAS: quiet audio is "genuine", loud audio "fake".
ENERGY_SLOPE = 1.0
ENERGY_BIAS = 5.0

SCAM_WORDS = ["guaranteed", "returns", "bitcoin", "crypto", "veilige", "rekening", "pincode", "overmaken",
              "rendement", "gegarandeerd", "urgent", "code", "bot"]
LEGIT_WORDS = ["hello", "dinner", "tonight", "weather", "meeting", "thanks", "hoi", "eten", "vanavond", "the", "a",
               "is", "your", "de", "het", "een", "uw", "with", "met", "and", "en", "to", "naar"]
TEXT_MAX_LENGTH = 32
TEXT_STRIDE = 8


def voice_graph() -> onnx.ModelProto:
    nodes = [
        helper.make_node("Mul", ["waveform", "waveform"], ["sq"]),
        helper.make_node("ReduceMean", ["sq"], ["energy"], axes=[1], keepdims=1),
        helper.make_node("Add", ["energy", "eps"], ["energy_eps"]),
        helper.make_node("Log", ["energy_eps"], ["log_energy"]),
        helper.make_node("Mul", ["log_energy", "slope"], ["scaled"]),
        helper.make_node("Add", ["scaled", "bias"], ["spoof_logit"]),
        helper.make_node("Mul", ["spoof_logit", "zero"], ["bona_logit"]),
        helper.make_node("Concat", ["bona_logit", "spoof_logit"], ["logits"], axis=1),
    ]
    inits = [
        numpy_helper.from_array(np.array(1e-6, np.float32), "eps"),
        numpy_helper.from_array(np.array(ENERGY_SLOPE, np.float32), "slope"),
        numpy_helper.from_array(np.array(ENERGY_BIAS, np.float32), "bias"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
    ]
    graph = helper.make_graph(
        nodes, "test_voice",
        [helper.make_tensor_value_info("waveform", TensorProto.FLOAT, ["batch", int(VOICE_RATE * VOICE_WINDOW_S)])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def build_tokenizer() -> Tokenizer:
    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3}
    for word in SCAM_WORDS + LEGIT_WORDS:
        vocab.setdefault(word, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.BertProcessing(("[SEP]", 3), ("[CLS]", 2))
    return tokenizer


def text_graph(tokenizer: Tokenizer) -> onnx.ModelProto:
    vocab = tokenizer.get_vocab()
    table = np.zeros((len(vocab), 2), np.float32)
    table[:, 0] = 0.3  # every token leans legit a little, so a text needs scam words to cross over
    for word in SCAM_WORDS:
        table[vocab[word], 1] = 2.0
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["per_token"]),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "axis2"], ["mask3"]),
        helper.make_node("Mul", ["per_token", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["logits"], keepdims=0),
    ]
    inits = [
        numpy_helper.from_array(table, "table"),
        numpy_helper.from_array(np.array([2], np.int64), "axis2"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
    ]
    graph = helper.make_graph(
        nodes, "test_text",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _card(task: str, name: str, version: str, onnx_file: str, digest: str, **fields: Any) -> dict[str, Any]:
    bands = ("inconclusive", "likely_fake", "fake") if task == "voice" else ("inconclusive", "likely_scam", "scam")
    return {
        "schema_version": 1,
        "name": name,
        "task": task,
        "version": version,
        "created": "2026-11-28T00:00:00Z",
        "labels": ["bonafide", "spoof"] if task == "voice" else ["legit", "scam"],
        "calibration": {"method": "platt", "scale": 1.0, "bias": 0.0},
        "thresholds": dict(zip(bands, (-1.0, 0.0, 2.0), strict=True)),
        "variants": {"fp32": {"file": onnx_file, "sha256": digest, "precision": "fp32"}},
        "default_variant": "fp32",
        "onnx": {"opset": 17, "exporter": "onnx.helper (tests)"},
        "training_data": {"note": "none: a hand-built graph for tests"},
        **fields,
    }


def write_voice_model(models_dir: Path, *, name: str = "voice", version: str = "0.0.1",
                      bias: float = ENERGY_BIAS) -> Path:
    directory = models_dir / name / version
    directory.mkdir(parents=True, exist_ok=True)
    model = voice_graph()
    if bias != ENERGY_BIAS:
        for init in model.graph.initializer:
            if init.name == "bias":
                init.CopyFrom(numpy_helper.from_array(np.array(bias, np.float32), "bias"))
    data = model.SerializeToString()
    (directory / "model.onnx").write_bytes(data)
    write_card(directory, _card("voice", name, version, "model.onnx", hashlib.sha256(data).hexdigest(),
                                input={"sample_rate": VOICE_RATE, "window_s": VOICE_WINDOW_S, "hop_s": VOICE_HOP_S,
                                       "min_duration_s": VOICE_MIN_S}))
    return directory


def write_text_model(models_dir: Path, *, name: str = "text", version: str = "0.0.1") -> Path:
    directory = models_dir / name / version
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    tokenizer.save(str(directory / "tokenizer.json"))
    data = text_graph(tokenizer).SerializeToString()
    (directory / "model.onnx").write_bytes(data)
    write_card(directory, _card("text", name, version, "model.onnx", hashlib.sha256(data).hexdigest(),
                                input={"tokenizer": "tokenizer.json", "max_length": TEXT_MAX_LENGTH,
                                       "stride": TEXT_STRIDE}))
    return directory


def add_ngram(directory: Path, *, weight: float = 0.5, buckets: int = 256) -> Path:
    """Give a text model folder an n-gram half (random weights, the real graph of training.text.ngram)."""
    from training.text.ngram import NgramFit, write_onnx

    rng = np.random.default_rng(3)
    fit = NgramFit(buckets=buckets, idf=np.ones(2 * buckets), coef=rng.normal(0, 1, 2 * buckets), intercept=0.0)
    write_onnx(fit, directory / "ngram.onnx")
    card = json.loads((directory / "card.json").read_text())
    digest = hashlib.sha256((directory / "ngram.onnx").read_bytes()).hexdigest()
    card["ngram"] = {"file": "ngram.onnx", "sha256": digest, "buckets": buckets, "weight": weight,
                     "calibration": {"method": "platt", "scale": 1.0, "bias": 0.0}}
    write_card(directory, card)
    return directory


def write_models(models_dir: Path) -> Path:
    write_voice_model(models_dir)
    write_text_model(models_dir)
    return models_dir


def expected_voice_llr(window: np.ndarray) -> float:
    """What the voice graph computes for one window, in numpy."""
    energy = float(np.mean(window.astype(np.float64) ** 2))
    return ENERGY_SLOPE * float(np.log(energy + 1e-6)) + ENERGY_BIAS
