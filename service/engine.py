"""ONNX Runtime sessions: provider selection that never silently falls back, and I/O checks against the contract."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from service.errors import ModelError

log = logging.getLogger(__name__)

PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}

# The artifact contract: input names, element types and rank per task; output `logits` [batch, 2]. `text_ngram`
# is a text model's n-gram half (service.text.ngram_model): hashed n-gram ids and their counts, padded with 0.
EXPECTED_INPUTS = {
    "voice": {"waveform": "tensor(float)"},
    "text": {"input_ids": "tensor(int64)", "attention_mask": "tensor(int64)"},
    "text_ngram": {"ids": "tensor(int64)", "counts": "tensor(float)"},
}


def resolve_providers(requested: Sequence[str]) -> list[str]:
    """Map setting names to ORT provider names, refusing any that this onnxruntime build lacks."""
    available = ort.get_available_providers()
    names = []
    for short in requested:
        name = PROVIDERS[short]
        if name not in available:
            hint = " (install onnxruntime-gpu: pip install -e .[gpu])" if short != "cpu" else ""
            raise ModelError(f"provider '{short}' was asked for but this onnxruntime has only {available}{hint}")
        names.append(name)
    return names


def create_session(path: Path, *, providers: Sequence[str], intra_op_threads: int = 0) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if intra_op_threads:
        options.intra_op_num_threads = intra_op_threads
    provider_names = resolve_providers(providers)
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=provider_names)
    except Exception as exc:  # ORT raises its own untyped errors for bad graphs
        raise ModelError(f"{path}: onnxruntime cannot load the model: {exc}") from exc
    active = session.get_providers()
    if provider_names[0] not in active:
        # ORT falls back to CPU when a GPU provider fails to initialise; a GPU deployment must not quietly do so.
        raise ModelError(f"{path}: asked for {provider_names[0]} but onnxruntime activated only {active}")
    log.info("loaded %s with providers %s", path, active)
    return session


def check_io(session: ort.InferenceSession, task: str, path: Path) -> None:
    inputs = {i.name: i for i in session.get_inputs()}
    expected = EXPECTED_INPUTS[task]
    if set(inputs) != set(expected):
        raise ModelError(f"{path}: a {task} model takes inputs {sorted(expected)}, this one {sorted(inputs)}")
    for name, dtype in expected.items():
        if inputs[name].type != dtype or len(inputs[name].shape) != 2:
            raise ModelError(f"{path}: input '{name}' must be {dtype} [batch, n], is {inputs[name].type} "
                             f"{inputs[name].shape}")
    outputs = session.get_outputs()
    if not outputs or outputs[0].name != "logits" or len(outputs[0].shape) != 2:
        raise ModelError(f"{path}: the first output must be 'logits' [batch, 2]")
    if outputs[0].shape[1] not in (2, None) and not isinstance(outputs[0].shape[1], str):
        raise ModelError(f"{path}: 'logits' must have 2 columns, has {outputs[0].shape[1]}")


def runs_per_item(precision: str) -> bool:
    """Whether a variant must score one item per call for an item's score not to depend on its batch-mates.

    Our int8 variants are dynamically quantised: each activation's scale is computed over the whole tensor of one
    call, so batching an item with others (or padding it to a longer text) changes its score. Measured on the
    shipped text model: a text's logit moved by 0.12 beside a longer one, and 18 of 150 ad verdicts changed
    between batch sizes 1 and 32. One call per item costs nothing on a CPU (16 windows: 1.0 s either way for
    voice; 1.0 s against 1.4 s batched for text, which then needs no padding).
    """
    return precision == "int8"


def run_logits(session: ort.InferenceSession, feeds: dict[str, np.ndarray]) -> np.ndarray:
    (logits,) = session.run(["logits"], feeds)
    if logits.ndim != 2 or logits.shape[1] != 2:
        raise RuntimeError(f"model returned logits of shape {logits.shape}, expected [batch, 2]")
    return logits.astype(np.float32, copy=False)
