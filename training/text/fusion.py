"""Does the TF-IDF baseline add anything to the transformer? A logistic fusion of the two LLRs, measured honestly.

The baseline (word and character n-grams) matched the transformer on F1 in earlier reports, so the question is
whether the two make *different* mistakes. The fusion is `w_model * llr_model + w_tfidf * llr_tfidf + c`, a
class-balanced logistic regression fitted on the dev split only. Its bands are fitted the way the exporter fits a
model's (`calibration.calibrate`: Platt, then `likely_scam` at 2% and `scam` at 0.5% of legit dev texts), on
out-of-fold dev scores, so the dev texts that chose the weights do not also place the thresholds. Test is read
once, at the end, for all three systems at their own thresholds.

This is a hand-run measurement, not part of the service: `python -m training.text.fusion --model DIR --config
YAML --out DIR` writes report.json, report.md and the per-text scores (scores.npz).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.text.calibration import TextCalibration, calibrate
from training.text.corpora import TextRow, load_corpora, select
from training.text.evaluate import evaluate_scores, markdown_table

FOLDS = 5


@dataclass(frozen=True)
class Fusion:
    weights: tuple[float, float]  # model LLR, TF-IDF LLR
    bias: float

    def raw(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(features, dtype=np.float64) @ np.asarray(self.weights) + self.bias


def fit_fusion(labels: Sequence[int] | np.ndarray, features: np.ndarray, *, c: float = 1.0) -> Fusion:
    """Class-balanced logistic regression on [n, 2] LLR features (labels 1 = scam)."""
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(labels, dtype=np.int64)
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape != (y.size, 2):
        raise ValueError(f"expected [{y.size}, 2] features, got {x.shape}")
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=1000).fit(x, y)
    return Fusion(weights=(float(model.coef_[0, 0]), float(model.coef_[0, 1])), bias=float(model.intercept_[0]))


def out_of_fold_raw(labels: np.ndarray, features: np.ndarray, groups: Sequence[str], *,
                    folds: int = FOLDS) -> np.ndarray:
    """Fused dev scores where each text is scored by a fusion fitted without its family (group k-fold)."""
    from sklearn.model_selection import GroupKFold

    raw = np.zeros(labels.size)
    for fit_idx, held_idx in GroupKFold(n_splits=folds).split(features, labels, groups=np.asarray(groups)):
        raw[held_idx] = fit_fusion(labels[fit_idx], features[fit_idx]).raw(features[held_idx])
    return raw


def calibrate_fusion(dev_labels: np.ndarray, dev_features: np.ndarray,
                     dev_groups: Sequence[str]) -> tuple[Fusion, TextCalibration]:
    """Weights from all of dev; Platt and band thresholds from out-of-fold dev scores."""
    fusion = fit_fusion(dev_labels, dev_features)
    oof = out_of_fold_raw(dev_labels, dev_features, dev_groups)
    return fusion, calibrate(dev_labels, oof)


def _baseline_llrs(train: Sequence[TextRow], dev: Sequence[TextRow],
                   test: Sequence[TextRow]) -> tuple[np.ndarray, np.ndarray, TextCalibration]:
    """TF-IDF fitted on train, calibrated on dev, exactly as `evaluate.evaluate_text` does."""
    from training.text.baseline import TfidfBaseline

    baseline = TfidfBaseline().fit([r.text for r in train], [r.y for r in train])
    dev_raw = baseline.scores([r.text for r in dev])
    cal = calibrate([r.y for r in dev], dev_raw)
    return cal.llr(dev_raw), cal.llr(baseline.scores([r.text for r in test])), cal


def measure_fusion(model_dir: Path, corpora: dict[str, Path | None]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The report (model, baseline, fusion on test, each at its own dev thresholds) and the raw per-text scores."""
    from service.registry import load_artifact
    from training.text.onnx_scoring import score_artifact

    rows = load_corpora(**corpora)
    train, dev, test = select(rows, "train"), select(rows, "dev"), select(rows, "test")
    card = load_artifact(model_dir, task="text").card
    model_dev = score_artifact(model_dir, [r.text for r in dev])
    model_test = score_artifact(model_dir, [r.text for r in test])
    base_dev, base_test, base_cal = _baseline_llrs(train, dev, test)

    dev_y = np.asarray([r.y for r in dev])
    dev_x = np.column_stack([model_dev, base_dev])
    test_x = np.column_stack([model_test, base_test])
    fusion, fusion_cal = calibrate_fusion(dev_y, dev_x, [r.family for r in dev])
    fused_test = fusion_cal.llr(fusion.raw(test_x))

    name = f"{card.name}-{card.version}"
    report = {
        "split": "test",
        "model": str(model_dir),
        "corpora": {k: str(v) for k, v in corpora.items() if v},
        "fusion": {"weights": {"model_llr": fusion.weights[0], "tfidf_llr": fusion.weights[1]},
                   "bias": fusion.bias, "calibration": fusion_cal.card_calibration(),
                   "thresholds": fusion_cal.thresholds, "fitted_on": "dev", "folds_for_thresholds": FOLDS},
        "systems": {
            name: evaluate_scores(test, model_test, card.thresholds),
            "tfidf_baseline": evaluate_scores(test, base_test, base_cal.thresholds),
            f"fusion({name}+tfidf)": evaluate_scores(test, fused_test, fusion_cal.thresholds),
        },
    }
    scores = {"model_dev": model_dev, "model_test": model_test, "tfidf_dev": base_dev, "tfidf_test": base_test,
              "fusion_test": fused_test, "dev_labels": dev_y, "test_labels": np.asarray([r.y for r in test])}
    return report, scores


def main(argv: Sequence[str] | None = None) -> None:
    from training.text.train import TextTrainConfig

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="exported model folder, e.g. models/text/1.2.0")
    parser.add_argument("--config", type=Path, required=True, help="training config whose corpora give the splits")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    corpora = TextTrainConfig.from_yaml(args.config).corpus_paths()
    report, scores = measure_fusion(args.model, corpora)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    np.savez(args.out / "scores.npz", **scores)  # type: ignore[arg-type]  # numpy types **kwds as allow_pickle
    markdown = ("# Transformer, TF-IDF baseline and their logistic fusion on the test split\n\n"
                f"Fusion (fitted on dev): {json.dumps(report['fusion'])}\n\n" + markdown_table(report["systems"]))
    (args.out / "report.md").write_text(markdown, encoding="utf-8")
    print(markdown)


if __name__ == "__main__":
    main()
