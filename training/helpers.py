"""Helpers both detectors' training, export and evaluation share: devices, seeds, parameter counts, checked
ONNX Runtime sessions and the model card.

torch is imported inside the functions that need it, so ONNX-only code (evaluation, scoring) can use the rest
without loading it.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort

from service import engine
from service.card import CARD_SCHEMA_VERSION, LABELS

if TYPE_CHECKING:
    import torch
    from torch import nn


def pick_device(name: str = "auto") -> torch.device:
    """`auto`: CUDA when available, else CPU; any other name as torch spells it (`cpu`, `cuda:1`)."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Python's, numpy's and torch's global generators."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Trainable and frozen parameter counts; buffers (fixed STFT kernels, filterbanks) are counted apart."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    buffers = sum(b.numel() for b in model.buffers())
    return {"trainable": trainable, "frozen": frozen, "buffers": buffers}


def open_session(
    path: Path, task: str, *, providers: Sequence[str] = ("cpu",), threads: int = 0
) -> ort.InferenceSession:
    """An ONNX Runtime session made and checked against the task's I/O contract by the service's own code."""
    session = engine.create_session(path, providers=providers, intra_op_threads=threads)
    engine.check_io(session, task, path)
    return session


def build_card(
    *,
    task: str,
    name: str,
    version: str,
    input_spec: dict[str, Any],
    calibration: dict[str, Any],
    thresholds: dict[str, float],
    variants: dict[str, dict[str, Any]],
    default_variant: str,
    onnx: dict[str, Any],
    training_data: dict[str, Any],
    metrics: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A `card.json` for either task: the schema version, creation time and label order filled in, the rest as
    given. `extra` holds further top-level fields (the network, the calibration data, notes); `write_card`
    validates the whole."""
    return {
        "schema_version": CARD_SCHEMA_VERSION,
        "name": name,
        "task": task,
        "version": version,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "labels": list(LABELS[task]),
        "input": input_spec,
        "calibration": calibration,
        "thresholds": thresholds,
        "variants": variants,
        "default_variant": default_variant,
        "onnx": onnx,
        "training_data": training_data,
        "metrics": metrics or {},
        **extra,
    }
