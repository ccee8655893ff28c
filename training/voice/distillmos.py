"""DistillMOS (a 4.2 M-parameter speech-quality network) as a frozen front-end for the voice detector.

Source: the PyPI wheel `distillmos==0.9.1` (MIT; Stahl and Gamper, "Distillation and pruning for scalable
self-supervised representation-based speech quality assessment", ICASSP 2025), distilled from an XLS-R based MOS
predictor (`xls-r-sqa`). Its weights (`distillmos/weights/distill_mos_v7.pt`, 17 MB) ship inside the wheel and are
read from there only; nothing is downloaded. Why try it: a quality model is trained to hear exactly the artefacts
(buzz, phase smearing, band limits, codec noise) that separate a vocoder's output from a recording, which a speech
recogniser's encoder (Whisper) is trained to ignore.

Architecture (`distillmos/sqa.py`, `xls_r_sqa/sqa_model.py`): waveform at 16 kHz, peak-normalised
(`x / (max|x| + 1e-8)`) -> complex STFT (Hann 320 = 20 ms, hop 160, reflect-padded by 80 each side, not centred),
each bin compressed to `|X|^0.3 * X / |X|`, real and imaginary parts as two channels -> six 3x3 Conv2d + LeakyReLU
(64, 64, 128, 256, 256, 256 channels; stride 2 over frequency from layer 2, stride 2 over time in the last) ->
`[B, T/2, 256 x 4 = 1024]` -> BatchNorm, BatchNorm, Linear 1024 -> 200, + sinusoidal positions (a table of 384)
-> 7 post-norm transformer layers (8 heads, FFN 400, ReLU) -> BatchNorm -> attention pooling -> Linear -> sigmoid;
MOS = 1 + 4 * sigmoid. The package always runs 122,880 samples (7.68 s, 384 positions): shorter input is
zero-padded at the end, longer input cut in overlapping crops whose MOS is averaged.

Hidden states exposed here (`DistillMOSFrontEnd.forward`): index 0 is the CNN output (1024 per position); index 1
the transformer input (after the BatchNorms, projection and positions, 200); index i in 2..8 the output of
transformer layer i - 1 (200). `head` gives the attention-pooled vector (200) and the MOS itself.

Context: by default a 4 s window runs alone (200 positions, the first 200 rows of the position table), as the
Whisper branch does; `padded=True` zero-pads it to the package's 7.68 s first (384 positions, twice the cost) and
keeps the window's 200 positions. `compare_window_with_padded` measures how far the shorter context moves each
state, and `package_parity` checks the padded MOS against the package's own `forward`.

The STFT is a fixed strided Conv1d (ONNX Runtime has no fast STFT and the TorchScript exporter writes no complex
tensors); `stft_kernels` of `training.voice.frontend` needs a power-of-two FFT, which 320 is not.

Measure (parity, 4 s vs 7.68 s per state, latency eager vs ONNX Runtime): `python -m training.voice.distillmos`.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "CNN_DIM",
    "N_STATES",
    "STATE_DIMS",
    "TRANSFORMER_DIM",
    "DistillMOSFrontEnd",
    "compare_window_with_padded",
    "distillmos_stft_kernels",
    "export_frontend_onnx",
    "main",
    "package_parity",
    "weights_path",
]

SAMPLE_RATE = 16_000
WINDOW_SAMPLES = 64_000  # the detector's 4 s window
PACKAGE_SAMPLES = 122_880  # distillmos.sqa.SEQ_LEN: what the package always runs (7.68 s)
N_FFT = 320  # 20 ms, also the window length
HOP_LENGTH = 160  # 10 ms
N_BINS = N_FFT // 2 + 1
COMPRESSION = 0.3
MAG_FLOOR = 1e-12
PEAK_EPS = 1e-8
CNN_DIM = 1024  # 256 channels x 4 frequency rows
TRANSFORMER_DIM = 200
N_LAYERS = 7
N_STATES = N_LAYERS + 2  # CNN output, transformer input, 7 layer outputs
STATE_DIMS = (CNN_DIM,) + (TRANSFORMER_DIM,) * (N_LAYERS + 1)
ONNX_OPSET = 17
INPUT_NAME = "waveform"
INSTALL_HINT = "pip install distillmos==0.9.1"
WEIGHTS_FILE = Path("weights") / "distill_mos_v7.pt"


def weights_path() -> Path:
    """The checkpoint inside the installed wheel, found without importing the package (which imports librosa)."""
    spec = importlib.util.find_spec("distillmos")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"distillmos is not installed; its weights ship in the wheel: {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall: {INSTALL_HINT}")
    return path


def distillmos_stft_kernels() -> np.ndarray:
    """Conv1d weights `[2 * 161, 1, 320]`: periodic-Hann-windowed cosines then negated sines (`torch.stft`'s sign)."""
    n = np.arange(N_FFT)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / N_FFT)
    angle = 2 * np.pi * np.arange(N_BINS)[:, None] * n[None, :] / N_FFT
    kernels = np.concatenate([np.cos(angle) * window, -np.sin(angle) * window])
    return kernels[:, None, :].astype(np.float32)


def _build_package_model() -> Any:
    """The package's own network with the wheel's weights, built quietly (its loader prints a line). Typed `Any`:
    its submodules are reached by attribute, which the package does not annotate."""
    from distillmos.sqa import ConvTransformerSQAModel

    model = ConvTransformerSQAModel(load_weights=False, segmenting_in_forward=False)
    checkpoint = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(checkpoint["model"])
    return model.eval()


class DistillMOSFrontEnd(nn.Module):
    """Waveform `[B, N]` at 16 kHz -> the hidden states listed in the module docstring, each `[B, T, D]`."""

    kernels: torch.Tensor
    positions: torch.Tensor

    def __init__(self, *, padded: bool = False) -> None:
        super().__init__()
        model = _build_package_model()
        self.padded = padded
        self.cnn = model.cnn.cnn
        sqa = model.transformer_pool_attn
        self.norm_input = sqa.norm_input
        wrapper = sqa.transformer
        self.norm = wrapper.norm
        self.linear_proj = wrapper.linear_proj
        self.layers = wrapper.transformer_encoder.layers
        self.norm_trans = sqa.norm_trans
        self.pool = sqa.pool
        self.register_buffer("kernels", torch.from_numpy(distillmos_stft_kernels()))
        self.register_buffer("positions", wrapper.position_encoding.pe[0].clone())  # [384, 200]
        self.requires_grad_(False)
        self.eval()

    def spectrum(self, waveform: torch.Tensor) -> torch.Tensor:
        """Peak-normalised, power-law compressed complex STFT as `[B, 2 (real, imag), 161, frames]`."""
        x = waveform / (waveform.abs().amax(dim=1, keepdim=True) + PEAK_EPS)
        if self.padded and x.shape[1] < PACKAGE_SAMPLES:
            x = F.pad(x, (0, PACKAGE_SAMPLES - x.shape[1]))
        side = (N_FFT - HOP_LENGTH) // 2
        x = F.pad(x.unsqueeze(1), (side, side), mode="reflect")
        spec = F.conv1d(x, self.kernels, stride=HOP_LENGTH)
        real, imag = spec[:, :N_BINS], spec[:, N_BINS:]
        magnitude = torch.clamp(torch.sqrt(real * real + imag * imag), min=MAG_FLOOR)
        gain = magnitude ** (COMPRESSION - 1.0)
        return torch.stack([real * gain, imag * gain], dim=1)

    def positions_of(self, n_samples: int) -> int:
        """Positions that cover `n_samples` of input (the last CNN layer halves the frame rate)."""
        frames = n_samples // HOP_LENGTH
        return (frames + 1) // 2

    def states(self, waveform: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """All hidden states, and the last layer's output (over every position, padding included) for `head`."""
        conv = self.cnn(self.spectrum(waveform))  # [B, 256, 4, T]
        cnn = conv.flatten(1, 2).transpose(1, 2)  # [B, T, 1024], channel-major as the package flattens
        x = self.norm(self.norm_input(cnn.transpose(1, 2))).transpose(1, 2)
        x = self.linear_proj(x) + self.positions[: x.shape[1]]
        out = [cnn, x]
        for layer in self.layers:
            x = layer(x)
            out.append(x)
        keep = self.positions_of(waveform.shape[1])
        return [s[:, :keep] for s in out], x

    def forward(self, waveform: torch.Tensor) -> list[torch.Tensor]:
        return self.states(waveform)[0]

    def head(self, last: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The package's head on the last layer's output: attention-pooled vector `[B, 200]` and MOS `[B]`."""
        x = self.norm_trans(last.transpose(1, 2)).transpose(1, 2)
        attention = torch.softmax(self.pool.linear2(F.relu(self.pool.linear1(x))), dim=1)  # [B, T, 1]
        pooled = (attention * x).sum(dim=1)
        mos = 1.0 + 4.0 * torch.sigmoid(self.pool.linear3(pooled)[:, 0])
        return pooled, mos


def package_parity(waveform: torch.Tensor) -> float:
    """Largest |MOS difference| between `DistillMOSFrontEnd(padded=True)` and the package's own forward on
    windows `[B, N]` with N <= 122,880 (the package zero-pads those to 7.68 s, as the padded mode does)."""
    from distillmos.sqa import ConvTransformerSQAModel

    reference = ConvTransformerSQAModel(load_weights=False, segmenting_in_forward=True)
    reference.load_state_dict(torch.load(weights_path(), map_location="cpu", weights_only=True)["model"])
    reference.eval()
    ours = DistillMOSFrontEnd(padded=True)
    with torch.no_grad():
        expected = reference(waveform)[:, 0]
        _, last = ours.states(waveform)
        _, mos = ours.head(last)
    return float((mos - expected).abs().max())


def compare_window_with_padded(waveform: torch.Tensor) -> list[tuple[float, float]]:
    """Per hidden state: (mean cosine over positions, relative L2) of 4 s run alone against the same samples
    zero-padded to 7.68 s (the package's input), on the window's positions. `waveform` is `[B, N]`."""
    alone, padded = DistillMOSFrontEnd(), DistillMOSFrontEnd(padded=True)
    with torch.no_grad():
        a, b = alone(waveform), padded(waveform)
    rows = []
    for x, y in zip(a, b, strict=True):
        cosine = F.cosine_similarity(x, y, dim=-1).mean()
        rows.append((float(cosine), float((x - y).norm() / y.norm())))
    return rows


class _StatesOut(nn.Module):
    """The front-end with its states stacked per group, so an ONNX graph has fixed outputs."""

    def __init__(self, frontend: DistillMOSFrontEnd) -> None:
        super().__init__()
        self.frontend = frontend

    def forward(self, waveform: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        states = self.frontend(waveform)
        return states[0], torch.stack(states[1:])


def export_frontend_onnx(frontend: DistillMOSFrontEnd, path: Path, *, window_samples: int = WINDOW_SAMPLES) -> None:
    """`waveform` [batch, window] -> `cnn` [batch, 200, 1024] and `transformer` [8, batch, 200, 200]; opset 17,
    TorchScript exporter, dynamic batch, as `training.voice.whisper.export_frontend_onnx`."""
    from training.voice.onnx_export import without_fused_attention

    example = torch.randn(2, window_samples, generator=torch.Generator().manual_seed(0)) * 0.1
    with torch.no_grad(), without_fused_attention():
        torch.onnx.export(
            _StatesOut(frontend).eval(), (example,), str(path), input_names=[INPUT_NAME],
            output_names=["cnn", "transformer"],
            dynamic_axes={INPUT_NAME: {0: "batch"}, "cnn": {0: "batch"}, "transformer": {1: "batch"}},
            opset_version=ONNX_OPSET, do_constant_folding=True, dynamo=False,
        )


def main(argv: list[str] | None = None) -> None:
    """Print MOS parity with the package, 4 s alone vs padded to 7.68 s per state, ONNX parity and latency."""
    import onnxruntime as ort

    from training.voice.whisper import median_ms, speech_like

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--windows", type=Path, default=None,
                        help=".npy of float32 [B, 64000] 16 kHz windows (default: synthetic speech-like ones)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.windows is not None:
        windows = np.load(args.windows).astype(np.float32)
    else:
        windows = np.stack([speech_like(seed=i) for i in range(4)])
    x = torch.from_numpy(windows)
    print(f"MOS parity with the package (padded mode): max |diff| {package_parity(x):.2e}")
    print("| state | mean cosine 4 s vs 7.68 s | relative L2 |")
    for i, (cosine, rel) in enumerate(compare_window_with_padded(x)):
        print(f"| {i} | {cosine:.4f} | {rel:.4f} |")
    frontend = DistillMOSFrontEnd()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "distillmos_frontend.onnx"
        export_frontend_onnx(frontend, path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        with torch.no_grad():
            expected = _StatesOut(frontend)(x)
        got = session.run(None, {INPUT_NAME: windows})
        diff = max(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected, strict=True))
        print(f"ONNX fp32 {path.stat().st_size / 2**20:.1f} MiB; max |ONNX - eager| over all states {diff:.2e}")
        print(f"| batch | eager ms | onnxruntime ms |  ({args.threads} threads, median of {args.repeats})")
        for batch in (1, 8):
            one = windows[:1].repeat(batch, axis=0)
            tensor = torch.from_numpy(one)

            def eager(t: torch.Tensor = tensor) -> object:
                with torch.inference_mode():
                    return frontend(t)

            def onnx(a: np.ndarray = one) -> object:
                return session.run(None, {INPUT_NAME: a})

            print(f"| {batch} | {median_ms(eager, args.repeats):.1f} | {median_ms(onnx, args.repeats):.1f} |")


if __name__ == "__main__":
    main()
