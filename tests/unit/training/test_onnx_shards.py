"""Sharding an ONNX model's weights into external-data files: same outputs, bounded shards, honest hashes."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from service.registry import sha256_file
from training.onnx_shards import ALIGNMENT, shard_external_data, shards_of

LIMIT = 150_000


def mlp(path: Path) -> None:
    """x [batch, 256] through four MatMuls: w1 alone exceeds LIMIT, b1 is stored in float_data (not raw bytes),
    w2 and w3 do not fit one shard together, w4 is too small to move."""
    rng = np.random.default_rng(0)
    weights = {"w1": (256, 256), "w2": (256, 96), "w3": (96, 128), "w4": (128, 1)}
    inits = [numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)
             for name, shape in weights.items()]
    bias = rng.standard_normal(256).astype(np.float32)
    # in graph order: w1 | b1 w2 | w3, and w4 stays inside
    inits.insert(1, helper.make_tensor("b1", TensorProto.FLOAT, [256], bias.tolist(), raw=False))
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h1"]),
        helper.make_node("Add", ["h1", "b1"], ["a1"]),
        helper.make_node("Relu", ["a1"], ["r1"]),
        helper.make_node("MatMul", ["r1", "w2"], ["h2"]),
        helper.make_node("Relu", ["h2"], ["r2"]),
        helper.make_node("MatMul", ["r2", "w3"], ["h3"]),
        helper.make_node("MatMul", ["h3", "w4"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())


def run(path: Path, x: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(["y"], {"x": x})[0]


def locations(path: Path) -> dict[str, dict[str, str]]:
    """tensor name -> its external_data entries (empty when stored inside the file)."""
    model = onnx.load(str(path), load_external_data=False)
    return {t.name: {e.key: e.value for e in t.external_data} for t in model.graph.initializer}


def test_sharded_model_computes_the_same_with_bounded_hashed_shards(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "m.onnx"
    mlp(path)
    x = np.random.default_rng(1).standard_normal((3, 256)).astype(np.float32)
    before = run(path, x)

    with caplog.at_level(logging.WARNING, logger="training.onnx_shards"):
        shards = shard_external_data(path, max_shard_bytes=LIMIT)

    assert list(shards) == ["m.data-00", "m.data-01", "m.data-02"]
    assert np.array_equal(run(path, x), before)
    assert shards == {name: sha256_file(tmp_path / name) for name in shards}
    assert shards_of(path) == sorted(shards)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.data-00", "m.data-01", "m.data-02", "m.onnx"]

    where = locations(path)
    assert where["w4"] == {}  # 512 bytes: under min_tensor_bytes
    assert where["w1"]["location"] == "m.data-00"  # too large for any shard: one of its own, with a warning
    assert where["b1"]["location"] == where["w2"]["location"] == "m.data-01"
    assert where["w3"]["location"] == "m.data-02"
    assert any("w1" in r.getMessage() and "m.data-00" in r.getMessage() for r in caplog.records)
    assert (tmp_path / "m.data-00").stat().st_size == 256 * 256 * 4
    for name in ("m.data-01", "m.data-02"):
        assert (tmp_path / name).stat().st_size <= LIMIT
    assert all(int(w["offset"]) % ALIGNMENT == 0 for w in where.values() if w)
    assert path.stat().st_size < 4096  # the graph without its weights

    # b1 was held in float_data: it moved as raw bytes, and nothing of it stays inside the graph
    b1 = next(t for t in onnx.load(str(path), load_external_data=False).graph.initializer if t.name == "b1")
    assert not b1.float_data and not b1.raw_data and int(where["b1"]["length"]) == 256 * 4


def test_resharding_replaces_the_earlier_shards(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    mlp(path)
    x = np.ones((2, 256), np.float32)
    before = run(path, x)
    shard_external_data(path, max_shard_bytes=LIMIT)
    shards = shard_external_data(path)  # default 16 MiB: everything fits one shard
    assert list(shards) == ["m.data-00"] and shards_of(path) == ["m.data-00"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.data-00", "m.onnx"]
    assert np.array_equal(run(path, x), before)


def test_a_model_without_external_data_references_none(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    mlp(path)
    assert shards_of(path) == []
