"""A small MelGAN-class vocoder: mel spectrogram in, waveform out.

Sized so that it trains on a 2-core CPU in about an hour and much faster on a GPU: about 1M generator
parameters, three upsampling stages (8 x 8 x 4 = the 256-sample hop) with dilated residual stacks, and
MelGAN's multi-scale discriminator. Its copies of real speech are spoof training data (Wang and Yamagishi,
ICASSP 2023): same speaker, words and channel, only the vocoder differs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torchaudio
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


@dataclass(frozen=True)
class VocoderConfig:
    sample_rate: int = 16_000
    n_fft: int = 1024
    hop: int = 256
    n_mels: int = 80
    f_min: float = 0.0
    f_max: float = 8000.0
    channels: int = 256
    upsample: tuple[int, ...] = (8, 8, 4)
    res_dilations: tuple[int, ...] = (1, 3, 9)

    def __post_init__(self) -> None:
        product = 1
        for factor in self.upsample:
            product *= factor
        if product != self.hop:
            raise ValueError(f"upsample factors multiply to {product}, the hop is {self.hop}")


class LogMel(nn.Module):
    """Log-mel features of the vocoder; also the yardstick for its copies (mel distance)."""

    def __init__(self, config: VocoderConfig) -> None:
        super().__init__()
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=config.sample_rate, n_fft=config.n_fft, hop_length=config.hop, n_mels=config.n_mels,
            f_min=config.f_min, f_max=config.f_max, power=1.0, center=True,
        )

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return torch.log(torch.clamp(self.mel(wave), min=1e-5))


class _ResStack(nn.Module):
    def __init__(self, channels: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.LeakyReLU(0.2),
                weight_norm(nn.Conv1d(channels, channels, 3, dilation=d, padding=d)),
                nn.LeakyReLU(0.2),
                weight_norm(nn.Conv1d(channels, channels, 1)),
            )
            for d in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = x + block(x)
        return x


class Generator(nn.Module):
    def __init__(self, config: VocoderConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = [weight_norm(nn.Conv1d(config.n_mels, config.channels, 7, padding=3))]
        channels = config.channels
        for factor in config.upsample:
            out = channels // 2
            layers += [
                nn.LeakyReLU(0.2),
                weight_norm(nn.ConvTranspose1d(channels, out, 2 * factor, stride=factor,
                                               padding=factor // 2 + factor % 2, output_padding=factor % 2)),
                _ResStack(out, config.res_dilations),
            ]
            channels = out
        layers += [nn.LeakyReLU(0.2), weight_norm(nn.Conv1d(channels, 1, 7, padding=3)), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """[batch, n_mels, frames] -> [batch, frames * hop]."""
        return self.net(mel).squeeze(1)


class _ScaleDiscriminator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([
            weight_norm(nn.Conv1d(1, 16, 15, padding=7)),
            weight_norm(nn.Conv1d(16, 64, 41, stride=4, groups=4, padding=20)),
            weight_norm(nn.Conv1d(64, 256, 41, stride=4, groups=16, padding=20)),
            weight_norm(nn.Conv1d(256, 256, 41, stride=4, groups=64, padding=20)),
            weight_norm(nn.Conv1d(256, 256, 5, padding=2)),
        ])
        self.out = weight_norm(nn.Conv1d(256, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = []
        for layer in self.layers:
            x = nn.functional.leaky_relu(layer(x), 0.2)
            features.append(x)
        return self.out(x), features


class MultiScaleDiscriminator(nn.Module):
    """MelGAN's three discriminators on the waveform at 1x, 1/2x and 1/4x rate."""

    def __init__(self) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(_ScaleDiscriminator() for _ in range(3))
        self.pool = nn.AvgPool1d(4, stride=2, padding=1, count_include_pad=False)

    def forward(self, wave: torch.Tensor) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        x = wave.unsqueeze(1)
        results = []
        for i, disc in enumerate(self.discriminators):
            if i:
                x = self.pool(x)
            results.append(disc(x))
        return results


class MultiResolutionSTFTLoss(nn.Module):
    """Spectral convergence + log-magnitude distance at three resolutions (Parallel WaveGAN)."""

    def __init__(self, resolutions: tuple[tuple[int, int], ...] = ((512, 128), (1024, 256), (256, 64))) -> None:
        super().__init__()
        self.resolutions = resolutions
        for n_fft, _ in resolutions:
            self.register_buffer(f"window_{n_fft}", torch.hann_window(n_fft), persistent=False)

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        loss = fake.new_zeros(())
        for n_fft, hop in self.resolutions:
            window = getattr(self, f"window_{n_fft}")
            f = torch.stft(fake, n_fft, hop, window=window, return_complex=True).abs().clamp(min=1e-7)
            r = torch.stft(real, n_fft, hop, window=window, return_complex=True).abs().clamp(min=1e-7)
            convergence = torch.linalg.norm(r - f) / torch.linalg.norm(r).clamp(min=1e-7)
            loss = loss + convergence + nn.functional.l1_loss(torch.log(f), torch.log(r))
        return loss / len(self.resolutions)
