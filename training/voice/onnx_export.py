"""Export a voice network to the artifact contract: input `waveform` float32 `[batch, window]`, output `logits`
float32 `[batch, 2]`, batch dynamic, window fixed.

Exporter: the TorchScript-based `torch.onnx.export(..., dynamo=False)` at opset 17. Both exporters were tried
on all three networks with torch 2.14: both give ONNX Runtime logits within 1e-7 of PyTorch at batch 1 and 4,
and the same ORT latency, but the torch.export-based one (`dynamo=True`) takes 6-40 s per network against
0.5-2.5 s here, specialises the batch to 1 unless traced with a batch of at least 2, and emits opset 18. The
TorchScript exporter is deprecated upstream; these networks use only plain ops (conv, matmul, pad, topk, gather),
so moving to `dynamo=True` later is a change to this function alone (pass `dynamic_shapes` instead of
`dynamic_axes`, trace with batch >= 2); the parity checks in the tests and in `training.voice.export` guard it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import onnx
import torch
from torch import nn

__all__ = ["OPSET", "export_onnx", "without_fused_attention"]

OPSET = 17
INPUT_NAME = "waveform"
OUTPUT_NAME = "logits"


@contextmanager
def without_fused_attention() -> Iterator[None]:
    """PyTorch runs `nn.TransformerEncoderLayer` in eval mode as one fused kernel that has no ONNX form
    (`aten::_transformer_encoder_layer_fwd`); while exporting, the layers must take their plain path."""
    enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(enabled)


def export_onnx(model: nn.Module, path: Path, *, window_samples: int) -> None:
    """Write `model` (in eval mode, weights embedded in the one file) to `path` and check the graph's contract.

    The model's train/eval mode is restored afterwards, so calling this mid-training is safe.
    """
    was_training = model.training
    model.eval()
    example = torch.randn(2, window_samples, generator=torch.Generator().manual_seed(0)) * 0.1
    try:
        with torch.no_grad(), without_fused_attention():
            torch.onnx.export(
                model, (example,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=OPSET, do_constant_folding=True, dynamo=False,
            )
    finally:
        model.train(was_training)
    _check_contract(Path(path), window_samples)


def _dims(value: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def _check_contract(path: Path, window_samples: int) -> None:
    """Refuse a graph the service would refuse, here at export time rather than at deployment."""
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph)
    inputs = [i for i in graph.graph.input if i.name not in {init.name for init in graph.graph.initializer}]
    if [i.name for i in inputs] != [INPUT_NAME] or _dims(inputs[0]) != ["batch", window_samples]:
        raise RuntimeError(f"{path}: expected one input {INPUT_NAME} [batch, {window_samples}], got "
                           f"{[(i.name, _dims(i)) for i in inputs]}")
    outputs = list(graph.graph.output)
    if [o.name for o in outputs] != [OUTPUT_NAME] or _dims(outputs[0]) != ["batch", 2]:
        raise RuntimeError(f"{path}: expected one output {OUTPUT_NAME} [batch, 2], got "
                           f"{[(o.name, _dims(o)) for o in outputs]}")
