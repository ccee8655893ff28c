"""Split an ONNX model's weights into external-data shards of bounded size, so no shipped file is too large.

The repository refuses tracked files over 20 MiB, and a BERT-sized graph is larger than that as one file. ONNX
can keep initializer tensors in separate files ("external data", located relative to the .onnx file), which
onnxruntime reads transparently. Here the weights are packed into `<stem>.data-00`, `<stem>.data-01`, ... each
at most `max_shard_bytes` long; the caller records the returned hashes in the model card, because the service
checks every shard the card lists (`service.registry.load_artifact`) and cannot itself parse the graph.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import GraphProto, NodeProto, TensorProto, numpy_helper
from onnx.external_data_helper import set_external_data

from service.registry import sha256_file

log = logging.getLogger(__name__)

SHARD_BYTES = 16 * 2**20
# Tensors start on page boundaries inside a shard, so onnxruntime can map them from the file.
ALIGNMENT = 4096
# Fields an ONNX tensor may keep its values in besides raw_data; external data needs raw bytes only.
TYPED_FIELDS = ("float_data", "int32_data", "string_data", "int64_data", "double_data", "uint64_data")


def _node_tensors(nodes: Iterable[NodeProto], *, attributes: bool) -> Iterator[TensorProto]:
    """Tensors held by nodes: those of subgraphs (If, Loop, Scan bodies) and, if asked, attribute tensors."""
    for node in nodes:
        for attr in node.attribute:
            if attributes:
                if attr.HasField("t"):
                    yield attr.t
                yield from attr.tensors
            if attr.HasField("g"):
                yield from _graph_tensors(attr.g, attributes=attributes)
            for graph in attr.graphs:
                yield from _graph_tensors(graph, attributes=attributes)


def _graph_tensors(graph: GraphProto, *, attributes: bool) -> Iterator[TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    yield from _node_tensors(graph.node, attributes=attributes)


def _all_tensors(model: onnx.ModelProto) -> Iterator[TensorProto]:
    """Every tensor that may reference external data: initializers, sparse ones, attributes, in subgraphs too."""
    yield from _graph_tensors(model.graph, attributes=True)
    for function in model.functions:
        yield from _node_tensors(function.node, attributes=True)


def _raw_bytes(tensor: TensorProto) -> bytes:
    """The tensor's values as little-endian raw bytes, whichever field (raw_data, float_data, ...) holds them."""
    if tensor.HasField("raw_data"):
        return tensor.raw_data
    return numpy_helper.from_array(numpy_helper.to_array(tensor)).raw_data


def shards_of(path: Path) -> list[str]:
    """The external-data files an ONNX model references (sorted), read without loading the data itself."""
    model = onnx.load(str(path), load_external_data=False)
    locations = {
        entry.value
        for tensor in _all_tensors(model)
        if tensor.data_location == TensorProto.EXTERNAL
        for entry in tensor.external_data
        if entry.key == "location"
    }
    return sorted(locations)


def _shard_name(path: Path, index: int) -> str:
    return f"{path.stem}.data-{index:02d}"


def shard_external_data(
    path: Path, *, max_shard_bytes: int = SHARD_BYTES, min_tensor_bytes: int = 1024
) -> dict[str, str]:
    """Rewrite the ONNX file at `path` in place with every initializer of at least `min_tensor_bytes` moved to
    shards `<stem>.data-NN` next to it; returns {shard file name: sha256}.

    Tensors are packed in graph order, each starting at a multiple of ALIGNMENT, and a shard is closed when the
    next tensor would take it past `max_shard_bytes`. A single tensor larger than the limit gets a shard of its
    own, which is then larger than the limit: that is logged as a warning, since the file can still be shipped
    elsewhere but not committed under the house rules. Shards of an earlier run with the same stem are removed.
    """
    model = onnx.load(str(path))  # with any external data it already had, so that it can be re-packed
    pattern = re.compile(re.escape(path.stem) + r"\.data-\d+")
    for stale in path.parent.iterdir():
        if pattern.fullmatch(stale.name):
            stale.unlink()

    initializers = [t for t in _graph_tensors(model.graph, attributes=False) if t.data_type != TensorProto.STRING]
    shards: list[str] = []
    handle = None
    end = 0  # bytes written to the open shard
    try:
        for tensor in initializers:
            data = _raw_bytes(tensor)
            if len(data) < min_tensor_bytes:
                continue
            offset = -(-end // ALIGNMENT) * ALIGNMENT
            if handle is None or offset + len(data) > max_shard_bytes:
                if handle is not None:
                    handle.close()
                shards.append(_shard_name(path, len(shards)))
                handle = (path.parent / shards[-1]).open("wb")
                end = offset = 0
                if len(data) > max_shard_bytes:
                    log.warning("%s: tensor %s has %d bytes, more than the shard limit %d; it fills %s alone",
                                path, tensor.name, len(data), max_shard_bytes, shards[-1])
            handle.write(b"\0" * (offset - end))
            handle.write(data)
            end = offset + len(data)
            for field in TYPED_FIELDS:
                tensor.ClearField(field)
            tensor.raw_data = data  # set_external_data insists on raw_data being present
            set_external_data(tensor, shards[-1], offset=offset, length=len(data))
            tensor.data_location = TensorProto.EXTERNAL
            tensor.ClearField("raw_data")
    finally:
        if handle is not None:
            handle.close()

    path.write_bytes(model.SerializeToString())
    if path.stat().st_size > max_shard_bytes:
        log.warning("%s: still %d bytes after sharding (the graph, small tensors and attribute constants stay in it)",
                    path, path.stat().st_size)
    return {name: sha256_file(path.parent / name) for name in shards}


def ship_variant(path: Path, precision: str, session: Any, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
    """The card's entry for one shipped file, its weights moved to hashed shards when it exceeds SHARD_BYTES.

    The service hashes only the files the card lists and cannot read the graph, so the card must list exactly
    the files the graph references; and a sharded graph must compute what it did before (`session`, opened on
    the file before sharding).
    """
    entry: dict[str, Any] = {"file": path.name, "precision": precision}
    if path.stat().st_size > SHARD_BYTES:
        (before,) = session.run(["logits"], feeds)
        entry["external_data"] = shard_external_data(path, max_shard_bytes=SHARD_BYTES)
        fresh = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (after,) = fresh.run(["logits"], feeds)
        if not np.allclose(after, before, rtol=0, atol=1e-6):
            raise RuntimeError(f"{path}: logits changed by sharding ({np.max(np.abs(after - before)):.2e})")
    referenced = shards_of(path)
    if referenced != sorted(entry.get("external_data", {})):
        raise RuntimeError(f"{path}: the graph references external files {referenced}, the card would list "
                           f"{sorted(entry.get('external_data', {}))}")
    entry["sha256"] = sha256_file(path)  # after sharding: the graph file without its weights
    return entry
