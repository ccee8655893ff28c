"""The benchmark plumbing that needs no model: result files, the regression check, subsets and score files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.compare import compare, judge, render
from benchmarks.machine import machine_info, same_machine_class
from benchmarks.report import metric, read_results, write_results
from benchmarks.timing import percentiles, time_calls
from tests.modelkit import write_voice_model


def _result(tmp: Path, name: str, metrics: dict[str, dict[str, object]], machine: dict[str, object] | None = None,
            suite: str = "engine") -> dict[str, object]:
    out = tmp / name
    out.mkdir()
    path = write_results(out, suite, machine=machine or {"cpu_model": "x", "usable_cores": 2}, settings={},
                         results=[], metrics=metrics, markdown="# t\n")
    return read_results(path)


def test_a_result_file_round_trips_and_carries_its_report(tmp_path: Path) -> None:
    loaded = _result(tmp_path, "a", {"voice / p50_ms": metric(10.0, "ms", "lower")})
    assert loaded["schema"] == "nepcheck-bench/1" and loaded["suite"] == "engine"
    assert loaded["metrics"]["voice / p50_ms"] == {"value": 10.0, "unit": "ms", "better": "lower"}
    assert (tmp_path / "a" / "report.md").read_text() == "# t\n"


def test_anything_but_a_result_file_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"rows": []}))
    with pytest.raises(ValueError, match="not a nepcheck bench result"):
        read_results(other)


@pytest.mark.parametrize(("a", "b", "unit", "better", "status"), [
    (10.0, 10.9, "ms", "lower", "ok"),           # within 10%
    (10.0, 11.5, "ms", "lower", "regression"),   # latency up 15%
    (10.0, 8.0, "ms", "lower", "improved"),
    (100.0, 85.0, "1/s", "higher", "regression"),  # throughput down 15%
    (0.30, 0.305, "rate", "lower", "ok"),        # half an EER point
    (0.30, 0.32, "rate", "lower", "regression"),  # two EER points
    (0.90, 0.85, "auc", "higher", "regression"),
    (0.0, 1.0, "count", "lower", "regression"),  # any new error
    (100.0, 130.0, "MiB", "lower", "regression"),  # memory: relative like timings
    (5.0, 50.0, "ms", None, "info"),             # context only
])
def test_judge_uses_relative_slack_for_timings_and_absolute_for_quality(
        a: float, b: float, unit: str, better: str | None, status: str) -> None:
    assert judge(a, b, unit, better, tolerance=0.10, quality_tolerance=0.01) == status


def test_compare_flags_regressions_and_lists_metrics_on_one_side(tmp_path: Path) -> None:
    a = _result(tmp_path, "a", {"v / p50_ms": metric(10.0, "ms", "lower"), "v / eer": metric(0.3, "rate", "lower"),
                                "old": metric(1.0, "ms", "lower")})
    b = _result(tmp_path, "b", {"v / p50_ms": metric(20.0, "ms", "lower"), "v / eer": metric(0.3, "rate", "lower"),
                                "new": metric(1.0, "ms", "lower")})
    result = compare(a, b)
    assert [c.key for c in result["regressions"]] == ["v / p50_ms"]
    assert result["only_in_a"] == ["old"] and result["only_in_b"] == ["new"]
    text = render(result)
    assert "REGRESSION" in text and "+100.0%" in text and "only in A" in text


def test_compare_warns_when_the_machines_differ(tmp_path: Path) -> None:
    a = _result(tmp_path, "a", {"m": metric(1.0, "ms", "lower")}, {"cpu_model": "A", "usable_cores": 2})
    b = _result(tmp_path, "b", {"m": metric(1.0, "ms", "lower")}, {"cpu_model": "B", "usable_cores": 16})
    assert "different machine class" in render(compare(a, b))


def test_machine_block_names_the_cpu_libraries_and_model_hashes(tmp_path: Path) -> None:
    model = write_voice_model(tmp_path / "models")
    machine = machine_info([model])
    assert machine["logical_cores"] and machine["cpu_model"]
    assert "onnxruntime" in machine["libraries"] and "CPUExecutionProvider" in machine["onnxruntime_providers"]
    (info,) = machine["models"]
    assert info["name"] == "voice" and len(info["variants"]["fp32"]["sha256"]) == 64
    assert same_machine_class(machine, machine) == []


def test_percentiles_and_timed_calls() -> None:
    p = percentiles([1.0, 2.0, 3.0, 4.0, 100.0])
    assert p["p50"] == 3.0 and p["p50"] <= p["p95"] <= p["p99"] <= 100.0 and p["n"] == 5
    calls = []
    t = time_calls(lambda: calls.append(1), runs=7, warmup=2)
    assert t["n"] == 7 and len(calls) == 9


def test_balanced_subset_keeps_every_system_and_both_labels() -> None:
    pytest.importorskip("scipy")
    from benchmarks.quality import balanced_subset
    from training.corpora.manifest import ManifestRow

    rows = [ManifestRow(path=f"b{i}.wav", label="bonafide", system="human") for i in range(50)]
    rows += [ManifestRow(path=f"{s}{i}.wav", label="spoof", system=s) for s in ("a", "b", "c") for i in range(30)]
    subset = balanced_subset(rows, 12, seed=3)
    assert len(subset) == 12
    assert sum(r.label == "bonafide" for r in subset) == 6
    assert {r.system for r in subset if r.label == "spoof"} == {"a", "b", "c"}
    assert subset == balanced_subset(rows, 12, seed=3)


def test_asvspoof_score_layouts_negate_the_llr(tmp_path: Path) -> None:
    pytest.importorskip("scipy")
    from benchmarks.score_files import write_asvspoof2019_scores, write_asvspoof2021_scores
    from training.spoof_report import ScoredClip

    clips = [ScoredClip("u1", 2.5, "spoof", "A07"), ScoredClip("u2", -1.0, "bonafide", "human")]
    write_asvspoof2019_scores(clips, tmp_path / "2019.txt")
    write_asvspoof2021_scores(clips, tmp_path / "2021.txt")
    assert (tmp_path / "2019.txt").read_text().splitlines() == ["u1 A07 spoof -2.5", "u2 - bonafide 1.0"]
    assert (tmp_path / "2021.txt").read_text().splitlines() == ["u1 -2.5", "u2 1.0"]


def test_quality_reads_a_corpus_through_its_loader(tmp_path: Path) -> None:
    pytest.importorskip("scipy")
    import soundfile as sf

    from benchmarks.quality import load_voice_rows, prepare_manifest
    from tests.audiokit import speech

    sf.write(tmp_path / "a.wav", speech(1.0), 16000)
    sf.write(tmp_path / "b.wav", speech(1.0), 16000)
    (tmp_path / "corpus.csv").write_text("path,label,system\na.wav,real,human\nb.wav,fake,tts-x\n")
    out = tmp_path / "out"
    out.mkdir()
    rows, manifest = load_voice_rows(None, "csv", tmp_path / "corpus.csv", {}, out)
    assert [(r.label, r.system) for r in rows] == [("bonafide", "human"), ("spoof", "tts-x")]
    assert manifest == out / "csv_manifest.csv" and manifest.is_file()
    kept = prepare_manifest(rows, manifest, out / "kept.csv").read_text()
    assert str((tmp_path / "a.wav").resolve()) in kept  # absolute paths: the subset reads from anywhere


def test_the_text_baseline_is_fitted_on_the_train_split_and_needs_both_classes() -> None:
    pytest.importorskip("sklearn")
    from benchmarks.quality import tfidf_baseline
    from training.text.corpora import TextRow

    def row(text: str, label: str, split: str) -> TextRow:
        return TextRow(text=text, label=label, kind="k", lang="en", channel="sms", family=text, source="t", split=split)

    scam = ["guaranteed returns bitcoin bot now", "send your code to the safe account", "crypto profit guaranteed"]
    legit = ["dinner at seven tonight", "the meeting moved to friday", "thanks for the photos"]
    loaded = [row(f"{t} {i}", lab, split) for split in ("train", "dev") for i in range(4)
              for lab, texts in (("scam", scam), ("legit", legit)) for t in texts]
    test = [row("guaranteed bitcoin returns", "scam", "test"), row("see you at dinner", "legit", "test")]
    result = tfidf_baseline(loaded, test)
    assert result is not None
    llr, thresholds = result
    assert llr.shape == (2,) and llr[0] > llr[1] and "likely_scam" in thresholds
    assert tfidf_baseline([r for r in loaded if r.label == "scam"], test) is None
