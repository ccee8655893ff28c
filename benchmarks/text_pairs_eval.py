"""Describing is not doing: a text model on pairs of texts that share the same scam wording.

Each pair of `datasets/text_pairs` holds a scam and a legit text (a warning, news item, report or forwarded
warning that quotes the very same wording). The model is scored through the service's path (normalisation,
token windows, max over windows, the card's calibration) and judged at the card's bands: legit texts flagged
at `likely_scam` and `scam`, scams reached, per language and per kind, and the share of pairs ranked the right
way round (the scam above its own warning). Several models in one run compare on the same texts.

    python -m benchmarks.text_pairs_eval --model models/text/1.4.0
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from service.registry import load_artifact
from service.settings import PROJECT_ROOT
from training.text.onnx_scoring import score_artifact

PAIRS = PROJECT_ROOT / "datasets" / "text_pairs"


def read_pairs(folder: Path) -> list[dict[str, str]]:
    return [json.loads(line) for path in sorted(folder.glob("*.jsonl")) for line in path.open() if line.strip()]


def evaluate(model: Path, rows: list[dict[str, str]]) -> dict[str, Any]:
    card = load_artifact(model, task="text").card
    llr = score_artifact(model, [r["text"] for r in rows])
    likely, scam = card.thresholds["likely_scam"], card.thresholds["scam"]
    groups: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        groups[f"{r['lang']} {r['label']}"].append(i)
        groups[f"kind {r['kind']}"].append(i)
    table = {}
    for name, idx in sorted(groups.items()):
        values = llr[idx]
        table[name] = {"n": len(idx), "at_likely_scam": float(np.mean(values >= likely)),
                       "at_scam": float(np.mean(values >= scam))}
    by_family: dict[str, dict[str, float]] = defaultdict(dict)
    for i, r in enumerate(rows):
        by_family[r["family"]][r["label"]] = float(llr[i])
    ordered = [f for f in by_family.values() if set(f) == {"scam", "legit"}]
    return {"model": str(model), "version": card.version, "groups": table,
            "pairs_ranked_right": float(np.mean([f["scam"] > f["legit"] for f in ordered])), "pairs": len(ordered)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append", required=True)
    parser.add_argument("--pairs", type=Path, default=PAIRS)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "benchmarks" / "results" / "text_pairs.json")
    args = parser.parse_args()
    rows = read_pairs(args.pairs)
    results = [evaluate(m, rows) for m in args.model]
    names = sorted(results[0]["groups"])
    print("share of texts at or above each band (legit rows: false alarms; scam rows: recall)")
    print("| group | n | " + " | ".join(f"{r['version']} likely_scam | {r['version']} scam" for r in results) + " |")
    print("|---|---:|" + "---:|---:|" * len(results))
    for name in names:
        cells = " | ".join(f"{100 * g['at_likely_scam']:.1f}% | {100 * g['at_scam']:.1f}%"
                           for g in (r["groups"][name] for r in results))
        print(f"| {name} | {results[0]['groups'][name]['n']} | {cells} |")
    for r in results:
        print(f"{r['version']}: scam ranked above its own warning in {100 * r['pairs_ranked_right']:.1f}% of "
              f"{r['pairs']} pairs")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
