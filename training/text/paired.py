"""Two text models on the same split, text by text: is a difference in recall or false alarms real or noise?

A test split holds about 220 scams and 1,600 legit texts, so one model catching four more scams than another moves
recall by almost three points: within the noise of one training run. Comparing the two reports' percentages hides
that. Here both runs' per-text scores (`scores.csv` of `nepcheck eval text`) are paired by text, and for each group:

- the texts only one model gets right (the discordant pairs) with McNemar's exact two-sided p-value;
- a 95% interval for the difference (B - A) from a bootstrap that resamples whole families, since texts of one
  template family are not independent.

Each model is read at its own card's thresholds, as the service would verdict. Two models whose bands were fitted
on different dev splits can differ there by where their bands sit rather than by how well they rank, so
`--at-fpr 0.01` also reads each model, in each group, at the threshold that flags that share of the group's own
legit texts, and compares recall there: a diagnostic of ranking, not an operating point (the threshold is chosen on
the very texts it is read on).

    python -m training.text.paired runs/eval-1.2.0 runs/eval-1.3.0 [--at-fpr 0.01 --at-fpr 0.005]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.calibrate import threshold_at_fpr

BANDS = ("likely_scam", "scam")


@dataclass(frozen=True)
class RunScores:
    name: str
    thresholds: dict[str, float]
    llr: dict[str, float]  # text key -> LLR
    rows: dict[str, dict[str, str]]  # text key -> source, lang, kind, family, label


def read_run(run_dir: Path, system: str | None = None) -> RunScores:
    """The model's scores of one `nepcheck eval text --out` folder, or another system's in it ("tfidf_baseline",
    "<model> transformer only"), each at its own thresholds."""
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    name = system or next(iter(report["systems"]))
    if name not in report["systems"]:
        raise ValueError(f"{run_dir}: no system {name!r} in the report (has {sorted(report['systems'])})")
    overall = report["systems"][name]["overall"]  # each system's figures name the threshold they were read at
    thresholds = {band: overall[f"at_{band}"]["threshold"] for band in BANDS}
    llr: dict[str, float] = {}
    rows: dict[str, dict[str, str]] = {}
    with (run_dir / "scores.csv").open(encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            llr[record["key"]] = float(record[name])
            rows[record["key"]] = {k: record[k] for k in ("source", "lang", "kind", "family", "label")}
    return RunScores(name, {b: float(thresholds[b]) for b in BANDS}, llr, rows)


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value from the discordant counts."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1)) / 2**n
    return min(1.0, 2 * tail)


def family_bootstrap(correct_a: np.ndarray, correct_b: np.ndarray, families: Sequence[str], *,
                     rounds: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% interval of mean(correct_b) - mean(correct_a), resampling whole families."""
    names, index = np.unique(np.asarray(families), return_inverse=True)
    diff = correct_b.astype(np.float64) - correct_a.astype(np.float64)
    per_family_sum = np.bincount(index, weights=diff, minlength=names.size)
    per_family_n = np.bincount(index, minlength=names.size).astype(np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, names.size, size=(rounds, names.size))
    estimates = per_family_sum[draws].sum(axis=1) / np.maximum(per_family_n[draws].sum(axis=1), 1.0)
    low, high = np.quantile(estimates, [0.025, 0.975])
    return float(low), float(high)


def _threshold_at_fpr(run: RunScores, keys: Sequence[str], fpr: float) -> float:
    """`run`'s threshold that flags at most `fpr` of the legit texts among `keys` (none there: nothing flagged)."""
    legit = np.array([run.llr[k] for k in keys if run.rows[k]["label"] == "legit"])
    return threshold_at_fpr(legit, fpr) if legit.size else math.inf


def compare_group(a: RunScores, b: RunScores, keys: Sequence[str], thresholds: tuple[float, float], *,
                  rounds: int) -> dict[str, object]:
    """Recall on the group's scams and false alarms on its legit texts, A and B each read at its own threshold."""
    threshold_a, threshold_b = thresholds
    out: dict[str, object] = {}
    for label, metric in (("scam", "recall"), ("legit", "fpr")):
        chosen = [k for k in keys if a.rows[k]["label"] == label]
        if not chosen:
            continue
        flagged_a = np.array([a.llr[k] >= threshold_a for k in chosen])
        flagged_b = np.array([b.llr[k] >= threshold_b for k in chosen])
        # the interval is on the metric itself (B - A): up is better for recall, worse for false alarms
        sign = 1 if label == "scam" else -1
        low, high = family_bootstrap(flagged_a, flagged_b, [a.rows[k]["family"] for k in chosen], rounds=rounds)
        only_a = int(np.sum(flagged_a & ~flagged_b))
        only_b = int(np.sum(flagged_b & ~flagged_a))
        out[metric] = {
            "n": len(chosen), "a": float(flagged_a.mean()), "b": float(flagged_b.mean()),
            "flagged_only_by_a": only_a, "flagged_only_by_b": only_b, "mcnemar_p": mcnemar_p(only_a, only_b),
            "diff_ci95": [low, high], "better": _better(sign, low, high),
        }
    return out


def _better(sign: int, low: float, high: float) -> str:
    if low > 0:
        return "b" if sign > 0 else "a"
    if high < 0:
        return "a" if sign > 0 else "b"
    return "neither"


def compare(a: RunScores, b: RunScores, *, group_by: str = "lang", rounds: int = 2000,
            at_fpr: Sequence[float] = ()) -> dict[str, object]:
    shared = sorted(set(a.llr) & set(b.llr))
    if not shared:
        raise ValueError("the two runs share no texts: were they evaluated on the same split and corpora?")
    groups: dict[str, list[str]] = {"all": shared}
    for key in shared:
        groups.setdefault(f"{group_by}={a.rows[key][group_by]}", []).append(key)
    return {
        "a": a.name, "b": b.name, "shared_texts": len(shared),
        "only_in_a": len(set(a.llr) - set(b.llr)), "only_in_b": len(set(b.llr) - set(a.llr)),
        "groups": {name: {**{band: compare_group(a, b, keys, (a.thresholds[band], b.thresholds[band]), rounds=rounds)
                             for band in BANDS},
                          **{f"fpr={100 * f:g}%": compare_group(
                              a, b, keys, (_threshold_at_fpr(a, keys, f), _threshold_at_fpr(b, keys, f)),
                              rounds=rounds) for f in at_fpr}}
                   for name, keys in sorted(groups.items())},
    }


def markdown(result: dict[str, object]) -> str:
    lines = [f"A = {result['a']}, B = {result['b']}; {result['shared_texts']} texts in both "
             f"({result['only_in_a']} only in A, {result['only_in_b']} only in B).", "",
             "| group | band | metric | n | A | B | only A | only B | McNemar p | B - A, 95% (families) | better |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---|---|"]
    groups = result["groups"]
    assert isinstance(groups, dict)
    for name, bands in groups.items():
        for band, metrics in bands.items():
            for metric, m in metrics.items():
                low, high = m["diff_ci95"]
                lines.append(f"| {name} | {band} | {metric} | {m['n']} | {100 * m['a']:.1f}% | {100 * m['b']:.1f}% | "
                             f"{m['flagged_only_by_a']} | {m['flagged_only_by_b']} | {m['mcnemar_p']:.3f} | "
                             f"{100 * low:+.1f} to {100 * high:+.1f} | {m['better']} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_a", type=Path, help="`nepcheck eval text --out` folder of model A")
    parser.add_argument("run_b", type=Path, help="the same for model B, on the same split and corpora")
    parser.add_argument("--system-a", help="system name in A's report (default: its model)")
    parser.add_argument("--system-b", help="system name in B's report (default: its model)")
    parser.add_argument("--group-by", default="lang", choices=("lang", "kind", "source"))
    parser.add_argument("--rounds", type=int, default=2000, help="bootstrap rounds")
    parser.add_argument("--at-fpr", type=float, action="append", default=[],
                        help="also compare recall at this share of each group's legit texts flagged (repeat)")
    parser.add_argument("--json", type=Path, help="also write the comparison here")
    args = parser.parse_args(argv)
    result = compare(read_run(args.run_a, args.system_a), read_run(args.run_b, args.system_b),
                     group_by=args.group_by, rounds=args.rounds, at_fpr=args.at_fpr)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(markdown(result), end="")


if __name__ == "__main__":
    main()
