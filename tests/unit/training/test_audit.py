"""The shortcut audit on corpora written here: one with planted channel shortcuts, one matched.

The "speech" is AM-modulated harmonic tones with a random pitch: nothing a cue should tell apart by itself,
so every separation the audit finds comes from the processing each test applies on purpose.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from training.audit import CUES, FLAG_BELOW_EER, AuditReport, CueResult, audit, cv_folds, extract_cues, run_audit
from training.corpora.manifest import ManifestRow, write_manifest

RATE = 16000
SHORTCUTS = {"bandwidth_hz", "hf_energy_ratio", "original_sample_rate", "noise_floor_dbfs", "leading_silence_s"}


def speech(rng: np.random.Generator, seconds: float, *, random_phase: bool = False) -> np.ndarray:
    """Harmonics of a random pitch at 1/k amplitude up to 7.2 kHz, modulated at a syllable rate."""
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = rng.uniform(90.0, 220.0)
    k = np.arange(1, int(7200 / f0) + 1)
    phase = rng.uniform(0, 2 * np.pi, k.size) if random_phase else np.zeros(k.size)
    # One period tabulated finely, then read at f0 * t: a sum over ~60 harmonics per sample is slow.
    grid = np.linspace(0.0, 1.0, 4097)
    period = (np.sin(2 * np.pi * grid[:, None] * k + phase) / k).sum(axis=1)
    voiced = np.interp((f0 * t) % 1.0, grid, period)
    envelope = 0.5 * (1 - np.cos(2 * np.pi * rng.uniform(3.0, 5.0) * t)) ** 1.5
    x = voiced * envelope
    return x / np.abs(x).max() * rng.uniform(0.3, 0.7)


def with_silence(x: np.ndarray, lead_s: float, trail_s: float, rate: int = RATE) -> np.ndarray:
    return np.concatenate([np.zeros(int(lead_s * rate)), x, np.zeros(int(trail_s * rate))])


def write(path: Path, x: np.ndarray, rate: int) -> str:
    sf.write(path, np.clip(x, -1, 1), rate, subtype="PCM_16")
    return path.name


def planted_corpus(root: Path, n: int = 20) -> list[ManifestRow]:
    """Bona fide: 8 kHz telephone-like with a -50 dBFS noise floor. Spoof: 16 kHz, clean, long lead-in."""
    rng = np.random.default_rng(1)
    rows = []
    for i in range(n):
        x = speech(rng, rng.uniform(1.2, 1.8))
        narrow = soxr.resample(with_silence(x, rng.uniform(0.05, 0.15), 0.1), RATE, 8000)
        narrow = narrow + rng.normal(0, 10 ** (-50 / 20), narrow.size)
        name = write(root / f"bona_{i}.wav", narrow, 8000)
        rows.append(ManifestRow(name, "bonafide", "human", speaker=f"h{i % 5}", source=f"phone{i % 2}"))
    for i in range(n):
        x = with_silence(speech(rng, rng.uniform(1.2, 1.8)), rng.uniform(0.6, 0.9), 0.1)
        name = write(root / f"spoof_{i}.wav", x, RATE)
        rows.append(ManifestRow(name, "spoof", f"tts{i % 3}", speaker=f"h{i % 5}", source=f"tts{i % 2}"))
    return rows


def matched_corpus(root: Path, n: int = 40) -> list[ManifestRow]:
    """Same generator, levels, silences, noise and rate for both classes; only harmonic phases differ."""
    rng = np.random.default_rng(2)
    rows = []
    for label in ("bonafide", "spoof"):
        for i in range(n):
            x = speech(rng, rng.uniform(1.2, 1.8), random_phase=label == "spoof")
            x = with_silence(x, rng.uniform(0.1, 0.4), rng.uniform(0.1, 0.4))
            x = x + rng.normal(0, 10 ** (-55 / 20), x.size)
            name = write(root / f"{label}_{i}.wav", x, RATE)
            rows.append(ManifestRow(name, label, "human" if label == "bonafide" else "tts", speaker=f"s{i % 8}"))
    return rows


def tone(freq: float, seconds: float, amplitude: float, rate: int = RATE) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)


def by_cue(report: AuditReport) -> dict[str, CueResult]:
    return {r.cue: r for r in report.rows}


# --- extract_cues on known signals ------------------------------------------------------------------------------


def test_tone_level_and_bandwidth() -> None:
    cues = extract_cues(tone(1000, 2.0, 0.5).astype(np.float32), RATE)
    assert set(cues) == set(CUES)
    assert cues["peak_dbfs"] == pytest.approx(-6.02, abs=0.05)
    assert cues["loudness_dbfs"] == pytest.approx(-9.03, abs=0.1)  # RMS of a sine is its peak / sqrt 2
    assert 950 <= cues["bandwidth_hz"] <= 1100
    assert cues["hf_energy_ratio"] < 1e-6
    assert cues["duration_s"] == pytest.approx(2.0)
    assert cues["original_sample_rate"] == RATE
    assert cues["leading_silence_s"] == cues["trailing_silence_s"] == 0.0
    assert cues["clipping_fraction"] == 0.0


def test_silences_are_timed_even_over_a_noise_floor() -> None:
    rng = np.random.default_rng(0)
    x = with_silence(tone(300, 1.0, 0.3), 0.5, 0.25)
    for floor in (0.0, 10 ** (-60 / 20)):
        cues = extract_cues((x + rng.normal(0, floor, x.size)).astype(np.float32), RATE)
        assert cues["leading_silence_s"] == pytest.approx(0.5, abs=0.011)
        assert cues["trailing_silence_s"] == pytest.approx(0.25, abs=0.011)
        assert cues["loudness_dbfs"] == pytest.approx(20 * np.log10(0.3 / np.sqrt(2)), abs=0.2)
    assert extract_cues(x.astype(np.float32), RATE)["noise_floor_dbfs"] == -120.0


def test_dc_offset_is_its_own_cue_and_leaves_the_bandwidth_alone() -> None:
    cues = extract_cues((tone(1000, 1.0, 0.3) + 0.1).astype(np.float32), RATE)
    assert cues["dc_offset"] == pytest.approx(0.1, abs=1e-3)
    assert 950 <= cues["bandwidth_hz"] <= 1100
    assert cues["loudness_dbfs"] == pytest.approx(20 * np.log10(0.3 / np.sqrt(2)), abs=0.1)


def test_clipping_fraction() -> None:
    x = np.full(1000, 0.2)
    x[:50], x[50:100] = 1.0, -1.0
    assert extract_cues(x.astype(np.float32), RATE)["clipping_fraction"] == pytest.approx(0.1)
    hard = np.clip(tone(440, 1.0, 2.0), -1, 1)
    assert extract_cues(hard.astype(np.float32), RATE)["clipping_fraction"] == pytest.approx(
        np.mean(np.abs(hard) >= 0.999), abs=1e-6
    )


def test_high_frequency_energy_only_counts_what_the_rate_can_hold() -> None:
    assert extract_cues(tone(6000, 1.0, 0.5).astype(np.float32), RATE)["hf_energy_ratio"] > 0.99
    assert extract_cues(tone(3000, 1.0, 0.5, 8000).astype(np.float32), 8000)["hf_energy_ratio"] == 0.0


def test_bit_depth_proxy_tells_16_bit_from_float_sources() -> None:
    noise = np.random.default_rng(0).normal(0, 0.1, 16000)
    quantised = np.round(noise * 32768) / 32768
    assert extract_cues(quantised.astype(np.float32), RATE)["bit_depth_proxy"] == 1.0
    assert extract_cues(noise.astype(np.float32), RATE)["bit_depth_proxy"] < 0.01


def test_degenerate_clips_give_finite_cues() -> None:
    for x in (np.zeros(100), np.ones(3), np.zeros(1)):
        cues = extract_cues(x.astype(np.float32), 8000)
        assert all(np.isfinite(v) for v in cues.values())
    with pytest.raises(ValueError):
        extract_cues(np.zeros(0, np.float32), RATE)


# --- the audit ---------------------------------------------------------------------------------------------------


def test_planted_shortcuts_are_flagged(tmp_path: Path) -> None:
    report = audit(planted_corpus(tmp_path), tmp_path / "manifest.csv", progress=False)
    assert report.counts == {"bonafide": 20, "spoof": 20}
    assert report.failures == 0
    assert report.cv_folds == "source"
    cues = by_cue(report)
    assert set(report.flagged_cues) >= SHORTCUTS
    for name in SHORTCUTS:
        assert cues[name].eer <= 0.05, cues[name]
        assert cues[name].cv_eer <= 0.1, cues[name]
    assert cues["original_sample_rate"].direction == "higher"
    assert (cues["original_sample_rate"].bonafide_median, cues["original_sample_rate"].spoof_median) == (8000, 16000)
    assert cues["leading_silence_s"].direction == "higher"
    assert cues["noise_floor_dbfs"].direction == "lower"
    assert cues["bit_depth_proxy"].eer == pytest.approx(0.5)  # all PCM_16: no separation


def test_matched_corpus_flags_nothing(tmp_path: Path) -> None:
    report = audit(matched_corpus(tmp_path), tmp_path / "manifest.csv", progress=False)
    assert report.counts == {"bonafide": 40, "spoof": 40}
    assert report.cv_folds == "speaker"
    # The best of 9 varying cues x 2 directions drifts from 0.5 by chance: even at 80 + 80 clips one dips under
    # the 0.40 flag for some seeds, so the test asks for no cue near a real shortcut rather than no flag at all.
    for row in report.rows:
        assert row.eer >= 0.3, row
        assert row.cv_eer >= 0.3, row


def test_undecodable_files_are_counted_not_fatal(tmp_path: Path) -> None:
    rows = planted_corpus(tmp_path, n=4)
    (tmp_path / "garbage.wav").write_bytes(b"RIFF this is not audio at all" * 10)
    (tmp_path / "empty.wav").write_bytes(b"")
    rows += [
        ManifestRow("garbage.wav", "spoof", "tts0"),
        ManifestRow("empty.wav", "bonafide", "human"),
        ManifestRow("missing.wav", "bonafide", "human"),
    ]
    report = audit(rows, tmp_path / "manifest.csv", progress=False)
    assert report.failures == 3
    assert report.counts == {"bonafide": 4, "spoof": 4}
    assert sum(report.failure_reasons.values()) == 3
    assert report.failure_reasons["unreadable_file"] == 1
    assert [e.split(":")[0] for e in report.failure_examples] == ["garbage.wav", "empty.wav", "missing.wav"]
    assert len(report.rows) == len(CUES)


def test_clips_over_the_duration_cap_are_failures(tmp_path: Path) -> None:
    rows = planted_corpus(tmp_path, n=3)
    report = audit(rows, tmp_path / "manifest.csv", max_duration_s=1.5, progress=False)
    assert report.failure_reasons.get("audio_too_long", 0) == report.failures > 0


def test_one_class_missing_gives_no_rows(tmp_path: Path) -> None:
    rows = [r for r in planted_corpus(tmp_path, n=3) if r.label == "spoof"]
    report = audit(rows, tmp_path / "manifest.csv", progress=False)
    assert report.rows == [] and report.counts == {"bonafide": 0, "spoof": 3}
    assert "No cue could be scored" in report.to_markdown()


def test_run_audit_writes_markdown_and_json(tmp_path: Path) -> None:
    manifest = tmp_path / "corpus" / "manifest.csv"
    manifest.parent.mkdir()
    rows = planted_corpus(manifest.parent, n=6) + [ManifestRow("missing.wav", "spoof", "tts0")]
    write_manifest(rows, manifest)
    out_json, out_md = tmp_path / "out" / "report.json", tmp_path / "out" / "report.md"
    report = run_audit(manifest, out_json=out_json, out_markdown=out_md, max_duration_s=60)

    data = json.loads(out_json.read_text())
    assert data == json.loads(json.dumps(report.to_json()))
    assert data["counts"] == {"bonafide": 6, "spoof": 6} and data["failures"] == 1
    assert data["flag_below_eer"] == FLAG_BELOW_EER
    assert [c["cue"] for c in data["cues"]] == [r.cue for r in report.sorted_rows()]
    assert set(data["cues"][0]) == {
        "cue", "eer", "direction", "cv_eer", "bonafide_median", "spoof_median", "flagged"
    }  # fmt: skip
    assert set(data["flagged"]) >= {"original_sample_rate", "hf_energy_ratio"}

    markdown = out_md.read_text()
    assert markdown == report.to_markdown()
    table = [line for line in markdown.splitlines() if line.startswith("|")]
    assert table[0] == "| cue | EER | CV EER | direction | median bona fide | median spoof | flag |"
    body = [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]
    assert len(body) == len(CUES)
    eers = [float(cells[1].rstrip("%")) for cells in body]
    assert eers == sorted(eers)
    flagged = {cells[0] for cells in body if cells[6] == "FLAG"}
    assert flagged == set(report.flagged_cues)
    assert "missing.wav: unreadable_file" in markdown


# --- folds --------------------------------------------------------------------------------------------------------


def rows_with(groups: list[tuple[str, str, str]]) -> list[ManifestRow]:
    return [ManifestRow(f"{i}.wav", label, "x", speaker=spk, source=src) for i, (label, spk, src) in enumerate(groups)]


def test_folds_keep_sources_whole_when_each_class_has_two() -> None:
    rows = rows_with([(lab, f"s{i}", f"{lab}{i % 3}") for lab in ("bonafide", "spoof") for i in range(12)])
    folds, by = cv_folds(rows)
    assert by == "source"
    for source in {r.source for r in rows}:
        assert len({int(f) for f, r in zip(folds, rows, strict=True) if r.source == source}) == 1
    for label in ("bonafide", "spoof"):
        assert {int(f) for f, r in zip(folds, rows, strict=True) if r.label == label} == {0, 1}


def test_folds_fall_back_to_speakers_then_random() -> None:
    one_source = rows_with([(lab, f"spk{i % 4}", "corpus") for lab in ("bonafide", "spoof") for i in range(8)])
    folds, by = cv_folds(one_source)
    assert by == "speaker"
    for speaker in {r.speaker for r in one_source}:
        assert len({int(f) for f, r in zip(folds, one_source, strict=True) if r.speaker == speaker}) == 1

    anonymous = rows_with([(lab, "", "") for lab in ("bonafide", "spoof") for _ in range(9)])
    folds, by = cv_folds(anonymous)
    assert by == "random"
    assert np.array_equal(folds, cv_folds(anonymous)[0])  # fixed seed
    for label in ("bonafide", "spoof"):
        assert sorted(int(f) for f, r in zip(folds, anonymous, strict=True) if r.label == label).count(1) == 4

    assert cv_folds(rows_with([("bonafide", "", ""), ("spoof", "", ""), ("spoof", "", "")]))[1] == "none"
