"""openWakeWord's pretrained speech front-end, ported to PyTorch, and a spoof detector built on it.

openwakeword 0.4.0 (Apache-2.0, on PyPI) ships two ONNX models that together are Google's `speech_embedding`
(https://tfhub.dev/google/speech_embedding/1):

* `melspectrogram.onnx` (exported from PyTorch): int16-range float audio at 16 kHz -> a fixed Conv1d STFT
  (512-sample kernel, 160-sample hop, no padding, so (N - 512) // 160 + 1 frames) -> power -> 32 mel bands
  (about 60-3800 Hz) -> 10 * log10 clipped at 1e-10 -> floored at max - 80 dB. openwakeword's Python code then
  applies `x / 10 + 2` to bring it close to the TensorFlow original.
* `embedding_model.onnx` (exported by tf2onnx): a [76 frames x 32 bands] patch -> 20 convolutions (batch norm
  fused into all but the first), LeakyReLU(0.2) then max(x, -0.4) after each, five max-pools -> one 96-d vector.
  openwakeword slides the patch over the mel frames with a hop of 8 frames (80 ms).

Every convolution in the embedding model is "valid" along time and there are exactly three stride-2 pools along
time, so the network is translation-equivariant with stride 8 frames: running it once over all frames of a clip
gives exactly the vectors openwakeword computes window by window (76-frame patches at hops of 8), for about a
tenth of the work. `OWWDetector` does that and keeps the intermediate stage maps as well, because pooled or
coarse statistics hide the fine time-frequency artefacts of vocoders.

Weights are read from the ONNX initializers of the installed package at construction time; nothing is
downloaded. The exported detector is one ONNX graph: `waveform` float32 [batch, samples] in [-1, 1] ->
`logits` [batch, 2]. The STFT is a fixed Conv1d because ONNX Runtime has no CUDA kernel for the STFT op.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

SAMPLE_RATE = 16_000
WINDOW_SECONDS = 4.0
WINDOW_SAMPLES = int(SAMPLE_RATE * WINDOW_SECONDS)
# openwakeword feeds int16 sample values as floats; its own float-to-int16 conversion multiplies by 32767.
INT16_SCALE = 32767.0
STFT_KERNEL = 512
STFT_HOP = 160
N_FREQS = STFT_KERNEL // 2 + 1
MEL_BINS = 32
TOP_DB = 80.0
EMBEDDING_WINDOW = 76  # mel frames seen by one embedding vector (~775 ms)
EMBEDDING_HOP = 8  # mel frames between embedding vectors: the product of the three stride-2 time pools
EMBEDDING_DIM = 96
LEAKY_SLOPE = 0.2
ACTIVATION_FLOOR = -0.4  # the graph's Max(x, -0.4) after every LeakyReLU
BN_EPSILON = 1e-3

# Max-pools of the embedding model, keyed by the index of the convolution they follow: (time, mel) sizes = strides.
POOLS = {2: (2, 2), 6: (1, 2), 10: (2, 2), 14: (1, 2), 18: (2, 2)}
# The taps the detector may read: the output of each pooled stage, and the final embeddings.
STAGES = ("stage1", "stage2", "stage3", "stage4", "stage5")
TAPS = (*STAGES, "embedding")
# Channels x mel bands of each tap, flattened into one feature axis per time step.
TAP_DIMS = {"stage1": 24 * 16, "stage2": 48 * 8, "stage3": 72 * 4, "stage4": 96 * 2, "stage5": 96 * 1,
            "embedding": EMBEDDING_DIM}


def openwakeword_model_dir() -> Path:
    """Folder of the installed openwakeword's ONNX resource models; found without importing the package.

    Importing openwakeword would start its ONNX Runtime and tflite machinery, which only this lookup needs not.
    """
    spec = importlib.util.find_spec("openwakeword")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "openwakeword is not installed; its pretrained speech-embedding models are this detector's front-end: "
            "pip install openwakeword==0.4.0")
    folder = Path(next(iter(spec.submodule_search_locations))) / "resources" / "models"
    for name in ("melspectrogram.onnx", "embedding_model.onnx"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name} is missing; openwakeword 0.4.0 ships it in its wheel "
                                    "(later releases leave it to a run-time download, which this project avoids)")
    return folder


def load_initializers(path: Path) -> dict[str, np.ndarray]:
    """All initializers of an ONNX graph as numpy arrays, keyed by name."""
    graph = onnx.load(str(path)).graph
    return {init.name: numpy_helper.to_array(init).copy() for init in graph.initializer}


class OWWMelSpectrogram(nn.Module):
    """openwakeword's mel front-end including its `x / 10 + 2`: waveform [B, N] in [-1, 1] -> frames [B, T, 32].

    The STFT is one fixed Conv1d whose 514 kernels (257 real, 257 imaginary) are copied from the graph, so the
    export needs no STFT op. One deliberate difference: the graph floors at (max - 80 dB) with the max taken over
    the whole batch, which makes a clip's features depend on its batch mates; here the max is per clip, which is
    the same thing for the batch of one that openwakeword's streaming code feeds.
    """

    stft_kernel: torch.Tensor
    mel_matrix: torch.Tensor

    def __init__(self, model_dir: Path | None = None) -> None:
        super().__init__()
        weights = load_initializers((model_dir or openwakeword_model_dir()) / "melspectrogram.onnx")
        real, imag = weights["0.stft.conv_real.weight"], weights["0.stft.conv_imag.weight"]
        mel = weights["1.melW"]
        if real.shape != (N_FREQS, 1, STFT_KERNEL) or imag.shape != real.shape or mel.shape != (N_FREQS, MEL_BINS):
            raise ValueError(f"unexpected melspectrogram.onnx weights: {real.shape}, {imag.shape}, {mel.shape}")
        # Buffers, not parameters: the front-end's signal processing is fixed even when the network is fine-tuned.
        self.register_buffer("stft_kernel", torch.from_numpy(np.concatenate([real, imag], axis=0)))
        self.register_buffer("mel_matrix", torch.from_numpy(mel))

    @staticmethod
    def n_frames(n_samples: int) -> int:
        """Frames for a clip of n_samples: the STFT has no padding."""
        return (n_samples - STFT_KERNEL) // STFT_HOP + 1

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        spec = F.conv1d(waveform.unsqueeze(1) * INT16_SCALE, self.stft_kernel, stride=STFT_HOP)  # [B, 514, T]
        real, imag = spec[:, :N_FREQS], spec[:, N_FREQS:]
        power = real * real + imag * imag
        mel = torch.matmul(power.transpose(1, 2), self.mel_matrix)  # [B, T, 32]
        # The graph's own arithmetic, 10 * ln(x) / ln(10), rather than log10, so both round alike.
        db = torch.log(mel.clamp_min(1e-10)) * 10.0 / 2.3025851
        floor = db.amax(dim=(1, 2), keepdim=True) - TOP_DB
        return torch.maximum(db, floor) / 10.0 + 2.0


class OWWEmbedding(nn.Module):
    """The speech_embedding conv stack, run fully convolutionally: mel [B, T, 32] -> embeddings [B, T', 96].

    T' = (T - 76) // 8 + 1 and vector k equals openwakeword's embedding of the patch mel[:, 8k : 8k + 76]; a
    single 76-frame patch gives T' = 1. `feature_maps` also returns the output of each pooled stage.
    """

    def __init__(self, model_dir: Path | None = None) -> None:
        super().__init__()
        weights = load_initializers((model_dir or openwakeword_model_dir()) / "embedding_model.onnx")
        prefix = "model/conv2d/StatefulPartitionedCall/StatefulPartitionedCall/Conv2D/ReadVariableOp:0"
        # The graph zero-pads the 32 mel bands to 34 before a valid 3x3 convolution: the same as padding=(0, 1),
        # which also keeps a Pad op (whose opset-18 form has no opset-17 adapter) out of the export.
        self.conv0 = self._conv(weights[prefix], None, padding=(0, 1))
        # The first batch norm follows a ReLU, so tf2onnx could not fuse it; it is kept as a fixed per-channel affine
        # (y = x * scale + shift) so that train() and eval() behave alike when the front-end is fine-tuned.
        bn = "model/batch_normalization/"
        gamma, beta = weights[bn + "ReadVariableOp:0"], weights[bn + "ReadVariableOp_1:0"]
        mean = weights[bn + "FusedBatchNormV3/ReadVariableOp:0"]
        var = weights[bn + "FusedBatchNormV3/ReadVariableOp_1:0"]
        scale = gamma / np.sqrt(var + np.float32(BN_EPSILON))
        self.bn0_scale = nn.Parameter(torch.from_numpy(scale.astype(np.float32)).view(1, -1, 1, 1))
        self.bn0_shift = nn.Parameter(torch.from_numpy((beta - mean * scale).astype(np.float32)).view(1, -1, 1, 1))
        convs = []
        for i in range(1, 19):
            weight = weights[f"model/conv2d_{i}/Conv2D_weights_fused_bn"]
            # Odd convolutions are 1x3 along mel with "same" padding, even ones 3x1 along time with none.
            expected = (1, 3) if i % 2 else (3, 1)
            if weight.shape[2:] != expected:
                raise ValueError(f"embedding_model.onnx conv2d_{i} has kernel {weight.shape[2:]}, expected {expected}")
            convs.append(self._conv(weight, weights[f"model/conv2d_{i}/Conv2D_bias_fused_bn"],
                                    padding=(0, 1) if i % 2 else (0, 0)))
        self.convs = nn.ModuleList(convs)
        self.conv_out = self._conv(weights["model/conv2d_19/Conv2D/ReadVariableOp:0"], None, padding=(0, 0))

    @staticmethod
    def _conv(weight: np.ndarray, bias: np.ndarray | None, padding: tuple[int, int]) -> nn.Conv2d:
        out_ch, in_ch, kh, kw = weight.shape
        conv = nn.Conv2d(in_ch, out_ch, (kh, kw), padding=padding, bias=bias is not None)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(weight))
            if bias is not None:
                assert conv.bias is not None
                conv.bias.copy_(torch.from_numpy(bias))
        return conv

    @staticmethod
    def _activate(x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, LEAKY_SLOPE).clamp_min(ACTIVATION_FLOOR)

    def feature_maps(self, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        """Stage outputs [B, C, T_s, F_s] (time at 2, 2, 4, 4, 8 mel frames per step) and `embedding` [B, 96, T']."""
        x = self._activate(F.relu(self.conv0(mel.unsqueeze(1))) * self.bn0_scale + self.bn0_shift)
        maps: dict[str, torch.Tensor] = {}
        for i, conv in enumerate(self.convs, start=1):
            x = self._activate(conv(x))
            if i in POOLS:
                x = F.max_pool2d(x, POOLS[i])
                maps[STAGES[len(maps)]] = x
        maps["embedding"] = self.conv_out(x).squeeze(3)  # [B, 96, T', 1] -> [B, 96, T']
        return maps

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.feature_maps(mel)["embedding"].transpose(1, 2)


class TapHead(nn.Module):
    """One tap's time sequence [B, D, T] -> attentive mean and standard deviation [B, 2 * width].

    Each tap runs at its own frame rate, so each gets its own pooling instead of being resampled to a common one;
    the attention lets short artefacts weigh more than the average over 4 s would allow.
    """

    def __init__(self, in_dim: int, width: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(in_dim)  # the frozen features' scales differ by tap and by channel
        self.proj = nn.Conv1d(in_dim, width, 1)
        self.temporal = nn.Conv1d(width, width, 3, padding=1)
        self.attention = nn.Sequential(nn.Conv1d(width, width // 2, 1), nn.Tanh(), nn.Conv1d(width // 2, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.gelu(self.proj(self.norm(x)))
        h = h + F.gelu(self.temporal(h))
        weights = torch.softmax(self.attention(h), dim=2)
        mean = (h * weights).sum(dim=2)
        var = (h * h * weights).sum(dim=2) - mean * mean
        return torch.cat([mean, var.clamp_min(1e-6).sqrt()], dim=1)


class OWWDetector(nn.Module):
    """Bona fide vs spoof: waveform [B, N] in [-1, 1] at 16 kHz -> logits [B, 2] (column 1 = spoof).

    The pretrained front-end (mel + speech_embedding run over the whole clip at once) yields time-resolved maps;
    each tap in `taps` is flattened to [B, channels x bands, time] and pooled by its own small head.
    With `freeze_frontend` (the default) the ported weights get no gradients; the STFT and mel matrix never do.
    """

    sample_rate: int  # set by `training.voice.networks.build_network`, the registry's contract
    window_samples: int

    def __init__(self, taps: tuple[str, ...] = ("stage1", "stage2", "stage3", "embedding"), width: int = 64,
                 dropout: float = 0.1, freeze_frontend: bool = True, model_dir: Path | None = None) -> None:
        super().__init__()
        unknown = [tap for tap in taps if tap not in TAPS]
        if unknown or not taps:
            raise ValueError(f"taps must be a non-empty subset of {TAPS}, got {taps}")
        folder = model_dir or openwakeword_model_dir()
        self.taps = tuple(taps)
        self.freeze_frontend = freeze_frontend
        self.mel = OWWMelSpectrogram(folder)
        self.embedding = OWWEmbedding(folder)
        self.embedding.requires_grad_(not freeze_frontend)
        self.heads = nn.ModuleDict({tap: TapHead(TAP_DIMS[tap], width) for tap in self.taps})
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * width * len(self.taps), 2)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        maps = self.embedding.feature_maps(self.mel(waveform))
        pooled = []
        for tap in self.taps:
            x = maps[tap]
            if x.dim() == 4:  # [B, C, T, F] -> [B, C * F, T]: keep every band, pool over time only
                x = x.permute(0, 1, 3, 2).flatten(1, 2)
            pooled.append(self.heads[tap](x))
        return self.classifier(self.dropout(torch.cat(pooled, dim=1)))
