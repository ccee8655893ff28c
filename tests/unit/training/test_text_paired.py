"""Pairing two text models' per-text scores: discordant counts, McNemar, family bootstrap, group tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.text.corpora import TextRow
from training.text.evaluate import evaluate_scores, score_rows, text_key, write_report
from training.text.paired import compare, family_bootstrap, markdown, mcnemar_p, read_run


def _rows() -> list[TextRow]:
    rows = []
    for i in range(40):
        label = "scam" if i < 20 else "legit"
        rows.append(TextRow(text=f"text {i}", label=label, kind="k", lang="nl" if i % 2 else "en",
                            channel="sms", family=f"f{i // 4}", source="seed"))
    return rows


THRESHOLDS = {"inconclusive": -1.0, "likely_scam": 0.0, "scam": 2.0}


def _write_run(out: Path, rows: list[TextRow], llr: np.ndarray, name: str) -> Path:
    """A run folder as `nepcheck eval text --out` writes it."""
    report = {"split": "test", "model": {"thresholds": THRESHOLDS}, "baseline": {"thresholds": THRESHOLDS},
              "systems": {name: evaluate_scores(rows, llr, THRESHOLDS),
                          "tfidf_baseline": evaluate_scores(rows, -llr, THRESHOLDS)},
              "scores": score_rows(rows, {name: llr, "tfidf_baseline": -llr})}
    write_report(report, out)
    return out


def test_mcnemar_exact_values() -> None:
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(3, 3) == 1.0
    assert mcnemar_p(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_p(1, 9) == pytest.approx(2 * 11 / 1024)


def test_family_bootstrap_brackets_the_difference_and_is_zero_for_equal_models() -> None:
    a = np.zeros(40, bool)
    b = np.ones(40, bool)
    families = [f"f{i // 4}" for i in range(40)]
    assert family_bootstrap(a, b, families) == (1.0, 1.0)
    assert family_bootstrap(a, a, families) == (0.0, 0.0)


def test_compare_counts_discordant_texts_per_band_and_group(tmp_path: Path) -> None:
    rows = _rows()
    llr_a = np.array([1.0] * 20 + [-1.0] * 20)  # every scam caught at likely_scam, no legit flagged
    llr_b = llr_a.copy()
    llr_b[:4] = -1.0  # B misses four scams
    llr_b[20] = 3.0  # and flags one legit text even at `scam`
    a = read_run(_write_run(tmp_path / "a", rows, llr_a, "m-1"), None)
    b = read_run(_write_run(tmp_path / "b", rows, llr_b, "m-2"), None)
    assert a.name == "m-1" and b.name == "m-2"
    result = compare(a, b)
    overall = result["groups"]["all"]["likely_scam"]
    assert overall["recall"]["flagged_only_by_a"] == 4 and overall["recall"]["flagged_only_by_b"] == 0
    assert overall["recall"]["a"] == 1.0 and overall["recall"]["b"] == pytest.approx(0.8)
    assert overall["fpr"]["flagged_only_by_b"] == 1
    assert result["groups"]["all"]["scam"]["fpr"]["b"] == pytest.approx(1 / 20)
    assert set(result["groups"]) == {"all", "lang=en", "lang=nl"}
    assert "| all | likely_scam | recall | 20 | 100.0% | 80.0% | 4 | 0 |" in markdown(result)


def test_texts_in_only_one_run_are_left_out_and_counted(tmp_path: Path) -> None:
    rows = _rows()
    llr = np.zeros(len(rows))
    a = read_run(_write_run(tmp_path / "a", rows, llr, "m"), None)
    b = read_run(_write_run(tmp_path / "b", rows[:30], llr[:30], "m"), None)
    result = compare(a, b)
    assert result["shared_texts"] == 30 and result["only_in_a"] == 10


def test_eval_report_writes_per_text_scores(tmp_path: Path) -> None:
    rows = _rows()[:3]
    llr = np.array([0.5, -0.5, 1.5])
    scores = score_rows(rows, {"m": llr})
    assert scores[0]["key"] == text_key(rows[0]) and scores[2]["m"] == 1.5
    _write_run(tmp_path / "run", rows, llr, "m")
    header = (tmp_path / "run" / "scores.csv").read_text().splitlines()[0]
    assert header == "key,source,lang,kind,family,label,m,tfidf_baseline"
    assert "scores" not in json.loads((tmp_path / "run" / "report.json").read_text())
    assert read_run(tmp_path / "run", "tfidf_baseline").llr[text_key(rows[2])] == -1.5


def test_every_system_is_read_at_its_own_thresholds(tmp_path: Path) -> None:
    rows = _rows()
    llr = np.array([1.0] * 20 + [-1.0] * 20)
    own = {"inconclusive": -3.0, "likely_scam": 1.5, "scam": 2.5}  # stricter than the model's card
    report = {"split": "test", "model": {"thresholds": THRESHOLDS}, "baseline": {"thresholds": THRESHOLDS},
              "systems": {"m-1": evaluate_scores(rows, llr, THRESHOLDS),
                          "m-1 transformer only": evaluate_scores(rows, llr, own)},
              "scores": score_rows(rows, {"m-1": llr, "m-1 transformer only": llr})}
    write_report(report, tmp_path / "run")
    alone = read_run(tmp_path / "run", "m-1 transformer only")
    assert alone.thresholds == {"likely_scam": 1.5, "scam": 2.5}
    assert read_run(tmp_path / "run", None).thresholds == {"likely_scam": 0.0, "scam": 2.0}
    with pytest.raises(ValueError, match="no system 'other'"):
        read_run(tmp_path / "run", "other")


def test_at_fpr_reads_each_model_at_its_own_threshold_for_that_share_of_legit_texts(tmp_path: Path) -> None:
    rows = _rows()
    # A ranks every scam above every legit text but on a shifted scale, so at its card's thresholds it flags
    # every legit text; B ranks two scams below the two highest legit texts.
    llr_a = np.array([10.0 + i for i in range(20)] + [5.0 + i / 10 for i in range(20)])
    llr_b = np.array([-5.0, -4.0] + [3.0] * 18 + [-3.0] * 18 + [-2.0, -1.0])
    a = read_run(_write_run(tmp_path / "a", rows, llr_a, "m-1"), None)
    b = read_run(_write_run(tmp_path / "b", rows, llr_b, "m-2"), None)
    result = compare(a, b, at_fpr=[0.1, 0.0])
    at_card = result["groups"]["all"]["likely_scam"]
    assert at_card["fpr"]["a"] == 1.0 and at_card["fpr"]["b"] == 0.0
    ten = result["groups"]["all"]["fpr=10%"]
    assert ten["fpr"]["a"] == pytest.approx(0.1) and ten["fpr"]["b"] == pytest.approx(0.1)
    assert ten["recall"]["a"] == 1.0 and ten["recall"]["b"] == pytest.approx(0.9)
    zero = result["groups"]["all"]["fpr=0%"]
    assert zero["fpr"]["a"] == 0.0 and zero["fpr"]["b"] == 0.0
    assert zero["recall"]["a"] == 1.0 and zero["recall"]["b"] == pytest.approx(0.9)
    assert "| all | fpr=10% | recall | 20 | 100.0% | 90.0% | 2 | 0 |" in markdown(result)
