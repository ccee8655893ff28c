import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from training.corpora import builder
from training.corpora.builder import BuildConfig, assign_splits, build
from training.corpora.manifest import ManifestRow, read_manifest, write_manifest


def voiced(seconds: float, rate: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(120 + 30 * rng.random() + 10 * np.sin(2 * np.pi * 0.5 * t)) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 10)) * (0.4 + 0.6 * np.sin(2 * np.pi * 2.5 * t) ** 2)
    silence = np.zeros(int(0.3 * rate))
    return np.concatenate([silence, 0.2 * x, silence]).astype(np.float32)


class ToneEngine:
    """A stand-in synthesiser with the Engine shape, so the plumbing is tested without Debian packages."""

    name = "tone-tts"

    def voices(self, lang: str) -> list[str]:
        return ["low", "high"]

    def synthesize(self, text: str, *, lang: str, voice: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        return voiced(1.0 + len(text) / 100, 22050, seed=len(text) + (voice == "high")), 22050


@pytest.fixture()
def inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    real = tmp_path / "real"
    for source in ("studio_a", "studio_b", "studio_c"):
        for i in range(2):
            (real / source).mkdir(parents=True, exist_ok=True)
            sf.write(real / source / f"{i}.wav", voiced(2.0, 16000, seed=hash(source) % 1000 + i), 16000)
    fakes = tmp_path / "fakes"
    fakes.mkdir()
    rows = []
    for system in ("sysA", "sysB", "sysC"):
        for i in range(2):
            path = fakes / f"{system}_{i}.wav"
            sf.write(path, voiced(2.5, 24000, seed=i + len(system)), 24000)
            rows.append(ManifestRow(path=str(path), label="spoof", system=system, speaker="x", source="demo"))
    narrow = fakes / "phone.wav"
    sf.write(narrow, voiced(2.0, 8000, seed=9), 8000)
    rows.append(ManifestRow(path=str(narrow), label="bonafide", system="bonafide", source="telephone_prompts"))
    manifest = tmp_path / "in.csv"
    write_manifest(rows, manifest)
    monkeypatch.setattr("training.synth.discover_engines", lambda: [ToneEngine()])
    monkeypatch.setattr("training.synth.available_resynthesizers", lambda: ["world"])
    monkeypatch.setattr(builder, "_engine", lambda name: ToneEngine())
    return real, manifest


CONFIG = BuildConfig(tts_per_engine=3, resynth_clips=2, seed=3, crop_s=(1.0, 2.0), min_clip_s=0.5)


def test_build_writes_a_matched_split_corpus(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    real, manifest = inputs
    report = build(tmp_path / "out", CONFIG, manifests=[manifest], bonafide_dirs=[real], progress=False)
    rows = read_manifest(tmp_path / "out" / "manifest.csv")
    assert report["clips"] == {"bonafide": 6, "spoof": 6 + 6 + 2}  # 3 systems x 2, TTS 3 x 2 langs, WORLD 2
    assert report["dropped_narrowband_sources"] == {"telephone_prompts": 1}
    assert set(report["systems"]) == {"sysA", "sysB", "sysC", "tone-tts", "world"}
    assert report["failures"] == {}
    for row in rows:
        info = sf.info(str(tmp_path / "out" / row.path))
        assert info.samplerate == 16000 and info.subtype == "PCM_16" and info.channels == 1
        assert 0.25 <= info.duration <= 2.0 + 1e-3
        assert row.condition == "matched" and row.split in ("train", "dev", "eval")
    # whole systems and whole sources, never single clips, per split
    for key in ("system", "source"):
        groups: dict[str, set[str]] = {}
        for row in rows:
            if (key == "system") == (row.label == "spoof"):
                groups.setdefault(getattr(row, key), set()).add(row.split)
        assert all(len(splits) == 1 for splits in groups.values()), groups
    assert {r.split for r in rows if r.label == "spoof"} == {"train", "dev", "eval"}
    assert {r.language for r in rows if r.system == "tone-tts"} == {"nl", "en"}


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*.flac")):
        h.update(path.relative_to(folder).as_posix().encode())
        h.update(sf.read(path, dtype="int16")[0].tobytes())
    h.update((folder / "manifest.csv").read_bytes())
    return h.hexdigest()


def test_build_is_deterministic_whatever_the_workers(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    real, manifest = inputs
    build(tmp_path / "a", CONFIG, manifests=[manifest], bonafide_dirs=[real], progress=False)
    build(tmp_path / "b", CONFIG, manifests=[manifest], bonafide_dirs=[real], progress=False, workers=2)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    shutil.rmtree(tmp_path / "b")
    other = BuildConfig(**{**CONFIG.__dict__, "seed": 4})
    build(tmp_path / "c", other, manifests=[manifest], bonafide_dirs=[real], progress=False)
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_a_failing_clip_is_reported_not_fatal(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    real, manifest = inputs
    (real / "studio_a" / "broken.wav").write_bytes(b"RIFF nonsense")
    report = build(tmp_path / "out", CONFIG, manifests=[manifest], bonafide_dirs=[real], use_tts=False,
                   use_resynthesis=False, progress=False)
    assert sum(report["failures"].values()) == 1 and "broken" not in str(report["clips"])
    assert report["failure_examples"][0].startswith("file:bonafide")


def test_clips_too_short_after_trimming_are_left_out_and_counted(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    real, manifest = inputs
    sf.write(real / "studio_a" / "short.wav", voiced(0.5, 16000, seed=5), 16000)  # 0.5 s of speech
    config = BuildConfig(**{**CONFIG.__dict__, "min_clip_s": 0.9, "crop_s": (3.0, 4.0)})
    report = build(tmp_path / "out", config, manifests=[manifest], bonafide_dirs=[real], use_tts=False,
                   use_resynthesis=False, progress=False)
    assert report["dropped_too_short"] == {"bonafide": 1} and report["failures"] == {}
    assert report["clips"]["bonafide"] == 6


def test_assign_splits_keeps_given_splits_and_groups_the_rest() -> None:
    rows = [ManifestRow(path=f"{s}{i}", label="spoof", system=s) for s in "abcdefghij" for i in range(3)]
    rows.append(ManifestRow(path="x", label="spoof", system="a", split="eval"))
    out = assign_splits(rows, (0.6, 0.2, 0.2), seed=0)
    assert out[-1].split == "eval"
    by_system: dict[str, set[str]] = {}
    for row in out[:-1]:
        by_system.setdefault(row.system, set()).add(row.split)
    assert all(len(v) == 1 for v in by_system.values())
    counts = [sum(next(iter(v)) == s for v in by_system.values()) for s in ("train", "dev", "eval")]
    assert counts == [6, 2, 2]


def test_assign_splits_balances_clips_not_groups() -> None:
    rows = [ManifestRow(path=f"big{i}", label="bonafide", system="bonafide", source="big") for i in range(50)]
    rows += [ManifestRow(path=f"s{g}_{i}", label="bonafide", system="bonafide", source=f"small{g}")
             for g in range(25) for i in range(2)]
    out = assign_splits(rows, (0.6, 0.2, 0.2), seed=1)
    share = {s: sum(r.split == s for r in out) / len(out) for s in ("train", "dev", "eval")}
    assert share["train"] == pytest.approx(0.6, abs=0.05) and share["dev"] == pytest.approx(0.2, abs=0.05)
    assert {r.split for r in out if r.source == "big"} == {"train"}
