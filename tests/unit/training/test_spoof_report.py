"""spoof_report: grouping conventions, score files, the DET figure and a full report on synthetic LLRs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.stats import norm

from training.corpora.manifest import ManifestRow
from training.spoof_metrics import act_dcf, bayes_threshold, compute_eer, min_dcf
from training.spoof_report import (
    ScoredClip,
    by_group,
    false_positive_rate,
    markdown_table,
    plot_det,
    read_keyed_scores,
    summarise,
    write_asvspoof_keys,
    write_asvspoof_scores,
    write_keyed_scores,
    write_report,
)


def clip(
    utterance: str, score: float, label: str, system: str, source: str = "", condition: str = "clean"
) -> ScoredClip:
    return ScoredClip(utterance, score, label, system, source, condition)


def small_set() -> list[ScoredClip]:
    """Bona fide from two sources (one human-only), spoofs of A01 (caught) and A02 (passes), a vendor spoof-only."""
    return [
        clip("b1", -3.0, "bonafide", "bonafide", "corpus", "clean"),
        clip("b2", -2.0, "bonafide", "human", "corpus", "mulaw8k"),
        clip("b3", -1.0, "bonafide", "bonafide", "studio", "clean"),
        clip("b4", 0.5, "bonafide", "human", "studio", "clean"),
        clip("s1", 2.0, "spoof", "A01", "corpus", "clean"),
        clip("s2", 3.0, "spoof", "A01", "corpus", "mulaw8k"),
        clip("s3", -2.5, "spoof", "A02", "vendor", "clean"),
        clip("s4", -1.5, "spoof", "A02", "vendor", "mulaw8k"),
    ]


def gaussian_llrs(rng: np.random.Generator, mean: float, n: int) -> np.ndarray:
    """N(mean, 2|mean|) draws: with spoof at +m and bona fide at -m, ln N(x; m, 2m) / N(x; -m, 2m) = x exactly."""
    return rng.normal(mean, math.sqrt(2.0 * abs(mean)), n)


# --- clips and summaries ----------------------------------------------------------------------------------------


def test_scored_clip_refuses_bad_fields() -> None:
    with pytest.raises(ValueError):
        clip("a", 0.0, "fake", "A01")
    with pytest.raises(ValueError):
        clip("has space", 0.0, "spoof", "A01")
    with pytest.raises(ValueError):
        clip("a", float("nan"), "spoof", "A01")


def test_from_row_copies_the_grouping_fields() -> None:
    row = ManifestRow("clips/x.flac", "spoof", "A07", source="vendor", condition="mulaw8k")
    scored = ScoredClip.from_row(row, 1.5)
    assert scored == ScoredClip("clips/x.flac", 1.5, "spoof", "A07", "vendor", "mulaw8k")
    assert ScoredClip.from_row(row, 1.5, utterance="x").utterance == "x"


def test_summarise_matches_the_metrics_and_needs_both_classes() -> None:
    clips = small_set()
    summary = summarise(clips)
    bonafide, spoof = [-3.0, -2.0, -1.0, 0.5], [2.0, 3.0, -2.5, -1.5]
    assert (summary["n_bonafide"], summary["n_spoof"]) == (4, 4)
    assert (summary["eer"], summary["eer_threshold"]) == compute_eer(bonafide, spoof)
    assert (summary["min_dcf"], summary["min_dcf_threshold"]) == min_dcf(bonafide, spoof)
    assert summary["act_dcf"] == act_dcf(bonafide, spoof)
    assert summary["bayes_threshold"] == bayes_threshold()
    with pytest.raises(ValueError):
        summarise([c for c in clips if c.label == "spoof"])


# --- grouping ---------------------------------------------------------------------------------------------------


def test_system_groups_pit_all_bona_fide_against_each_attack() -> None:
    rows = by_group(small_set(), "system")
    # Bona fide system names ("bonafide", "human") never form a group.
    assert [r["system"] for r in rows] == ["A01", "A02"]
    a01, a02 = rows
    assert (a01["n_bonafide"], a01["n_spoof"]) == (4, 2)
    assert a01["eer"] == compute_eer([-3.0, -2.0, -1.0, 0.5], [2.0, 3.0])[0] == 0.0
    assert a02["eer"] == compute_eer([-3.0, -2.0, -1.0, 0.5], [-2.5, -1.5])[0]
    assert a02["eer"] > 0.3
    assert a01["note"] == a02["note"] == ""


def test_single_class_sources_get_the_rate_at_the_pooled_eer_threshold() -> None:
    clips = small_set()
    _, pooled = compute_eer(
        [c.score for c in clips if c.label == "bonafide"], [c.score for c in clips if c.label == "spoof"]
    )
    rows = {r["source"]: r for r in by_group(clips, "source")}
    assert sorted(rows) == ["corpus", "studio", "vendor"]

    corpus = rows["corpus"]
    assert (corpus["n_bonafide"], corpus["n_spoof"]) == (2, 2)
    assert corpus["eer"] == 0.0

    studio = rows["studio"]  # bona fide only: -1.0 and 0.5
    assert studio["eer"] is None and studio["min_dcf"] is None and studio["roc_auc"] is None
    assert (studio["n_bonafide"], studio["n_spoof"]) == (2, 0)
    assert studio["bonafide_flagged_at_pooled_eer"] == np.mean([s >= pooled for s in (-1.0, 0.5)])
    assert studio["spoof_missed_at_pooled_eer"] is None
    assert "bona fide only" in studio["note"]

    vendor = rows["vendor"]  # spoof only: -2.5 and -1.5
    assert vendor["eer"] is None
    assert vendor["spoof_missed_at_pooled_eer"] == np.mean([s < pooled for s in (-2.5, -1.5)])
    assert vendor["bonafide_flagged_at_pooled_eer"] is None
    assert "spoof only" in vendor["note"]


def test_condition_groups_hold_both_classes_of_that_condition() -> None:
    rows = {r["condition"]: r for r in by_group(small_set(), "condition")}
    assert (rows["clean"]["n_bonafide"], rows["clean"]["n_spoof"]) == (3, 2)
    assert rows["clean"]["eer"] == compute_eer([-3.0, -1.0, 0.5], [2.0, -2.5])[0]
    assert (rows["mulaw8k"]["n_bonafide"], rows["mulaw8k"]["n_spoof"]) == (1, 2)
    with pytest.raises(ValueError):
        by_group(small_set(), "speaker")


def test_false_positive_rate_on_a_subset() -> None:
    clips = small_set()
    assert false_positive_rate(clips, 0.0) == 0.25  # only b4 (0.5) of four
    assert false_positive_rate(clips, -1.0, where=lambda c: c.source == "studio") == 1.0
    assert false_positive_rate(clips, -1.5, where=lambda c: c.condition == "mulaw8k") == 0.0
    with pytest.raises(ValueError):
        false_positive_rate(clips, 0.0, where=lambda c: c.source == "vendor")  # spoofs only: nothing to rate


# --- files ------------------------------------------------------------------------------------------------------


def test_asvspoof_score_and_key_files(tmp_path: Path) -> None:
    clips = small_set()
    assert write_asvspoof_scores(clips, tmp_path / "scores.tsv") == len(clips)
    write_asvspoof_keys(clips, tmp_path / "keys.tsv")
    score_lines = (tmp_path / "scores.tsv").read_text(encoding="utf-8").splitlines()
    key_lines = (tmp_path / "keys.tsv").read_text(encoding="utf-8").splitlines()
    assert score_lines[0] == "filename\tcm-score"
    assert key_lines[0] == "filename\tcm-label"
    assert len(score_lines) == len(key_lines) == len(clips) + 1
    for c, score_line, key_line in zip(clips, score_lines[1:], key_lines[1:], strict=True):
        utterance, score = score_line.split("\t")
        assert utterance == c.utterance
        assert float(score) == -c.score  # the package scores bona fide high
        assert key_line.split("\t") == [c.utterance, c.label]


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    clips = [clip("x", 0.0, "bonafide", "bonafide"), clip("x", 1.0, "spoof", "A01")]
    with pytest.raises(ValueError):
        write_asvspoof_scores(clips, tmp_path / "scores.tsv")


def test_keyed_scores_round_trip(tmp_path: Path) -> None:
    clips = [*small_set(), clip("odd", 1 / 3, "spoof", "A03", "", "mulaw8k")]
    write_keyed_scores(clips, tmp_path / "keyed.tsv")
    assert (tmp_path / "keyed.tsv").read_text(encoding="utf-8").splitlines()[0].split("\t") == [
        "utterance",
        "llr",
        "label",
        "system",
        "source",
        "condition",
    ]
    assert read_keyed_scores(tmp_path / "keyed.tsv") == clips


def test_det_png_is_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    curves = {
        "good": (gaussian_llrs(rng, -4.0, 300), gaussian_llrs(rng, 4.0, 300)),
        "chance": (rng.normal(0, 1, 300), rng.normal(0, 1, 300)),
        "perfect": ([0.0, 1.0], [2.0, 3.0]),
    }
    path = plot_det(curves, tmp_path / "sub" / "det.png")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 5000
    with pytest.raises(ValueError):
        plot_det({}, tmp_path / "empty.png")


def test_markdown_table_formats_cells() -> None:
    rows = [{"name": "a|b", "eer": 0.0525, "cllr": 0.123456, "n": 3}, {"name": "c", "eer": None, "cllr": 1.0, "n": 0}]
    table = markdown_table(rows, ["name", "eer", "cllr", "n"], percent={"eer"})
    assert table.splitlines() == [
        "| name | eer | cllr | n |",
        "|---|---|---|---|",
        "| a\\|b | 5.25% | 0.1235 | 3 |",
        "| c | n/a | 1 | 0 |",
    ]
    with pytest.raises(KeyError):
        markdown_table(rows, ["missing"])


# --- full report ------------------------------------------------------------------------------------------------


def synthetic_clips(shift: float = 0.0) -> tuple[list[ScoredClip], float]:
    """Calibrated Gaussian LLRs (mean 4.5, EER = Phi(-1.5)) for corpus A, plus a spoof system B that mimics humans."""
    rng = np.random.default_rng(1234)
    mean, n = 4.5, 3000
    clips: list[ScoredClip] = []
    for i, s in enumerate(gaussian_llrs(rng, -mean, n)):
        condition = "clean" if i % 2 else "mulaw8k"
        clips.append(clip(f"bona{i}", float(s) + shift, "bonafide", "bonafide", "corpusA", condition))
    for i, s in enumerate(gaussian_llrs(rng, mean, n)):
        condition = "clean" if i % 2 else "mulaw8k"
        clips.append(clip(f"a{i}", float(s) + shift, "spoof", "A", "corpusA", condition))
    for i, s in enumerate(gaussian_llrs(rng, -mean, 200)):
        clips.append(clip(f"b{i}", float(s) + shift, "spoof", "B", "vendorB", "clean"))
    return clips, mean


def test_report_on_synthetic_scores_with_a_known_separation(tmp_path: Path) -> None:
    clips, mean = synthetic_clips()
    sigma = math.sqrt(2.0 * mean)
    report = write_report(tmp_path, clips, fpr_subsets={"clean": lambda c: c.condition == "clean"})

    for name in ("report.json", "report.md", "scores.tsv", "keys.tsv", "scores_keyed.tsv", "det.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert json.loads((tmp_path / "report.json").read_text(encoding="utf-8")) == report

    # Attack A alone against all bona fide: the theoretical figures of two Gaussians, to sampling error.
    a = next(r for r in report["by_system"] if r["system"] == "A")
    assert a["eer"] == pytest.approx(norm.cdf(-mean / sigma), abs=0.015)
    assert a["roc_auc"] == pytest.approx(norm.cdf(2 * mean / (sigma * math.sqrt(2))), abs=0.01)
    threshold = bayes_threshold()

    def dcf_at(t: float) -> float:
        return (0.95 * norm.sf(t, -mean, sigma) + 0.5 * norm.cdf(t, mean, sigma)) / 0.5

    assert a["act_dcf"] == pytest.approx(dcf_at(threshold), abs=0.05)
    best = minimize_scalar(dcf_at, bounds=(-mean, 3 * mean), method="bounded")
    assert a["min_dcf"] == pytest.approx(best.fun, abs=0.05)
    assert a["cllr"] - a["min_cllr"] < 0.03  # calibrated by construction

    # Attack B is distributed like bona fide speech: chance level.
    b = next(r for r in report["by_system"] if r["system"] == "B")
    assert b["eer"] == pytest.approx(0.5, abs=0.06)
    assert [r["system"] for r in report["by_system"]] == ["A", "B"]

    # vendorB holds spoofs only: no EER, and most of them pass at the pooled EER threshold.
    vendor = next(r for r in report["by_source"] if r["source"] == "vendorB")
    assert vendor["eer"] is None and vendor["spoof_missed_at_pooled_eer"] > 0.8
    assert {r["condition"] for r in report["by_condition"]} == {"clean", "mulaw8k"}

    clean = report["false_positive_rates"][0]
    assert clean["subset"] == "clean" and clean["n_bonafide"] == 1500
    expected = false_positive_rate(clips, threshold, where=lambda c: c.condition == "clean")
    assert clean["fpr_at_bayes"] == expected
    assert clean["fpr_at_bayes"] == pytest.approx(norm.sf(threshold, -mean, sigma), abs=0.02)

    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    for heading in ("## Pooled", "## Per attack system", "## Per source corpus", "## Per condition", "det.png"):
        assert heading in markdown
    assert "spoof only: no EER" in markdown


def test_miscalibration_shows_in_act_dcf_and_cllr_only() -> None:
    calibrated = summarise(synthetic_clips()[0])
    shifted = summarise(synthetic_clips(shift=3.0)[0])
    for rank_only in ("eer", "min_dcf", "min_cllr", "roc_auc"):
        assert shifted[rank_only] == pytest.approx(calibrated[rank_only], abs=1e-9)
    assert shifted["act_dcf"] > calibrated["act_dcf"] + 0.2
    assert shifted["cllr"] > calibrated["cllr"] + 0.1
