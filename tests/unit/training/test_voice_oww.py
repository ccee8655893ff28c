"""The PyTorch port of openwakeword's front-end against the package's own ONNX models, and the detector's export."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("openwakeword")

from openwakeword.utils import AudioFeatures  # noqa: E402

from service.engine import check_io, create_session  # noqa: E402
from training.helpers import count_parameters  # noqa: E402
from training.voice import oww  # noqa: E402
from training.voice.onnx_export import export_onnx  # noqa: E402
from training.voice.oww import WINDOW_SAMPLES, OWWDetector, OWWEmbedding, OWWMelSpectrogram  # noqa: E402

RATE = 16_000
# openwakeword asks onnxruntime for CUDA first; the CPU-only build warns and uses the CPU, which is what we want.
pytestmark = pytest.mark.filterwarnings("ignore:Specified provider .CUDAExecutionProvider.:UserWarning")


def pcm(kind: str, seconds: float = 4.0, seed: int = 0) -> np.ndarray:
    """int16 test audio: a 100-4000 Hz chirp, or a voiced harmonic signal with some noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    if kind == "chirp":
        x = 0.5 * np.sin(2 * np.pi * (100 * t + 3900 / (2 * seconds) * t * t))
    else:
        phase = 2 * np.pi * np.cumsum(140 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))) / RATE
        x = 0.2 * sum(np.sin(k * phase) / k for k in range(1, 25)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
        x = x + 0.01 * rng.standard_normal(t.size)
    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)


def as_waveform(samples: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(samples.astype(np.float32) / 32767).unsqueeze(0)


@pytest.fixture(scope="module")
def reference() -> AudioFeatures:
    return AudioFeatures(ncpu=1)  # openwakeword's own pipeline: its ONNX models in onnxruntime, then x / 10 + 2


@pytest.fixture(scope="module")
def detector() -> OWWDetector:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    return OWWDetector().eval()


@pytest.mark.parametrize("kind", ["chirp", "voiced"])
def test_port_matches_openwakeword(reference: AudioFeatures, kind: str) -> None:
    samples = pcm(kind)
    ref_mel = reference._get_melspectrogram(samples)  # [397, 32]
    ref_emb = reference._get_embeddings(samples)  # [41, 96]: 76-frame windows at hops of 8
    mel, emb = OWWMelSpectrogram(), OWWEmbedding()
    with torch.no_grad():
        ours_mel = mel(as_waveform(samples))[0].numpy()
        # Run once over the whole clip, the network reproduces openwakeword's window-by-window vectors.
        emb_from_ref_mel = emb(torch.from_numpy(ref_mel).unsqueeze(0))[0].numpy()
        emb_end_to_end = emb(mel(as_waveform(samples)))[0].numpy()
    assert ours_mel.shape == ref_mel.shape == (397, 32)
    assert emb_end_to_end.shape == ref_emb.shape == (41, 96)
    assert np.abs(ours_mel - ref_mel).max() < 5e-4  # dB / 10; measured 1e-4 (chirp), 2e-6 (voiced)
    assert np.abs(emb_from_ref_mel - ref_emb).max() < 5e-4  # vectors reach |x| ~ 55; measured 4e-5
    assert np.abs(emb_end_to_end - ref_emb).max() < 2e-3  # measured 3e-4 (chirp), 5e-5 (voiced)


def test_detector_gives_two_logits_and_trains_only_the_head(detector: OWWDetector) -> None:
    waveform = torch.from_numpy(np.stack([pcm("voiced", seed=i) for i in range(3)]).astype(np.float32) / 32767)
    with torch.no_grad():
        for batch in (1, 3):
            assert detector(waveform[:batch]).shape == (batch, 2)
    assert not any(p.requires_grad for p in detector.embedding.parameters())
    assert count_parameters(detector)["trainable"] > 0
    detector.train()
    try:
        detector(waveform[:2]).sum().backward()
    finally:
        detector.eval()
    assert all(p.grad is None for p in detector.embedding.parameters())
    assert detector.classifier.weight.grad is not None
    detector.zero_grad(set_to_none=True)


def test_onnx_export_matches_pytorch(detector: OWWDetector, tmp_path: Path) -> None:
    path = tmp_path / "voice.onnx"
    export_onnx(detector, path, window_samples=WINDOW_SAMPLES)
    session = create_session(path, providers=["cpu"], intra_op_threads=1)
    check_io(session, "voice", path)  # the service's artifact contract
    waveform = np.stack([pcm("chirp"), pcm("voiced", seed=1), pcm("voiced", seed=2)]).astype(np.float32) / 32767
    with torch.no_grad():
        expected = detector(torch.from_numpy(waveform)).numpy()
    for batch in (1, 3):
        (logits,) = session.run(["logits"], {"waveform": waveform[:batch]})
        assert logits.shape == (batch, 2)
        assert np.abs(logits - expected[:batch]).max() <= 1e-4


def test_missing_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oww.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install openwakeword"):
        OWWDetector()
