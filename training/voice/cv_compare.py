"""Side-by-side tables of cross-validation reports (`nepcheck eval voice-cv` / `voice-frames-cv` report.json):
pooled and mean fold EER per run and condition, EER per spoof family, bona fide false alarms per language at the
5% pooled false-alarm threshold. Runs compared must share folds, seeds and test conditions; this only reads.

    python -m training.voice.cv_compare runs/voice-frames/cv_probe_clean_seed0 runs/voice-frames/cv_heads_clean_seed0
    python -m training.voice.cv_compare --by-source runs/cv_v4_w3 whisper3 clean
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np


def load_runs(report_dirs: list[str]) -> list[dict[str, Any]]:
    """`DIR` or `DIR=PREFIX` (PREFIX is put before each run's name, to tell runs of the same head apart)."""
    runs: list[dict[str, Any]] = []
    for spec in report_dirs:
        folder, _, prefix = spec.partition("=")
        report = json.loads((Path(folder) / "report.json").read_text())
        for run in report["runs"]:
            runs.append({**run, "front_end": f"{prefix} {run['front_end']}".strip()})
    return runs


def _pct(value: float | None) -> str:
    return "-" if value is None or np.isnan(value) else f"{100 * value:.1f}"


def tables(runs: list[dict[str, Any]], min_family_clips: int = 1) -> str:
    lines = ["| run | condition | pooled EER | mean fold EER | fold EERs |", "|---|---|---:|---:|---|"]
    for r in runs:
        folds = [e for e in r["fold_eer"] if e is not None and not np.isnan(e)]
        lines.append(f"| {r['front_end']} | {r['condition']} | {_pct(r['pooled_eer'])}% | "
                     f"{_pct(float(np.mean(folds)) if folds else None)}% | "
                     f"{', '.join(_pct(e) for e in r['fold_eer'])} |")
    names = [f"{r['front_end']} {r['condition']}" for r in runs]
    families = sorted({f for r in runs for f in r["family_eer"]})
    lines += ["", "EER per spoof family (%)", "", "| family | clips | " + " | ".join(names) + " |",
              "|---|---:|" + "---:|" * len(runs)]
    for family in families:
        n = max(r["family_eer"].get(family, {}).get("n", 0) for r in runs)
        if n < min_family_clips:
            continue
        cells = [_pct(r["family_eer"].get(family, {}).get("eer")) for r in runs]
        lines.append(f"| {family} | {n} | " + " | ".join(cells) + " |")
    languages = sorted({lang for r in runs for lang in r["bonafide_fpr_by_language"]})
    lines += ["", "Bona fide false alarms per language at the 5% pooled false-alarm threshold (%)", "",
              "| language | clips | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(runs)]
    for lang in languages:
        n = max(r["bonafide_fpr_by_language"].get(lang, {}).get("n", 0) for r in runs)
        if n < 4:
            continue
        cells = [_pct(r["bonafide_fpr_by_language"].get(lang, {}).get("at_5pct_threshold")) for r in runs]
        lines.append(f"| {lang} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def source_table(scores_csv: Path, run: str, condition: str, min_clips: int = 10) -> str:
    """Per source, at the run's pooled EER threshold: the share of its bona fide clips called spoof and of its
    spoof clips missed. Errors concentrated in whole sources (a page's recording chain) rather than spread evenly
    say the head separates sources, not bona fide from spoof."""
    from training.spoof_metrics import compute_eer

    scores: dict[str, list[tuple[bool, float]]] = {}
    with scores_csv.open() as f:
        for row in csv.DictReader(f):
            if row["front_end"] == run and row["condition"] == condition:
                scores.setdefault(row["source"], []).append((row["label"] == "spoof", float(row["score"])))
    bona = np.array([v for s in scores.values() for spoof, v in s if not spoof])
    spoofs = np.array([v for s in scores.values() for spoof, v in s if spoof])
    _, threshold = compute_eer(bona, spoofs)
    lines = [f"Per source ({run}, {condition}), at the pooled EER threshold", "",
             "| source | bona fide | false alarms | spoof | missed |", "|---|---:|---:|---:|---:|"]
    for source, values in sorted(scores.items(), key=lambda kv: -len(kv[1])):
        if len(values) < min_clips:
            continue
        b = np.array([v for spoof, v in values if not spoof])
        p = np.array([v for spoof, v in values if spoof])
        fa = _pct(float(np.mean(b >= threshold))) if b.size else "-"
        miss = _pct(float(np.mean(p < threshold))) if p.size else "-"
        lines.append(f"| {source} | {b.size} | {fa} | {p.size} | {miss} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        raise SystemExit("usage: python -m training.voice.cv_compare REPORT_DIR[=LABEL] [...] "
                         "| --by-source REPORT_DIR RUN CONDITION")
    if args[0] == "--by-source":
        print(source_table(Path(args[1]) / "scores.csv", args[2], args[3]), end="")
        return
    print(tables(load_runs(args)), end="")


if __name__ == "__main__":
    main()
