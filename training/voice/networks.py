"""Voice anti-spoofing networks: waveform `[B, N]` float in, logits `[B, 2]` out (index 1 = spoof).

Each network carries its own feature front-end (`training.voice.frontend`), so the exported ONNX graph takes
the raw window the service cuts and nothing about features can drift between training and serving. Every op is
chosen to export to ONNX with a dynamic batch and a fixed window: no data-dependent shapes, graph pooling with a
top-k whose k is fixed from the window length at construction.

- `lcnn`: LFCC into a Light CNN with Max-Feature-Map activations, the ASVspoof 2021 LFCC-LCNN baseline (Wang
  and Yamagishi, 2021), with attentive statistics pooling over time in place of its BiLSTM (simpler to export,
  still weighs local evidence).
- `aasist_l`: AASIST-L (Jung et al., ICASSP 2022): mel-spaced sinc filters on the raw waveform, a residual
  encoder on the filter x time map, spectral and temporal graph attention, heterogeneous stacking graph
  attention with a master node.
- `specresnet`: log power spectrogram at full FFT resolution into a small 2-D ResNet with pooling that keeps
  the frequency axis; the cheap candidate for a default.

Each network's fixed front-end is its submodule `frontend`, so its ONNX nodes are named `/frontend/...`. Int8
quantisation and fp16 conversion should leave those nodes in fp32: a waveform at 8 bits loses ~50 dB of dynamic
range, and STFT power spans more than fp16 can hold.

Sizes follow the sample rate: analysis windows are set in milliseconds (LFCC 20 ms / 10 ms hop), sinc filters
in their 16 kHz length scaled to the rate, and FFT sizes are the next power of two. At 8 kHz this gives the
same number of frames per window and half the FFT bins.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from training.voice.frontend import LFCC, LogPowerSpectrogram, SincFilterbank

__all__ = ["AASISTL", "NETWORKS", "LFCCLCNN", "SpecResNet", "build_network"]


def _analysis_sizes(sample_rate: int, window_ms: float, hop_ms: float) -> tuple[int, int, int]:
    """(n_fft, win_length, hop_length) for a window and hop in milliseconds; n_fft the next power of two."""
    win = round(sample_rate * window_ms / 1000)
    hop = round(sample_rate * hop_ms / 1000)
    return 1 << (win - 1).bit_length(), win, hop


class AttentiveStatsPool(nn.Module):
    """Attention-weighted mean and standard deviation over time, `[B, C, T] -> [B, 2C]` (Okabe et al., 2018).

    Chosen over plain averaging because spoofing evidence is often local (a few glitchy frames); the attention
    can weigh those frames up, and the standard deviation keeps how much the features vary.
    """

    def __init__(self, channels: int, bottleneck: int = 64) -> None:
        super().__init__()
        self.attention = nn.Sequential(nn.Conv1d(channels, bottleneck, 1), nn.Tanh(),
                                       nn.Conv1d(bottleneck, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.attention(x), dim=-1)
        mean = (weights * x).sum(dim=-1)
        variance = (weights * x * x).sum(dim=-1) - mean * mean
        return torch.cat([mean, torch.sqrt(variance.clamp(min=1e-5))], dim=1)


# --------------------------------------------------------------------------------------------------- LFCC-LCNN


class MaxFeatureMap(nn.Module):
    """Max-Feature-Map: the elementwise max of the two channel halves, the Light CNN activation.

    The half is a constant rather than `chunk`, so the exported graph keeps a known channel count.
    """

    def __init__(self, out_channels: int) -> None:
        super().__init__()
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.maximum(x[:, : self.out_channels], x[:, self.out_channels :])


def _mfm_conv(in_channels: int, out_channels: int, kernel: int) -> list[nn.Module]:
    """A conv producing 2 x `out_channels` followed by MFM, which halves it back to `out_channels`."""
    return [nn.Conv2d(in_channels, 2 * out_channels, kernel, padding=kernel // 2), MaxFeatureMap(out_channels)]


class LFCCLCNN(nn.Module):
    """LFCC (20 coefficients + deltas + delta-deltas, 20 ms / 10 ms) into the ASVspoof 2021 baseline's LCNN stack.

    The conv/MFM/max-pool/batch-norm stack is the baseline's layer for layer (channels 32-48-64-32 after MFM,
    affine-free batch norm); the baseline's BiLSTM and average pooling are replaced by attentive statistics
    pooling over the time axis of the flattened (channel x frequency) map.
    """

    def __init__(self, *, sample_rate: int, window_samples: int, n_coeffs: int = 20, n_filters: int = 20,
                 n_deltas: int = 2, window_ms: float = 20.0, hop_ms: float = 10.0, dropout: float = 0.7,
                 mean_norm: bool = True) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.window_samples = window_samples
        n_fft, win, hop = _analysis_sizes(sample_rate, window_ms, hop_ms)
        self.frontend = LFCC(sample_rate, n_fft=n_fft, win_length=win, hop_length=hop, n_filters=n_filters,
                             n_coeffs=n_coeffs, n_deltas=n_deltas, mean_norm=mean_norm)
        n_features, n_frames = self.frontend.n_features, self.frontend.stft.frames(window_samples)
        if n_features < 16 or n_frames < 16:
            raise ValueError(f"LCNN pools by 16 on both axes; got {n_features} features x {n_frames} frames")
        self.body = nn.Sequential(
            *_mfm_conv(1, 32, 5), nn.MaxPool2d(2),
            *_mfm_conv(32, 32, 1), nn.BatchNorm2d(32, affine=False),
            *_mfm_conv(32, 48, 3), nn.MaxPool2d(2), nn.BatchNorm2d(48, affine=False),
            *_mfm_conv(48, 48, 1), nn.BatchNorm2d(48, affine=False),
            *_mfm_conv(48, 64, 3), nn.MaxPool2d(2),
            *_mfm_conv(64, 64, 1), nn.BatchNorm2d(64, affine=False),
            *_mfm_conv(64, 32, 3), nn.BatchNorm2d(32, affine=False),
            *_mfm_conv(32, 32, 1), nn.BatchNorm2d(32, affine=False),
            *_mfm_conv(32, 32, 3), nn.MaxPool2d(2),
            nn.Dropout(dropout),
        )
        pooled = 32 * (n_features // 16)
        self.pool = AttentiveStatsPool(pooled)
        self.head = nn.Linear(2 * pooled, 2)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        features = self.frontend(waveform).unsqueeze(1)  # [B, 1, F, T]
        x = self.body(features)  # [B, 32, F/16, T/16]
        return self.head(self.pool(x.flatten(1, 2)))


# --------------------------------------------------------------------------------------------------- SpecResNet


class _BasicBlock(nn.Module):
    """ResNet basic block (two 3x3 convs, batch norm, ReLU) with a 1x1 projection when the shape changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class SpecResNet(nn.Module):
    """Log power spectrogram (every FFT bin, 32 ms window at 16 kHz) into a small 2-D ResNet.

    The stem runs at full time-frequency resolution so narrow-band artefacts (vocoder harmonics, aliasing,
    phase-related smearing) are seen before any downsampling; each block then halves both axes. Pooling is
    frequency-aware: the channel x frequency map is flattened before attentive statistics pooling over time, so
    the classifier knows *which band* the evidence came from instead of averaging bands away.
    """

    def __init__(self, *, sample_rate: int, window_samples: int, channels: tuple[int, ...] = (16, 24, 32, 48, 64),
                 reduced_channels: int = 16, window_ms: float = 32.0, hop_ms: float = 10.0, dropout: float = 0.5,
                 mean_norm: bool = True) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.window_samples = window_samples
        n_fft, win, hop = _analysis_sizes(sample_rate, window_ms, hop_ms)
        self.frontend = LogPowerSpectrogram(n_fft=n_fft, win_length=win, hop_length=hop, mean_norm=mean_norm)
        self.stem = nn.Sequential(nn.Conv2d(1, channels[0], 3, padding=1, bias=False), nn.BatchNorm2d(channels[0]),
                                  nn.ReLU())
        self.blocks = nn.Sequential(*(_BasicBlock(a, b, stride=2)
                                      for a, b in zip(channels, channels[1:], strict=False)))
        self.reduce = nn.Sequential(nn.Conv2d(channels[-1], reduced_channels, 1, bias=False),
                                    nn.BatchNorm2d(reduced_channels), nn.ReLU())
        bins = self.frontend.n_features
        for _ in channels[1:]:
            bins = (bins - 1) // 2 + 1  # a 3x3 conv, stride 2, padding 1
        pooled = reduced_channels * bins
        self.pool = AttentiveStatsPool(pooled)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * pooled, 2)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        x = self.stem(self.frontend(waveform).unsqueeze(1))
        x = self.reduce(self.blocks(x))  # [B, C, F', T']
        return self.head(self.dropout(self.pool(x.flatten(1, 2))))


# ----------------------------------------------------------------------------------------------------- AASIST-L


class _ResidualBlock2d(nn.Module):
    """AASIST's encoder block: pre-activation (BN, SELU) 2x3 convs, projected identity, max-pool 1x3 over time.

    The reference code computes `conv1(x)` and so discards its own pre-activation; here the pre-activation is
    applied as the paper describes. Parameter count is the same.
    """

    def __init__(self, in_channels: int, out_channels: int, *, first: bool) -> None:
        super().__init__()
        self.pre: nn.Module = nn.Identity() if first else nn.Sequential(nn.BatchNorm2d(in_channels), nn.SELU())
        self.conv1 = nn.Conv2d(in_channels, out_channels, (2, 3), padding=(1, 1))
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, (2, 3), padding=(0, 1))
        self.shortcut: nn.Module = nn.Identity()
        if in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, (1, 3), padding=(0, 1))
        self.pool = nn.MaxPool2d((1, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.pre(x))
        out = self.conv2(F.selu(self.bn2(out)))
        return self.pool(out + self.shortcut(x))


def _pairwise(x: torch.Tensor) -> torch.Tensor:
    """`[B, N, D] -> [B, N, N, D]` with entry (i, j) = x_i * x_j: the input to the attention scores."""
    return x.unsqueeze(2) * x.unsqueeze(1)


def _batch_norm_nodes(bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    """Batch norm over (batch, node) of `[B, N, D]` node features, without a reshape that involves the batch."""
    return bn(x.transpose(1, 2)).transpose(1, 2)


class GraphAttention(nn.Module):
    """AASIST's graph attention layer on a fully connected graph `[B, N, in] -> [B, N, out]`."""

    def __init__(self, in_dim: int, out_dim: int, temperature: float) -> None:
        super().__init__()
        self.input_drop = nn.Dropout(0.2)
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_weight = nn.Parameter(nn.init.xavier_normal_(torch.empty(out_dim, 1)))
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.temperature = temperature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_drop(x)
        scores = torch.matmul(torch.tanh(self.att_proj(_pairwise(x))), self.att_weight).squeeze(-1)  # [B, N, N]
        attention = torch.softmax(scores / self.temperature, dim=-1)  # over neighbours j of node i
        x = self.proj_with_att(torch.matmul(attention, x)) + self.proj_without_att(x)
        return F.selu(_batch_norm_nodes(self.bn, x))


class HeterogeneousGraphAttention(nn.Module):
    """AASIST's heterogeneous stacking graph attention: two node types (temporal, spectral) plus a master node.

    Attention scores use a separate weight vector for type1-type1, type2-type2 and cross-type pairs; the master
    node attends to all nodes. The score blocks are assembled with concatenation rather than the reference's
    in-place slice assignment, which exports to ONNX cleanly.
    """

    def __init__(self, in_dim: int, out_dim: int, temperature: float) -> None:
        super().__init__()
        self.proj_type1 = nn.Linear(in_dim, in_dim)
        self.proj_type2 = nn.Linear(in_dim, in_dim)
        self.input_drop = nn.Dropout(0.2)
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_proj_master = nn.Linear(in_dim, out_dim)
        self.att_weight11 = nn.Parameter(nn.init.xavier_normal_(torch.empty(out_dim, 1)))
        self.att_weight22 = nn.Parameter(nn.init.xavier_normal_(torch.empty(out_dim, 1)))
        self.att_weight12 = nn.Parameter(nn.init.xavier_normal_(torch.empty(out_dim, 1)))
        self.att_weight_master = nn.Parameter(nn.init.xavier_normal_(torch.empty(out_dim, 1)))
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.proj_with_att_master = nn.Linear(in_dim, out_dim)
        self.proj_without_att_master = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.temperature = temperature

    def forward(self, x1: torch.Tensor, x2: torch.Tensor,
                master: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n1 = x1.shape[1]
        x = torch.cat([self.proj_type1(x1), self.proj_type2(x2)], dim=1)
        x = self.input_drop(x)

        # master node: attends to every node
        master_scores = torch.matmul(torch.tanh(self.att_proj_master(x * master)), self.att_weight_master)
        master_attention = torch.softmax(master_scores / self.temperature, dim=1).transpose(1, 2)  # [B, 1, N]
        master = self.proj_with_att_master(torch.matmul(master_attention, x)) + self.proj_without_att_master(master)

        # node attention with type-dependent score weights
        hidden = torch.tanh(self.att_proj(_pairwise(x)))  # [B, N, N, out]
        s11 = torch.matmul(hidden[:, :n1, :n1], self.att_weight11)
        s12 = torch.matmul(hidden[:, :n1, n1:], self.att_weight12)
        s21 = torch.matmul(hidden[:, n1:, :n1], self.att_weight12)
        s22 = torch.matmul(hidden[:, n1:, n1:], self.att_weight22)
        scores = torch.cat([torch.cat([s11, s12], dim=2), torch.cat([s21, s22], dim=2)], dim=1).squeeze(-1)
        attention = torch.softmax(scores / self.temperature, dim=-1)
        x = self.proj_with_att(torch.matmul(attention, x)) + self.proj_without_att(x)
        x = F.selu(_batch_norm_nodes(self.bn, x))
        return x[:, :n1], x[:, n1:], master


class GraphPool(nn.Module):
    """Keep the `k` highest-scoring nodes (scaled by their sigmoid score, which carries the gradient).

    `k` is fixed at construction from the node count the fixed window produces: ONNX gets a constant TopK.
    """

    def __init__(self, in_dim: int, n_nodes: int, ratio: float, dropout: float = 0.3) -> None:
        super().__init__()
        self.k = max(int(n_nodes * ratio), 1)
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Linear(in_dim, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        scores = torch.sigmoid(self.proj(self.drop(h)))  # [B, N, 1]
        _, index = torch.topk(scores, self.k, dim=1)
        return torch.gather(h * scores, 1, index.expand(-1, -1, h.shape[2]))


class AASISTL(nn.Module):
    """AASIST-L (Jung et al., "AASIST: Audio anti-spoofing using integrated spectro-temporal graph attention
    networks", ICASSP 2022), the light configuration: 70 sinc filters, encoder channels 32-32-24-24-24-24,
    graph dims 24 and 32, pool ratios 0.4 / 0.5 / 0.7, temperatures 2 / 2 / 100. Written from the paper and the
    published configuration; ~85k parameters.

    The sinc filter length (129 taps at 16 kHz) scales with the rate, so a filter spans the same 8 ms at 8 kHz.
    """

    def __init__(self, *, sample_rate: int, window_samples: int, n_filters: int = 70, sinc_ms: float = 8.0,
                 encoder: tuple[int, ...] = (32, 32, 24, 24, 24, 24), gat_dims: tuple[int, int] = (24, 32),
                 pool_ratios: tuple[float, float, float] = (0.4, 0.5, 0.7),
                 temperatures: tuple[float, float, float] = (2.0, 2.0, 100.0)) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.window_samples = window_samples
        kernel = round(sample_rate * sinc_ms / 1000) | 1  # odd, symmetric around its centre
        self.frontend = SincFilterbank(sample_rate, n_filters=n_filters, kernel_size=kernel)
        self.first_bn = nn.BatchNorm2d(1)
        channels = (1, *encoder)
        self.encoder = nn.Sequential(*(_ResidualBlock2d(a, b, first=i == 0)
                                       for i, (a, b) in enumerate(zip(channels, channels[1:], strict=False))))

        # node counts: max-pool 3x3 after the sinc conv, then each encoder block pools time by 3
        n_spectral = n_filters // 3
        n_temporal = (window_samples - kernel + 1) // 3
        for _ in encoder:
            n_temporal //= 3
        if n_temporal < 2 or n_spectral < 2:
            raise ValueError(f"a window of {window_samples} samples leaves {n_temporal} temporal and {n_spectral} "
                             "spectral graph nodes; AASIST-L needs at least 2 of each")
        self.n_nodes = (n_spectral, n_temporal)

        dim_in, (dim0, dim1) = encoder[-1], gat_dims
        self.pos_spectral = nn.Parameter(torch.randn(1, n_spectral, dim_in))
        self.master1 = nn.Parameter(torch.randn(1, 1, dim0))
        self.master2 = nn.Parameter(torch.randn(1, 1, dim0))
        self.gat_spectral = GraphAttention(dim_in, dim0, temperatures[0])
        self.gat_temporal = GraphAttention(dim_in, dim0, temperatures[1])
        self.pool_spectral = GraphPool(dim0, n_spectral, pool_ratios[0])
        self.pool_temporal = GraphPool(dim0, n_temporal, pool_ratios[1])
        k_spectral, k_temporal = self.pool_spectral.k, self.pool_temporal.k
        self.htrg11 = HeterogeneousGraphAttention(dim0, dim1, temperatures[2])
        self.htrg12 = HeterogeneousGraphAttention(dim1, dim1, temperatures[2])
        self.htrg21 = HeterogeneousGraphAttention(dim0, dim1, temperatures[2])
        self.htrg22 = HeterogeneousGraphAttention(dim1, dim1, temperatures[2])
        self.pool_spectral1 = GraphPool(dim1, k_spectral, pool_ratios[2])
        self.pool_temporal1 = GraphPool(dim1, k_temporal, pool_ratios[2])
        self.pool_spectral2 = GraphPool(dim1, k_spectral, pool_ratios[2])
        self.pool_temporal2 = GraphPool(dim1, k_temporal, pool_ratios[2])
        self.drop_way = nn.Dropout(0.2)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(5 * dim1, 2)

    def _branch(self, first: HeterogeneousGraphAttention, second: HeterogeneousGraphAttention,
                pool_temporal: GraphPool, pool_spectral: GraphPool, temporal: torch.Tensor, spectral: torch.Tensor,
                master: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One of AASIST's two parallel inference paths: HS-GAL, graph pooling, a second HS-GAL added on."""
        temporal, spectral, master = first(temporal, spectral, master)
        temporal, spectral = pool_temporal(temporal), pool_spectral(spectral)
        temporal_aug, spectral_aug, master_aug = second(temporal, spectral, master)
        return (self.drop_way(temporal + temporal_aug), self.drop_way(spectral + spectral_aug),
                self.drop_way(master + master_aug))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        x = self.frontend(waveform)  # [B, filters, time]
        x = F.max_pool2d(torch.abs(x).unsqueeze(1), (3, 3))  # [B, 1, filters/3, time/3]
        x = F.selu(self.first_bn(x))
        e = self.encoder(x)  # [B, C, spectral nodes, temporal nodes]

        spectral = e.abs().amax(dim=3).transpose(1, 2) + self.pos_spectral  # [B, Ns, C]
        spectral = self.pool_spectral(self.gat_spectral(spectral))
        temporal = e.abs().amax(dim=2).transpose(1, 2)  # [B, Nt, C]
        temporal = self.pool_temporal(self.gat_temporal(temporal))

        batch = waveform.shape[0]
        t1, s1, m1 = self._branch(self.htrg11, self.htrg12, self.pool_temporal1, self.pool_spectral1, temporal,
                                  spectral, self.master1.expand(batch, -1, -1))
        t2, s2, m2 = self._branch(self.htrg21, self.htrg22, self.pool_temporal2, self.pool_spectral2, temporal,
                                  spectral, self.master2.expand(batch, -1, -1))
        temporal, spectral, master = torch.maximum(t1, t2), torch.maximum(s1, s2), torch.maximum(m1, m2)
        readout = torch.cat([temporal.abs().amax(dim=1), temporal.mean(dim=1), spectral.abs().amax(dim=1),
                             spectral.mean(dim=1), master.squeeze(1)], dim=1)
        return self.head(self.drop(readout))


# ----------------------------------------------------------------------------------------------------- registry

def _oww_detector(*, sample_rate: int, window_samples: int, **options: object) -> nn.Module:
    """The openwakeword speech-embedding front-end: 16 kHz only, any window of at least its 76-frame context."""
    from training.voice.oww import SAMPLE_RATE, OWWDetector

    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"the oww network runs at {SAMPLE_RATE} Hz only, not {sample_rate}")
    model = OWWDetector(**options)  # type: ignore[arg-type]
    model.sample_rate, model.window_samples = sample_rate, window_samples  # the registry's contract
    return model


NETWORKS: dict[str, Callable[..., nn.Module]] = {
    "lcnn": LFCCLCNN,
    "aasist_l": AASISTL,
    "specresnet": SpecResNet,
    "oww": _oww_detector,
}


def build_network(name: str, *, sample_rate: int, window_samples: int, **options: object) -> nn.Module:
    """The network `name` for a fixed window; `options` are its constructor's keyword arguments.

    Options arrive from YAML configs and checkpoints as lists; tuples are what the constructors take.
    """
    try:
        factory = NETWORKS[name]
    except KeyError:
        raise ValueError(f"unknown network {name!r}; known: {sorted(NETWORKS)}") from None
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    return factory(sample_rate=sample_rate, window_samples=window_samples, **options)
