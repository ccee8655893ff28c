"""DistillMOS as a pooled front-end: the port matches the package, the pooled features have the documented shape,
are deterministic and independent of batch and level, and a cache of "distillmos" serves "distillmos<k>"."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from training.voice.distillmos import N_FFT, distillmos_stft_kernels
from training.voice.features import load_features
from training.voice.pooled import PooledDistillMOS, build_front_end, distillmos_feature_count, distillmos_layers
from training.voice.whisper import speech_like

needs_weights = pytest.mark.skipif(importlib.util.find_spec("distillmos") is None,
                                   reason="distillmos is not installed (train extra)")


def _windows(n: int = 2) -> torch.Tensor:
    return torch.from_numpy(np.stack([speech_like(seed=i) for i in range(n)]))


def test_feature_counts_and_names() -> None:
    assert distillmos_feature_count(0) == 2 * (1024 + 200)
    assert distillmos_feature_count(7) == 2 * (1024 + 8 * 200)
    assert distillmos_feature_count(None) == distillmos_feature_count(7) + 201  # attention-pooled vector and MOS
    assert distillmos_layers("distillmos") is None and distillmos_layers("distillmos3") == 3
    with pytest.raises(ValueError):
        distillmos_layers("distillmosx")


def test_conv_stft_matches_torch_stft() -> None:
    """The fixed-conv STFT (exportable) equals `torch.stft` with the package's settings."""
    x = torch.randn(2, 4000, generator=torch.Generator().manual_seed(0))
    kernels = torch.from_numpy(distillmos_stft_kernels())
    conv = torch.nn.functional.conv1d(x.unsqueeze(1), kernels, stride=160)
    reference = torch.stft(x, n_fft=N_FFT, hop_length=160, win_length=N_FFT, center=False, return_complex=True,
                           window=torch.hann_window(N_FFT))
    torch.testing.assert_close(conv[:, :161], reference.real, atol=1e-3, rtol=1e-4)
    torch.testing.assert_close(conv[:, 161:], reference.imag, atol=1e-3, rtol=1e-4)


def test_distillmos_cache_serves_its_prefixes(tmp_path: Path) -> None:
    full = distillmos_feature_count(None)
    rng = np.random.default_rng(0)
    (tmp_path / "clean").mkdir()
    np.savez(tmp_path / "clean" / "distillmos-0000.npz", features=rng.standard_normal((3, full)).astype(np.float16),
             clip=np.array([0, 0, 1], np.int32))
    part = load_features(tmp_path, "clean", "distillmos2")
    whole = load_features(tmp_path, "clean", "distillmos")
    assert part.features.shape == (3, distillmos_feature_count(2))
    np.testing.assert_array_equal(part.features, whole.features[:, : distillmos_feature_count(2)])
    np.testing.assert_array_equal(part.clip, [0, 0, 1])


@pytest.fixture(scope="module")
def pooled() -> PooledDistillMOS:
    module = build_front_end("distillmos")
    assert isinstance(module, PooledDistillMOS)
    return module.eval()


@needs_weights
def test_padded_port_gives_the_packages_mos() -> None:
    from training.voice.distillmos import package_parity

    assert package_parity(_windows(1)) < 1e-4


@needs_weights
def test_pooled_features_shape_determinism_batch_and_level(pooled: PooledDistillMOS) -> None:
    x = _windows(2)
    with torch.inference_mode():
        a = pooled(x)
        b = pooled(x)
        alone = pooled(x[1:])
        quiet = pooled(0.1 * x)
    assert a.shape == (2, distillmos_feature_count(None)) and a.dtype == torch.float32
    assert torch.isfinite(a).all()
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    torch.testing.assert_close(alone[0], a[1], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(quiet, a, atol=1e-3, rtol=1e-3)  # DistillMOS peak-normalises its input
    mos = a[:, -1]
    assert ((mos >= 1) & (mos <= 5)).all()
    assert not torch.allclose(a[0], a[1])  # different windows, different features


@needs_weights
def test_prefix_front_end_is_the_full_vectors_prefix(pooled: PooledDistillMOS) -> None:
    x = _windows(1)
    three = build_front_end("distillmos3").eval()
    with torch.inference_mode():
        torch.testing.assert_close(three(x), pooled(x)[:, : distillmos_feature_count(3)], atol=1e-5, rtol=1e-5)


@needs_weights
def test_frontend_exports_to_onnx_with_parity(pooled: PooledDistillMOS, tmp_path: Path) -> None:
    """The exported graph (opset 17, transformer fast path off) gives the eager states within 1e-3."""
    ort = pytest.importorskip("onnxruntime")
    from training.voice.distillmos import INPUT_NAME, export_frontend_onnx

    path = tmp_path / "distillmos.onnx"
    export_frontend_onnx(pooled.frontend, path)
    assert torch.backends.mha.get_fastpath_enabled()  # restored after the export
    x = _windows(1)
    cnn, transformer = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {INPUT_NAME: x.numpy()})
    with torch.inference_mode():
        states = pooled.frontend(x)
    np.testing.assert_allclose(cnn, states[0].numpy(), atol=1e-3)
    np.testing.assert_allclose(transformer, torch.stack(states[1:]).numpy(), atol=1e-3)
