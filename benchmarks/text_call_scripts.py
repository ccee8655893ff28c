"""Text models on the true text of the call scripts: a set no training row copies, by another writer.

datasets/call_scripts/ holds 106 Dutch and English phone calls (26 scam and 27 genuine per language), written for
the end-to-end ASR benchmark (`benchmarks.asr_calls`). Their true text, without synthesis or transcription, is an
independent check of a text model: the share of scam calls and of genuine calls at `likely_scam` or above, per
language, for each model given, in one run and through the service's own scoring path (`score_text`), so the
verdict bands are each model's own.

    python -m benchmarks.text_call_scripts --model models/text/1.4.0 --model OTHER_TEXT_MODEL
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from benchmarks.asr_calls import read_scripts
from service.loaded_models import load_text
from service.scoring import score_text
from service.settings import PROJECT_ROOT, Settings

FLAGGED = ("likely_scam", "scam")


async def _verdicts(model_dir: Path, rows: list[dict[str, str]]) -> list[str | None]:
    settings = Settings(models_dir=model_dir.parent.parent, text_model=model_dir.parent.name,
                        text_version=model_dir.name)
    model = load_text(settings)
    model.batcher.start()
    out = []
    for row in rows:
        result = await score_text(model, row["text"], lang=row["lang"], deadline=time.monotonic() + 60)
        out.append(result.verdict)
    await model.batcher.close()
    return out


def summarise(rows: list[dict[str, str]], verdicts: list[str | None]) -> list[dict[str, Any]]:
    table = []
    for lang in ("nl", "en"):
        for label in ("scam", "legit"):
            picked = [v for r, v in zip(rows, verdicts, strict=True) if r["lang"] == lang and r["label"] == label]
            table.append({"lang": lang, "label": label, "n": len(picked),
                          "flagged": round(sum(v in FLAGGED for v in picked) / len(picked), 4),
                          "scam": round(sum(v == "scam" for v in picked) / len(picked), 4)})
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append", required=True, help="a text model folder (repeat)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "benchmarks" / "results" / "text_call_scripts.json")
    args = parser.parse_args()

    rows = read_scripts()
    report = {}
    print("| model | lang | calls | n | at likely_scam or above | at scam |")
    print("|---|---|---|---:|---:|---:|")
    for model_dir in args.model:
        table = summarise(rows, asyncio.run(_verdicts(model_dir.resolve(), rows)))
        report[str(model_dir)] = table
        for t in table:
            calls = "scam" if t["label"] == "scam" else "genuine"
            print(f"| {model_dir.name} | {t['lang']} | {calls} | {t['n']} | {100 * t['flagged']:.0f}% "
                  f"| {100 * t['scam']:.0f}% |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
