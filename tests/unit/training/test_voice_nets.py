"""Voice networks: the in-graph front-end matches reference DSP, every network gives [batch, 2] logits at both
service rates and window lengths, learns, is level-invariant, and exports to an ONNX graph the service accepts
and that computes what PyTorch computes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import onnx  # noqa: E402
import scipy.fft  # noqa: E402
import torchaudio  # noqa: E402
from torch import Tensor  # noqa: E402

from service import engine  # noqa: E402
from training.helpers import count_parameters  # noqa: E402
from training.voice import frontend  # noqa: E402
from training.voice.networks import NETWORKS, build_network  # noqa: E402
from training.voice.onnx_export import export_onnx  # noqa: E402

# The pretrained openwakeword front-end runs at 16 kHz only and has its own tests (test_voice_oww.py).
NAMES = sorted(set(NETWORKS) - {"oww"})


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """The test machines share two cores with other jobs."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def noise(batch: int, samples: int, seed: int = 0, scale: float = 0.1) -> Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy((scale * rng.standard_normal((batch, samples))).astype(np.float32))


def voiced(samples: int, rate: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / rate
    phase = 2 * np.pi * np.cumsum(130 + 25 * np.sin(2 * np.pi * 1.5 * t)) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 25)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return (0.2 * x + 0.005 * rng.standard_normal(samples)).astype(np.float32)


# ----------------------------------------------------------------------------------------------- front-end


@pytest.mark.parametrize(("n_fft", "win", "hop"), [(512, 320, 160), (256, 160, 80), (512, 512, 160), (64, 50, 7)])
def test_conv_stft_power_matches_torch_stft(n_fft: int, win: int, hop: int) -> None:
    x = torch.from_numpy(np.stack([voiced(8000, 16000, seed=1), voiced(8000, 16000, seed=2) * 0.01]))
    stft = frontend.STFTPower(n_fft, hop, win)
    ours = stft(x)
    reference = torch.stft(x.double(), n_fft, hop_length=hop, win_length=win,
                           window=torch.hann_window(win, dtype=torch.float64), center=True, pad_mode="reflect",
                           return_complex=True).abs().pow(2)
    assert ours.shape == reference.shape == (2, n_fft // 2 + 1, stft.frames(8000))
    for row in range(2):  # relative to each clip's own peak: the second is 40 dB quieter
        error = (ours[row].double() - reference[row]).abs().max() / reference[row].max()
        assert error <= 1e-4
    assert not any(b.requires_grad for b in stft.buffers()) and not list(stft.parameters())
    with pytest.raises(ValueError, match="power of two"):
        frontend.STFTPower(400, 160)


def test_log_mel_matches_torchaudio() -> None:
    rate, x = 16000, voiced(16000, 16000)
    mel = frontend.LogMel(rate, n_fft=512, win_length=400, hop_length=160, n_mels=40, normalise_input=False,
                          mean_norm=False)
    ours = torch.exp(mel(torch.from_numpy(x)[None]))[0].double() - frontend.LOG_EPS
    reference = torchaudio.transforms.MelSpectrogram(rate, n_fft=512, win_length=400, hop_length=160, n_mels=40,
                                                     norm="slaney", mel_scale="slaney", pad_mode="reflect",
                                                     power=2.0).double()(torch.from_numpy(x).double())
    assert ours.shape == reference.shape
    assert (ours - reference).abs().max() / reference.max() <= 1e-4


def test_lfcc_pieces_match_their_definitions() -> None:
    x = np.random.default_rng(0).standard_normal((3, 20))
    np.testing.assert_allclose(x @ frontend.dct_matrix(20, 12), scipy.fft.dct(x, norm="ortho")[:, :12], atol=1e-5)
    bank = frontend.linear_filterbank(20, 512, 16000)
    assert bank.shape == (257, 20) and np.allclose(bank.max(axis=0), 1.0, atol=0.05)  # a peak near each centre
    ramp = torch.arange(10.0).repeat(2, 3, 1)
    np.testing.assert_allclose(frontend.deltas(ramp)[..., 1:-1].numpy(), 1.0)
    lfcc = frontend.LFCC(16000, n_fft=512, win_length=320, hop_length=160)
    features = lfcc(noise(2, 16000))
    assert features.shape == (2, 60, 101)
    assert features[:, :20].mean(dim=-1).abs().max() < 1e-4  # mean-normalised per utterance


@pytest.mark.parametrize("rate", [16000, 8000])
def test_sinc_filters_pass_their_own_mel_band(rate: int) -> None:
    bank = frontend.sinc_filters(70, 129, rate)[:, 0]
    response = np.abs(np.fft.rfft(bank, n=8192, axis=1))
    peaks = np.fft.rfftfreq(8192, 1 / rate)[response.argmax(axis=1)]
    assert np.all(np.diff(peaks[5:]) > 0)  # centres rise through the bank (the lowest bands overlap in one bin)
    assert peaks[-1] > 0.85 * rate / 2 and np.diff(peaks)[-1] > np.diff(peaks)[10]  # mel spacing widens upwards


# ------------------------------------------------------------------------------------------------ networks


@pytest.mark.parametrize("window_s", [4.0, 2.0])
@pytest.mark.parametrize("rate", [16000, 8000])
@pytest.mark.parametrize("name", NAMES)
def test_networks_give_two_logits_per_window(name: str, rate: int, window_s: float) -> None:
    window = round(rate * window_s)
    model = build_network(name, sample_rate=rate, window_samples=window).eval()
    assert (model.sample_rate, model.window_samples) == (rate, window)
    # AASIST-L's encoder costs ~2.5 s per 16 kHz 4 s window on one thread: its batch of 3 is run once, at 8 kHz 2 s
    batches = (1, 3) if name != "aasist_l" or (rate, window_s) == (8000, 2.0) else (1,)
    x = noise(3, window)
    with torch.no_grad():
        outputs = {b: model(x[:b]) for b in batches}
    for b, logits in outputs.items():
        assert logits.shape == (b, 2) and torch.isfinite(logits).all()
    if 3 in outputs:  # rows are scored independently in eval mode
        torch.testing.assert_close(outputs[3][:1], outputs[1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_one_optimizer_step_lowers_the_loss_and_reaches_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    model = build_network(name, sample_rate=8000, window_samples=8000).train()
    x, target = noise(2, 8000, seed=3), torch.tensor([0, 1])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def loss() -> Tensor:
        torch.manual_seed(1)  # the same dropout masks both times
        return torch.nn.functional.cross_entropy(model(x), target)

    before = loss()
    before.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    optimizer.step()
    with torch.no_grad():
        after = loss()
    assert float(after) < float(before)


@pytest.mark.parametrize("name", NAMES)
def test_gain_is_no_cue(name: str) -> None:
    model = build_network(name, sample_rate=8000, window_samples=8000).eval()
    x = noise(2, 8000, seed=4, scale=0.05)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(20 * x), atol=1e-4, rtol=1e-4)


def test_aasist_l_has_the_published_size_and_node_counts() -> None:
    model = build_network("aasist_l", sample_rate=16000, window_samples=64000)
    assert count_parameters(model)["trainable"] == 85_306  # AASIST-L as published
    assert model.n_nodes == (23, 29)
    # the sinc filters scale with the rate, so an 8 kHz 4 s window gives half the temporal nodes
    assert build_network("aasist_l", sample_rate=8000, window_samples=32000).n_nodes == (23, 14)


def test_registry_sizes_and_errors() -> None:
    for name in NAMES:
        model = build_network(name, sample_rate=16000, window_samples=64000)
        assert 50_000 <= count_parameters(model)["trainable"] <= 300_000
    small = build_network("specresnet", sample_rate=16000, window_samples=16000, channels=[8, 12, 16])
    widths = [m.out_channels for m in small.modules() if isinstance(m, torch.nn.Conv2d)]
    assert max(widths) == 16  # YAML lists become the tuples constructors take
    with pytest.raises(ValueError, match="unknown network 'nope'"):
        build_network("nope", sample_rate=16000, window_samples=64000)
    with pytest.raises(ValueError, match="graph nodes"):
        build_network("aasist_l", sample_rate=16000, window_samples=4000)
    with pytest.raises(ValueError, match="pools by 16"):
        build_network("lcnn", sample_rate=16000, window_samples=1000)


# ------------------------------------------------------------------------------------------------------ ONNX


# AASIST-L exports at 8 kHz 2 s to keep the suite fast (it costs ~2.5 s per 16 kHz 4 s window in eager mode);
# benchmarks/voice_latency.py checks the parity of every network at 16 kHz 4 s.
@pytest.mark.parametrize(("name", "rate", "window_s"), [("lcnn", 16000, 4.0), ("specresnet", 16000, 4.0),
                                                        ("specresnet", 8000, 4.0), ("aasist_l", 8000, 2.0)])
def test_onnx_export_matches_pytorch_and_passes_the_service_checks(name: str, rate: int, window_s: float,
                                                                   tmp_path: Path) -> None:
    window = round(rate * window_s)
    torch.manual_seed(0)
    model = build_network(name, sample_rate=rate, window_samples=window)
    with torch.no_grad():  # move batch-norm statistics off their defaults so that they matter in the graph
        model.train()
        model(noise(2, window, seed=9))
    model.eval()
    path = tmp_path / "model.onnx"
    export_onnx(model, path, window_samples=window)
    assert not model.training

    session = engine.create_session(path, providers=["cpu"], intra_op_threads=1)
    engine.check_io(session, "voice", path)
    nodes = onnx.load(str(path)).graph.node  # the fixed front-end is findable by name, to keep it out of int8/fp16
    assert any(node.op_type == "Conv" and node.name.startswith("/frontend/") for node in nodes)
    assert session.get_inputs()[0].shape == ["batch", window]
    for batch in (1, 4):
        x = noise(batch, window, seed=batch)
        with torch.no_grad():
            expected = model(x).numpy()
        actual = engine.run_logits(session, {"waveform": x.numpy()})
        assert np.max(np.abs(actual - expected)) <= 1e-4
