from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from service import engine
from service.errors import ModelError
from tests.modelkit import build_tokenizer, expected_voice_llr, text_graph, voice_graph


def test_unavailable_gpu_provider_is_a_clear_error_not_a_cpu_fallback() -> None:
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(ModelError, match=r"provider .cuda. was asked for .*install onnxruntime-gpu"):
        engine.resolve_providers(["cuda", "cpu"])
    assert engine.resolve_providers(["cpu"]) == ["CPUExecutionProvider"]


def test_voice_session_checks_io_and_computes_the_graph(tmp_path: Path) -> None:
    path = tmp_path / "v.onnx"
    path.write_bytes(voice_graph().SerializeToString())
    session = engine.create_session(path, providers=["cpu"])
    engine.check_io(session, "voice", path)
    x = (0.1 * np.random.default_rng(0).standard_normal((3, 32000))).astype(np.float32)
    logits = engine.run_logits(session, {"waveform": x})
    assert logits.shape == (3, 2)
    assert logits[0, 1] - logits[0, 0] == pytest.approx(expected_voice_llr(x[0]), abs=1e-4)


def test_a_model_with_the_wrong_inputs_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.onnx"
    path.write_bytes(text_graph(build_tokenizer()).SerializeToString())
    session = engine.create_session(path, providers=["cpu"])
    with pytest.raises(ModelError, match="a voice model takes inputs"):
        engine.check_io(session, "voice", path)
    engine.check_io(session, "text", path)


def test_garbage_onnx_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load the model"):
        engine.create_session(path, providers=["cpu"])
