"""Leave-sources-and-families-out cross-validation of front-ends on cached window features.

One dev split is too small and too particular to choose a detector by: the dev and eval EERs of voice 0.1.0
(31% and 48%) disagreed by 17 points. Here every source (a demo page, a corpus, a synthesiser) and every spoof
family (`family_of`: the waveform generator) is assigned to one of k folds. Fold i tests on the clips whose source
*and* family (bona fide: source only) belong to fold i, and trains on the clips whose source and family belong
to no test fold of i, so a test clip's page, recording chain and vocoder family were never seen in training.
Clips whose source and family fall in different folds are neither (they would leak one into the other).
Sources named `eval_only` (data published for evaluation, never training) only ever test.

The head is a class-balanced logistic regression on standardised pooled features; a clip's score is the mean
window score, as the service aggregates. Out-of-fold scores are pooled across folds for EER, per family and
per language, and for fitting the calibration the shipped model uses (`fit_oof_calibration`).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from training.corpora.manifest import ManifestRow, family_of
from training.spoof_metrics import compute_eer
from training.voice.features import WindowFeatures

log = logging.getLogger(__name__)


def _fold_of(name: str, k: int, seed: int) -> int:
    """A stable fold per group name (no dependence on which other groups exist)."""
    digest = hashlib.sha256(f"{seed}|{name}".encode()).digest()
    return int.from_bytes(digest[:4], "little") % k


@dataclass(frozen=True)
class Folds:
    k: int
    test: list[np.ndarray]  # per fold: clip indices tested
    train: list[np.ndarray]  # per fold: clip indices trained on


def make_folds(rows: Sequence[ManifestRow], k: int = 5, *, seed: int = 0,
               eval_only: Sequence[str] = ()) -> Folds:
    source_fold = np.array([_fold_of(f"source:{r.source}", k, seed) for r in rows])
    family_fold = np.array([
        source_fold[i] if r.label == "bonafide" else _fold_of(f"family:{family_of(r)}", k, seed)
        for i, r in enumerate(rows)
    ])
    only_eval = np.array([r.source in set(eval_only) for r in rows])
    tests, trains = [], []
    for fold in range(k):
        test = (source_fold == fold) & (family_fold == fold)
        train = (source_fold != fold) & (family_fold != fold) & ~only_eval
        tests.append(np.flatnonzero(test))
        trains.append(np.flatnonzero(train))
    return Folds(k, tests, trains)


@dataclass
class Head:
    """Standardisation and logistic-regression weights; `score` gives the spoof-minus-bona-fide logit."""

    mean: np.ndarray
    scale: np.ndarray
    weight: np.ndarray
    bias: float

    def score(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.weight + self.bias


def fit_head(x: np.ndarray, y: np.ndarray, *, c: float = 0.01, sample_weight: np.ndarray | None = None) -> Head:
    """Class-balanced L2 logistic regression; `c` small because features (7,000+) outnumber clips' sources."""
    scaler = StandardScaler().fit(x)
    scale = np.where(scaler.scale_ > 1e-6, scaler.scale_, 1.0)
    z = (x - scaler.mean_) / scale
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    model.fit(z, y, sample_weight=sample_weight)
    return Head(scaler.mean_.astype(np.float32), scale.astype(np.float32), model.coef_[0].astype(np.float32),
                float(model.intercept_[0]))


class Scorer(Protocol):
    def score(self, x: np.ndarray) -> np.ndarray: ...


# (window features, labels 1 = spoof, window weights, clip index of each window) -> a fitted scorer
FitFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], Scorer]


def clip_scores(head: Scorer, windows: WindowFeatures, clips: np.ndarray) -> dict[int, float]:
    """Mean window score per clip, for the clips listed (the service's aggregation)."""
    wanted = np.isin(windows.clip, clips)
    scores = head.score(windows.features[wanted])
    ids = windows.clip[wanted]
    sums = Counter[int]()
    counts = Counter[int]()
    for clip, s in zip(ids.tolist(), scores.tolist(), strict=True):
        sums[clip] += s
        counts[clip] += 1
    return {clip: sums[clip] / counts[clip] for clip in counts}


def window_weights(windows: WindowFeatures, rows: Sequence[ManifestRow], balance: float = 0.0) -> np.ndarray:
    """Each clip weighs the same whatever its number of windows, times n^-balance for its (source, label) group
    of n clips: at 0 every clip counts alike, at 1 every group does. One big single-speaker source (1,139
    Flemish clips) must not define what "real" sounds like."""
    counts = np.bincount(windows.clip)
    weights = 1.0 / counts[windows.clip]
    if balance:
        groups = [(r.source, r.label) for r in rows]
        sizes = Counter(groups)
        per_clip = np.array([sizes[g] ** -balance for g in groups])
        weights = weights * per_clip[windows.clip]
        weights = weights / weights.mean()
    return weights


@dataclass
class CVResult:
    front_end: str
    train_conditions: tuple[str, ...]
    scores: dict[str, dict[int, float]] = field(default_factory=dict)  # condition -> clip -> out-of-fold score
    fold_eer: dict[str, list[float]] = field(default_factory=dict)  # condition -> EER per fold


def cross_validate(
    rows: Sequence[ManifestRow],
    features: dict[str, WindowFeatures],
    folds: Folds,
    *,
    front_end: str,
    train_conditions: Sequence[str],
    test_conditions: Sequence[str],
    c: float = 0.01,
    balance: float = 0.0,
    fit: FitFn | None = None,
) -> CVResult:
    """Out-of-fold clip scores under each test condition; training pools the windows of `train_conditions`.
    `fit` replaces the logistic head (e.g. a time-resolved head on cached frames, `training.voice.head_train`)."""
    labels = np.array([r.label == "spoof" for r in rows], dtype=int)
    result = CVResult(front_end, tuple(train_conditions))
    for condition in test_conditions:
        result.scores[condition] = {}
        result.fold_eer[condition] = []
    for fold in range(folds.k):
        train_x, train_y, train_w, train_clip = [], [], [], []
        for condition in train_conditions:
            w = features[condition]
            keep = np.isin(w.clip, folds.train[fold])
            train_x.append(w.features[keep])
            train_y.append(labels[w.clip[keep]])
            train_w.append(window_weights(w, rows, balance)[keep])
            train_clip.append(w.clip[keep])
        head: Scorer
        if fit is None:
            head = fit_head(np.concatenate(train_x), np.concatenate(train_y), c=c,
                            sample_weight=np.concatenate(train_w))
        else:
            head = fit(np.concatenate(train_x), np.concatenate(train_y), np.concatenate(train_w),
                       np.concatenate(train_clip))
        del train_x
        for condition in test_conditions:
            scores = clip_scores(head, features[condition], folds.test[fold])
            result.scores[condition].update(scores)
            ids = np.array(sorted(scores))
            if len(set(labels[ids])) == 2:
                s = np.array([scores[i] for i in ids])
                result.fold_eer[condition].append(float(compute_eer(s[labels[ids] == 0], s[labels[ids] == 1])[0]))
            else:
                result.fold_eer[condition].append(float("nan"))
        log.info("%s fold %d: train %d clips, test %d clips, EER %s", front_end, fold, folds.train[fold].size,
                 folds.test[fold].size, {c: round(result.fold_eer[c][-1], 4) for c in test_conditions})
    return result


def merge(results: Sequence[CVResult]) -> CVResult:
    """Repeats of cross-validation with other fold seeds as one result: each clip's score is the mean of the
    held-out scores it got (it is tested in a repeat only when its source and family share a test fold), and the
    per-fold EERs of every repeat are kept."""
    merged = CVResult(results[0].front_end, results[0].train_conditions)
    for condition in results[0].scores:
        collected: dict[int, list[float]] = {}
        for result in results:
            for clip, score in result.scores[condition].items():
                collected.setdefault(clip, []).append(score)
        merged.scores[condition] = {clip: float(np.mean(v)) for clip, v in collected.items()}
        merged.fold_eer[condition] = [e for result in results for e in result.fold_eer[condition]]
    return merged


def concat_features(parts: Sequence[WindowFeatures]) -> WindowFeatures:
    """Fusion by concatenation: the same windows of several front-ends side by side."""
    first = parts[0]
    for other in parts[1:]:
        if not np.array_equal(other.clip, first.clip):
            raise ValueError("front-end caches hold different windows; re-extract them together")
    return WindowFeatures(np.concatenate([p.features for p in parts], axis=1), first.clip)


def _eer(bonafide: list[float], spoof: list[float]) -> float | None:
    if not bonafide or not spoof:
        return None
    return float(compute_eer(np.array(bonafide), np.array(spoof))[0])


def summarise(rows: Sequence[ManifestRow], result: CVResult, condition: str) -> dict[str, object]:
    """Pooled and per-fold EER, EER per spoof family (against every tested bona fide clip), and bona fide false
    alarms per language at the pooled EER threshold, at 5% pooled false alarms (the `likely_fake` band of
    `probe_export`) and at 1%."""
    scores = result.scores[condition]
    bona = {i: s for i, s in scores.items() if rows[i].label == "bonafide"}
    spoof = {i: s for i, s in scores.items() if rows[i].label == "spoof"}
    eer, threshold = compute_eer(np.array(list(bona.values())), np.array(list(spoof.values())))
    strict = float(np.quantile(np.array(list(bona.values())), 0.99))
    five = float(np.quantile(np.array(list(bona.values())), 0.95))
    families: dict[str, list[float]] = {}
    for i, s in spoof.items():
        families.setdefault(family_of(rows[i]), []).append(s)
    languages: dict[str, list[float]] = {}
    for i, s in bona.items():
        languages.setdefault((rows[i].language or "?").split("-")[0].lower(), []).append(s)
    return {
        "condition": condition,
        "front_end": result.front_end,
        "clips": {"bonafide": len(bona), "spoof": len(spoof)},
        "pooled_eer": float(eer),
        "fold_eer": result.fold_eer[condition],
        "family_eer": {f: {"n": len(v), "eer": _eer(list(bona.values()), v)} for f, v in sorted(families.items())},
        "bonafide_fpr_by_language": {
            lang: {"n": len(v), "at_eer_threshold": float(np.mean(np.array(v) >= threshold)),
                   "at_5pct_threshold": float(np.mean(np.array(v) > five)),
                   "at_1pct_threshold": float(np.mean(np.array(v) > strict))}
            for lang, v in sorted(languages.items())
        },
    }


def markdown(summaries: Sequence[dict[str, object]]) -> str:
    """Overview table (front-end x condition), then per-family and per-language tables of each run."""
    lines = ["| front-end | condition | bona fide | spoof | pooled EER | fold EERs |", "|---|---|---:|---:|---:|---|"]
    for s in summaries:
        clips = s["clips"]
        assert isinstance(clips, dict)
        folds = ", ".join("-" if np.isnan(e) else f"{100 * e:.1f}" for e in s["fold_eer"])  # type: ignore[attr-defined]
        lines.append(f"| {s['front_end']} | {s['condition']} | {clips['bonafide']} | {clips['spoof']} | "
                     f"{100 * float(s['pooled_eer']):.1f}% | {folds} |")  # type: ignore[arg-type]
    for s in summaries:
        lines += ["", f"### {s['front_end']}, {s['condition']}: EER per spoof family", "",
                  "| family | spoof clips | EER |", "|---|---:|---:|"]
        for family, v in s["family_eer"].items():  # type: ignore[attr-defined]
            eer = "-" if v["eer"] is None else f"{100 * v['eer']:.1f}%"
            lines.append(f"| {family} | {v['n']} | {eer} |")
        lines += ["", f"### {s['front_end']}, {s['condition']}: bona fide false alarms per language", "",
                  "| language | clips | at EER threshold | at 5% threshold | at 1% threshold |",
                  "|---|---:|---:|---:|---:|"]
        for lang, v in s["bonafide_fpr_by_language"].items():  # type: ignore[attr-defined]
            lines.append(f"| {lang} | {v['n']} | {100 * v['at_eer_threshold']:.1f}% | "
                         f"{100 * v.get('at_5pct_threshold', float('nan')):.1f}% | "
                         f"{100 * v['at_1pct_threshold']:.1f}% |")
    return "\n".join(lines) + "\n"
