"""Text evaluation metrics on examples small enough to check by hand, the baseline and the calibration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.textkit import write_seed
from training.text.baseline import TfidfBaseline
from training.text.calibration import calibrate
from training.text.corpora import TextRow, load_seed, select
from training.text.evaluate import (
    binary_metrics,
    evaluate_scores,
    expected_calibration_error,
    markdown_table,
    ranking_metrics,
    write_report,
)


def test_binary_metrics_by_hand() -> None:
    labels = [1, 1, 0, 0, 1]
    scores = np.array([2.0, 0.5, 0.7, -1.0, -2.0])
    m = binary_metrics(labels, scores, 0.6)  # flags the texts scoring 2.0 and 0.7
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (1, 1, 2, 1)
    assert m["precision"] == pytest.approx(0.5)
    assert m["recall"] == pytest.approx(1 / 3)
    assert m["f1"] == pytest.approx(2 * 1 / (2 * 1 + 1 + 2))
    assert m["fpr"] == pytest.approx(0.5)


def test_a_score_at_the_threshold_is_flagged_like_the_service_verdict() -> None:
    assert binary_metrics([1], np.array([0.25]), 0.25)["tp"] == 1


def test_undefined_rates_are_none() -> None:
    legit_only = binary_metrics([0, 0], np.array([-1.0, -2.0]), 0.0)
    assert legit_only["precision"] is None and legit_only["recall"] is None and legit_only["f1"] is None
    assert legit_only["fpr"] == 0.0
    false_alarm = binary_metrics([0, 0], np.array([1.0, -2.0]), 0.0)
    assert false_alarm["precision"] is None and false_alarm["f1"] is None and false_alarm["fpr"] == 0.5
    scam_only = binary_metrics([1, 1], np.array([1.0, -1.0]), 0.0)
    assert scam_only["fpr"] is None and scam_only["recall"] == 0.5
    assert ranking_metrics([1, 1], np.array([1.0, 2.0])) == {"roc_auc": None, "pr_auc": None}


def test_ranking_metrics_by_hand() -> None:
    m = ranking_metrics([0, 0, 1, 1], np.array([0.1, 0.4, 0.35, 0.8]))
    assert m["roc_auc"] == pytest.approx(0.75)  # 3 of the 4 (scam, legit) pairs are ordered right
    assert m["pr_auc"] == pytest.approx((1.0 + 2 / 3) / 2)  # precision 1 at the first scam, 2/3 at the second


def test_expected_calibration_error_by_hand() -> None:
    labels = [0, 0, 1, 1]
    probabilities = np.array([0.05, 0.15, 0.95, 0.85])
    # one text per bin: |0-.05|, |0-.15|, |1-.95|, |1-.85| averaged
    assert expected_calibration_error(labels, probabilities) == pytest.approx(0.1)
    assert expected_calibration_error(labels, probabilities, balanced=False) == pytest.approx(0.1)


def test_expected_calibration_error_balances_the_classes() -> None:
    labels = [0, 0, 0, 1]
    probabilities = np.full(4, 0.25)
    # textbook: the bin's scam share is 1/4, as predicted
    assert expected_calibration_error(labels, probabilities, balanced=False) == pytest.approx(0.0)
    # at equal priors the bin's scam share is 1/2, and 0.25 is off by 0.25
    assert expected_calibration_error(labels, probabilities) == pytest.approx(0.25)
    assert expected_calibration_error([1], np.array([1.0])) == pytest.approx(0.0)  # p = 1 falls in the last bin


def row(label: str, lang: str, kind: str = "k", source: str = "s") -> TextRow:
    return TextRow(text="t", label=label, kind=kind, lang=lang, channel="sms", family="f", source=source)


def test_evaluate_scores_groups_and_thresholds() -> None:
    rows = [row("scam", "nl"), row("legit", "nl"), row("scam", "en", kind="x"), row("legit", "en", kind="x")]
    llr = np.array([3.0, 1.0, 0.5, -2.0])
    report = evaluate_scores(rows, llr, {"inconclusive": -1.0, "likely_scam": 0.8, "scam": 2.0})
    overall = report["overall"]
    assert (overall["n"], overall["n_scam"], overall["n_legit"]) == (4, 2, 2)
    assert overall["at_likely_scam"]["tp"] == 1 and overall["at_likely_scam"]["fp"] == 1
    assert overall["at_scam"]["fpr"] == 0.0 and overall["at_scam"]["recall"] == 0.5
    assert overall["roc_auc"] == pytest.approx(0.75)
    assert report["by_lang"]["nl"]["at_likely_scam"]["fpr"] == 1.0
    assert report["by_lang"]["en"]["at_likely_scam"]["recall"] == 0.0
    assert set(report["by_kind"]) == {"k", "x"} and set(report["by_source"]) == {"s"}
    with pytest.raises(ValueError, match="3 scores for 4 texts"):
        evaluate_scores(rows, llr[:3], {"likely_scam": 0.0, "scam": 1.0})


def test_markdown_table_and_report_files(tmp_path: Path) -> None:
    rows = [row("scam", "nl"), row("legit", "nl", kind="chat")]
    system = evaluate_scores(rows, np.array([1.0, -1.0]), {"inconclusive": -1.0, "likely_scam": 0.0, "scam": 2.0})
    table = markdown_table({"m": system})
    lines = table.strip().splitlines()
    assert lines[0].startswith("| system | group | n |")
    assert "| m | all | 2 | 1 | 1.000 | 1.000 | 1.000 | 0.000 | 0.000 | 1.000 | 1.000 |" in table
    # a kind with only legit texts has no recall or AUC
    assert "| m | kind=chat | 1 | 0 | - | - | - | 0.000 | 0.000 | - | - |" in table
    markdown = write_report({"split": "test", "systems": {"m": system}}, tmp_path / "out")
    assert markdown.endswith(table)
    assert json.loads((tmp_path / "out" / "report.json").read_text())["systems"]["m"]["overall"]["n"] == 2
    assert (tmp_path / "out" / "report.md").read_text() == markdown


def test_tfidf_baseline_ranks_scams_above_legit_texts(tmp_path: Path) -> None:
    rows = load_seed(write_seed(tmp_path / "seed"))
    train = select(rows, "train")
    baseline = TfidfBaseline().fit([r.text for r in train], [r.y for r in train])
    scores = baseline.scores([r.text for r in train])
    assert scores.shape == (len(train),)
    assert ranking_metrics([r.y for r in train], scores)["roc_auc"] == 1.0
    with pytest.raises(ValueError, match="both classes"):
        TfidfBaseline().fit(["a", "b"], [0, 0])


def test_calibration_keeps_the_sign_and_orders_thresholds() -> None:
    rng = np.random.default_rng(0)
    legit, scam = rng.normal(-2.0, 1.0, 400), rng.normal(2.0, 1.0, 400)
    fitted = calibrate([0] * 400 + [1] * 400, np.concatenate([legit, scam]))
    assert fitted.scale > 0
    t = fitted.thresholds
    assert list(t) == ["inconclusive", "likely_scam", "scam"]
    assert t["inconclusive"] <= t["likely_scam"] <= t["scam"]
    # equal-variance Gaussians 4 apart: the true LLR is 4 * s, and the EER point sits near s = 0
    assert fitted.scale == pytest.approx(4.0, rel=0.2)
    assert abs(t["likely_scam"]) < 0.6
    with pytest.raises(ValueError, match="labels for"):
        calibrate([0, 1], np.array([0.0]))
