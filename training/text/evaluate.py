"""Detection quality of a text detector on a labelled split, overall and per language, kind and source.

Scores are calibrated LLRs (higher = more likely scam) and a text counts as flagged when its LLR reaches a
threshold, as in the service's verdict bands. Reported at the card's `likely_scam` threshold (the dev EER
point) and its `scam` threshold (the dev 1%-false-alarm point):

- precision, recall, F1 and the false-positive rate on legit texts at each threshold;
- ROC AUC and PR AUC (average precision), which need no threshold;
- expected calibration error of the service's probability (`llr_to_probability`) in 10 equal-width bins.

Undefined figures (recall of a group without scams, AUC of a one-class group) are `None`, never 0.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from service.calibration import llr_to_probability
from training.text.corpora import TextRow

GROUP_FIELDS = ("lang", "kind", "source")
THRESHOLD_BANDS = ("likely_scam", "scam")


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def binary_metrics(labels: Sequence[int] | np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """Counts and rates when `score >= threshold` flags a text as scam (label 1).

    Without scam texts (a legit-only kind) precision and F1 are None: they would be 0 by convention whenever
    anything is flagged, and say nothing the false-positive rate does not.
    """
    y = np.asarray(labels, dtype=np.int64)
    flagged = np.asarray(scores, dtype=np.float64) >= threshold
    tp = int(np.sum(flagged & (y == 1)))
    fp = int(np.sum(flagged & (y == 0)))
    fn = int(np.sum(~flagged & (y == 1)))
    tn = int(np.sum(~flagged & (y == 0)))
    return {
        "threshold": float(threshold),
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "precision": _ratio(tp, tp + fp) if tp + fn else None,
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn) if tp + fn else None,
        "fpr": _ratio(fp, fp + tn),
    }


def ranking_metrics(labels: Sequence[int] | np.ndarray, scores: np.ndarray) -> dict[str, float | None]:
    """ROC AUC and PR AUC (average precision); both None unless both classes occur."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.asarray(labels, dtype=np.int64)
    if len(set(y.tolist())) < 2:
        return {"roc_auc": None, "pr_auc": None}
    s = np.asarray(scores, dtype=np.float64)
    return {"roc_auc": float(roc_auc_score(y, s)), "pr_auc": float(average_precision_score(y, s))}


def expected_calibration_error(
    labels: Sequence[int] | np.ndarray, probabilities: np.ndarray, *, bins: int = 10, balanced: bool = True
) -> float:
    """Weighted mean over equal-width probability bins of |scam share - mean predicted probability|.

    The service's probability is a posterior at equal priors, so by default each class is weighted to half the
    total: unweighted, the figure would mostly measure how far the test set's class balance is from 50/50.
    With `balanced=False` every text weighs the same (the textbook ECE).
    """
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    if y.size == 0:
        raise ValueError("expected calibration error of an empty set")
    weights = np.ones_like(y)
    if balanced:
        n_pos, n_neg = float(y.sum()), float(y.size - y.sum())
        if n_pos and n_neg:
            weights = np.where(y == 1, 0.5 / n_pos, 0.5 / n_neg)
    index = np.minimum((p * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in range(bins):
        member = index == b
        w = weights[member]
        if w.sum() > 0:
            total += w.sum() * abs(np.average(y[member], weights=w) - np.average(p[member], weights=w))
    return float(total / weights.sum())


def group_metrics(labels: Sequence[int] | np.ndarray, llr: np.ndarray, thresholds: Mapping[str, float]) -> dict:
    """Every figure of the report for one group of texts."""
    y = np.asarray(labels, dtype=np.int64)
    out: dict[str, Any] = {"n": int(y.size), "n_scam": int(y.sum()), "n_legit": int(y.size - y.sum())}
    out.update(ranking_metrics(y, llr))
    out["ece"] = expected_calibration_error(y, llr_to_probability(llr))
    for band in THRESHOLD_BANDS:
        out[f"at_{band}"] = binary_metrics(y, llr, thresholds[band])
    return out


def evaluate_scores(rows: Sequence[TextRow], llr: np.ndarray, thresholds: Mapping[str, float]) -> dict[str, Any]:
    """Metrics overall and for each value of each of GROUP_FIELDS."""
    llr = np.asarray(llr, dtype=np.float64)
    if llr.shape != (len(rows),):
        raise ValueError(f"{llr.size} scores for {len(rows)} texts")
    labels = np.asarray([r.y for r in rows], dtype=np.int64)
    report: dict[str, Any] = {"overall": group_metrics(labels, llr, thresholds)}
    for field in GROUP_FIELDS:
        values = np.asarray([getattr(r, field) for r in rows])
        report[f"by_{field}"] = {
            str(value): group_metrics(labels[values == value], llr[values == value], thresholds)
            for value in sorted(set(values.tolist()))
        }
    return report


# ---------------------------------------------------------------- reporting


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


TABLE_HEADER = ("system", "group", "n", "scam", "P", "R", "F1", "FPR", "FPR@scam", "ROC AUC", "PR AUC", "ECE")


def markdown_table(systems: Mapping[str, Mapping[str, Any]]) -> str:
    """One line per system and group; P, R, F1 and FPR at `likely_scam`, FPR also at `scam`."""
    lines = ["| " + " | ".join(TABLE_HEADER) + " |", "|" + "---|" * len(TABLE_HEADER)]
    for system, result in systems.items():
        groups = [("all", result["overall"])]
        for field in GROUP_FIELDS:
            groups += [(f"{field}={value}", metrics) for value, metrics in result[f"by_{field}"].items()]
        for name, m in groups:
            at, strict = m["at_likely_scam"], m["at_scam"]
            cells = [system, name, str(m["n"]), str(m["n_scam"]), _fmt(at["precision"]), _fmt(at["recall"]),
                     _fmt(at["f1"]), _fmt(at["fpr"]), _fmt(strict["fpr"]), _fmt(m["roc_auc"]), _fmt(m["pr_auc"]),
                     _fmt(m["ece"])]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


SCORE_FIELDS = ("key", "source", "lang", "kind", "family", "label")


def text_key(row: TextRow) -> str:
    """A stable id for a text across runs, so two models' scores on one split can be paired."""
    return hashlib.sha1(f"{row.source}\x00{row.text}".encode()).hexdigest()[:16]


def score_rows(rows: Sequence[TextRow], systems: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    """One record per text with every system's LLR: what `training.text.paired` compares."""
    return [{"key": text_key(r), "source": r.source, "lang": r.lang, "kind": r.kind, "family": r.family,
             "label": r.label, **{name: float(llr[i]) for name, llr in systems.items()}}
            for i, r in enumerate(rows)]


def write_report(report: Mapping[str, Any], out_dir: Path) -> str:
    """report.json, report.md and (when the report carries them) the per-text scores.csv in `out_dir`; returns
    the Markdown."""
    out_dir.mkdir(parents=True, exist_ok=True)
    scores = report.get("scores")
    if scores:
        with (out_dir / "scores.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(scores[0]))
            writer.writeheader()
            writer.writerows(scores)
    summary = {k: v for k, v in report.items() if k != "scores"}
    (out_dir / "report.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    title = f"# Text detector on the {report['split']} split\n\n"
    notes = ("P, R, F1 and FPR (false alarms on legit texts) at each system's `likely_scam` threshold (dev EER "
             "point); FPR@scam at its `scam` threshold (dev 1% false alarms). ECE: class-balanced, 10 bins.\n\n")
    markdown = title + notes + markdown_table(report["systems"])
    (out_dir / "report.md").write_text(markdown, encoding="utf-8")
    return markdown


# ---------------------------------------------------------------- a model folder and the baseline


def corpora_from_card(card_training_data: Mapping[str, Any]) -> dict[str, Path | None]:
    corpora = card_training_data.get("corpora", {})
    return {key: Path(corpora[key]) if corpora.get(key) else None
            for key in ("seed_dir", "uci_path", "mishra_path", "public_dir", "pairs_dir", "extra_dir")}


def evaluate_text(
    model_dir: Path,
    *,
    split: str = "test",
    variant: str = "default",
    corpora: Mapping[str, Path | None] | None = None,
) -> dict[str, Any]:
    """Score `split` with the exported model (service path, card calibration and thresholds) and with the
    TF-IDF baseline (fitted on train, calibrated on dev like the exporter calibrates); for a model with an n-gram
    half, also its transformer alone (calibrated on dev the same way); return the report.

    Corpora default to those the card says the model was trained on, so the splits are the training run's.
    """
    from service.registry import load_artifact
    from training.text.baseline import TfidfBaseline
    from training.text.calibration import calibrate
    from training.text.corpora import load_corpora, select, summarise
    from training.text.onnx_scoring import score_artifact

    artifact = load_artifact(model_dir, variant=variant, task="text")
    card = artifact.card
    sources = dict(corpora) if corpora else corpora_from_card(card.training_data)
    rows = load_corpora(**sources)
    evaluated, train_rows, dev_rows = select(rows, split), select(rows, "train"), select(rows, "dev")
    if not evaluated:
        raise ValueError(f"no texts in the '{split}' split of {sorted(k for k, v in sources.items() if v)}")
    texts = [r.text for r in evaluated]

    model_llr = score_artifact(model_dir, texts, variant=artifact.variant)
    baseline = TfidfBaseline().fit([r.text for r in train_rows], [r.y for r in train_rows])
    baseline_cal = calibrate([r.y for r in dev_rows], baseline.scores([r.text for r in dev_rows]))
    baseline_llr = baseline_cal.llr(baseline.scores(texts))

    model_name = f"{card.name}-{card.version}:{artifact.variant}"
    systems = {
        model_name: evaluate_scores(evaluated, model_llr, card.thresholds),
        "tfidf_baseline": evaluate_scores(evaluated, baseline_llr, baseline_cal.thresholds),
    }
    scores = {model_name: model_llr, "tfidf_baseline": baseline_llr}
    if card.ngram is not None:
        # What the n-gram half adds: the same transformer without it, calibrated on dev the way the exporter does.
        alone_name = f"{model_name} transformer only"
        alone_cal = calibrate([r.y for r in dev_rows], score_artifact(
            model_dir, [r.text for r in dev_rows], variant=artifact.variant, transformer_only=True))
        scores[alone_name] = alone_cal.llr(score_artifact(model_dir, texts, variant=artifact.variant,
                                                          transformer_only=True))
        systems[alone_name] = evaluate_scores(evaluated, scores[alone_name], alone_cal.thresholds)
    return {
        "scores": score_rows(evaluated, scores),
        "split": split,
        "model": {"directory": str(model_dir), "name": card.name, "version": card.version,
                  "variant": artifact.variant, "thresholds": dict(card.thresholds)},
        "corpora": {k: str(v) for k, v in sources.items() if v},
        "sizes": summarise(rows),
        "baseline": {"calibration": baseline_cal.card_calibration(), "thresholds": baseline_cal.thresholds},
        "systems": systems,
    }
