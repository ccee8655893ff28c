from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")

from training.corpora.manifest import ManifestRow, read_manifest, write_manifest  # noqa: E402
from training.vocoder import run_vocode  # noqa: E402
from training.vocoder.model import Generator, LogMel, VocoderConfig  # noqa: E402
from training.vocoder.train import TrainConfig, load_generator, train  # noqa: E402

TINY = VocoderConfig(channels=32)


def voiced(seconds: float, rate: int = 16000, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    pitch = f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    return (0.2 * x + 0.003 * rng.standard_normal(t.size)).astype(np.float32)


def test_generator_turns_mel_frames_into_hop_samples() -> None:
    gen, logmel = Generator(TINY), LogMel(TINY)
    mel = logmel(torch.from_numpy(voiced(0.5)).unsqueeze(0))
    assert mel.shape[1] == 80
    assert gen(mel).shape == (1, mel.shape[2] * 256)
    with pytest.raises(ValueError, match="multiply to"):
        VocoderConfig(upsample=(8, 8, 2))


def test_training_reduces_reconstruction_loss_and_resumes(tmp_path: Path) -> None:
    clips = [voiced(1.0, seed=i, f0=110 + 20 * i) for i in range(4)]
    config = TrainConfig(steps=25, batch_size=2, segment=4096, adversarial_from=20, checkpoint_every=10, vocoder=TINY)
    first = train(clips, tmp_path, TrainConfig(**{**config.__dict__, "steps": 2}), device=torch.device("cpu"),
                  progress=False)
    later = train(clips, tmp_path, config, device=torch.device("cpu"), progress=False)
    assert first["step"] == 2 and later["step"] == 25  # resumed, not restarted
    assert later["stft"] < first["stft"]
    assert "adv" in later and "d" in later  # the discriminator joined at step 20
    generator, vcfg, step = load_generator(tmp_path, torch.device("cpu"))
    assert step == 25 and vcfg == TINY


def test_run_vocode_writes_copies_and_a_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = []
    for i in range(3):
        path = tmp_path / "real" / f"r{i}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, voiced(0.8, rate=22050, seed=i), 22050)
        rows.append(ManifestRow(path=str(path), label="bonafide", system="bonafide", speaker=f"s{i}",
                                language="en", split="train", source="unit"))
    rows.append(ManifestRow(path=str(tmp_path / "fake.wav"), label="spoof", system="x"))  # not copied, not read
    manifest = tmp_path / "m.csv"
    write_manifest(rows, manifest)
    config = TrainConfig(steps=3, batch_size=2, segment=4096, vocoder=TINY)
    summary = run_vocode(manifest, tmp_path / "voc", config, device="cpu", progress=False)
    copies = read_manifest(tmp_path / "voc" / "vocoded.csv")
    assert summary["system"] == "melgan-s3" and summary["copies"] == 3 and summary["mel_distance_mean"] > 0
    sources = read_manifest(tmp_path / "voc" / "sources.csv")
    assert [Path(s.path).name for s in sources] == ["r0.wav", "r1.wav", "r2.wav"]
    assert [c.speaker for c in copies] == ["s0", "s1", "s2"]
    assert all(c.label == "spoof" and c.system == "melgan-s3" and c.split == "train" for c in copies)
    audio, rate = sf.read(copies[0].path)
    assert rate == 16000 and abs(audio.size - int(0.8 * 16000)) <= 1
