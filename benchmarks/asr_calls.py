"""End to end: call scripts spoken by offline voices, through the telephone, transcribed, scored for scams.

For each script in datasets/call_scripts/ (106 Dutch and English calls, scam and genuine): synthesise it with
one of the offline voices (rotating over piper, espeak-ng, MBROLA and pico where installed), pass it through the
telephone chain (training/channel.py `telephone_mulaw`: voice band, 8 kHz G.711 mu-law), transcribe it with the
service's ASR model *without* a language hint, and score the transcript and the script's true text with the
service's text detector. Reported: the risk level from audio against the level from the true text (what
transcription costs), both against the scripts' labels, the word error rate, and language identification.
The voice detector is left out: every clip here is synthetic, so its verdict would say nothing about the words.

    python -m benchmarks.asr_calls [--limit N]    # prints the tables, writes results/asr_calls.json
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.asr_common import load_model, machine, normalise, to_16k, word_errors, write_json
from service.loaded_models import load_text
from service.risk import LEVELS
from service.scoring import score_text
from service.settings import PROJECT_ROOT, Settings
from training.channel import apply_condition
from training.synth.engines import discover_engines

SCRIPTS = PROJECT_ROOT / "datasets" / "call_scripts"
# (engine, voice) per language, in rotation; those not installed here are dropped.
VOICES = {
    "nl": [("espeak-ng", "nl"), ("mbrola", "mb-nl2"), ("espeak-ng", "nl+m3"), ("mbrola", "mb-nl3"),
           ("mbrola", "mb-nl1")],
    "en": [("piper", "joe"), ("espeak-ng", "en-us"), ("mbrola", "mb-us1"), ("pico", "en-GB"), ("mbrola", "mb-us3"),
           ("pico", "en-US")],
}
FLAG_LEVELS = ("high", "critical")  # likely_scam or scam


def read_scripts() -> list[dict[str, str]]:
    """Dutch and English interleaved, so that a partial run covers both languages."""
    by_lang = []
    for lang in ("nl", "en"):
        with (SCRIPTS / f"scripts_{lang}.tsv").open(encoding="utf-8") as f:
            by_lang.append([{"id": f"{lang}-{i:03d}", "lang": lang, **row}
                            for i, row in enumerate(csv.DictReader(f, delimiter="\t"))])
    rows: list[dict[str, str]] = []
    for i in range(max(len(scripts) for scripts in by_lang)):
        rows.extend(scripts[i] for scripts in by_lang if i < len(scripts))
    return rows


def _level(verdict: str | None) -> str:
    return "low" if verdict is None else LEVELS[("legit", "inconclusive", "likely_scam", "scam").index(verdict)]


async def _text_scores(text_model: Any, row: dict[str, Any]) -> dict[str, Any]:
    """The text detector on the script's true text, on the transcript and on the language-hinted transcript."""
    deadline = time.monotonic() + 60
    truth = await score_text(text_model, row["text"], lang=row["lang"], deadline=deadline)
    audio_text = (await score_text(text_model, row["transcript"], lang=row["detected"], deadline=deadline)
                  if row["transcript"].strip() else None)
    hinted_text = (await score_text(text_model, row["transcript_hinted"], lang=row["lang"], deadline=deadline)
                   if row["transcript_hinted"].strip() else None)
    return {"text_model": text_model.card.version,
            "true_verdict": truth.verdict, "true_score": round(truth.score, 4), "true_level": _level(truth.verdict),
            "audio_verdict": audio_text.verdict if audio_text else None,
            "audio_score": round(audio_text.score, 4) if audio_text else None,
            "audio_level": _level(audio_text.verdict if audio_text else None),
            "hinted_level": _level(hinted_text.verdict if hinted_text else None)}


async def rescore(rows: list[dict[str, Any]], models_dir: Path) -> list[dict[str, Any]]:
    """The same transcripts scored again by the text model now in `models_dir` (no synthesis, no ASR)."""
    text_model = load_text(Settings(models_dir=models_dir))
    text_model.batcher.start()
    rescored = [row | await _text_scores(text_model, row) for row in rows]
    await text_model.batcher.close()
    return rescored


async def run(args: argparse.Namespace) -> dict[str, Any]:
    asr = load_model(args.models_dir, threads=args.threads)
    text_model = load_text(Settings(models_dir=args.models_dir))
    text_model.batcher.start()
    engines = {e.name: e for e in discover_engines()}
    voices = {lang: [v for v in vs if v[0] in engines and v[1] in engines[v[0]].voices(lang)]
              for lang, vs in VOICES.items()}
    rng = np.random.default_rng(args.seed)
    # Resumable: calls already in the output file are kept, and the file is rewritten after every call.
    rows = json.loads(args.partial.read_text())["calls"] if args.partial.is_file() else []
    done = {row["id"] for row in rows}
    scripts = read_scripts()[: args.limit] if args.limit else read_scripts()
    for script in scripts:
        n = int(script["id"].split("-")[1])
        if script["id"] in done:
            continue
        engine_name, voice = voices[script["lang"]][n % len(voices[script["lang"]])]
        audio, rate = engines[engine_name].synthesize(script["text"], lang=script["lang"], voice=voice, rng=rng)
        phone = to_16k(apply_condition("telephone_mulaw", audio.astype(np.float32), rate, rng=rng), rate)
        heard = await asyncio.to_thread(asr.transcribe_blocking, phone)
        # With the call's language as a hint (a partner usually knows the country): the same decoding unless the
        # detector picked the wrong language, so only then is it run again.
        hinted = heard if heard.language == script["lang"] else await asyncio.to_thread(
            asr.transcribe_blocking, phone, lang=script["lang"])
        transcript = " ".join(s.text for s in heard.segments)
        transcript_hinted = " ".join(s.text for s in hinted.segments)
        reference = normalise(script["text"])
        row = {**script, "engine": engine_name, "voice": voice, "audio_s": round(len(phone) / 16000, 2),
               "asr_s": round(heard.elapsed_s, 2), "detected": heard.language, "transcript": transcript,
               "words": len(reference), "errors": word_errors(reference, normalise(transcript)),
               "transcript_hinted": transcript_hinted,
               "errors_hinted": word_errors(reference, normalise(transcript_hinted))}
        row |= await _text_scores(text_model, row)
        rows.append(row)
        args.partial.write_text(json.dumps({"calls": rows}, ensure_ascii=False))
        print(f"{row['id']} {engine_name}:{voice} {row['label']} true={row['true_level']} audio={row['audio_level']} "
              f"hinted={row['hinted_level']} wer={row['errors']}/{row['words']} lang={row['detected']}", flush=True)
    await text_model.batcher.close()
    asr.close()
    return {"rows": rows}


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["lang"]].append(row)
        groups["all"].append(row)
    out = []
    for name in ("nl", "en", "all"):
        g = groups.get(name, [])
        if not g:
            continue
        scams = [r for r in g if r["label"] == "scam"]
        legit = [r for r in g if r["label"] == "legit"]
        out.append({
            "lang": name, "calls": len(g),
            "wer": round(sum(r["errors"] for r in g) / max(1, sum(r["words"] for r in g)), 4),
            "language_id_accuracy": round(sum(r["detected"] == r["lang"] for r in g) / len(g), 4),
            "wer_hinted": round(sum(r["errors_hinted"] for r in g) / max(1, sum(r["words"] for r in g)), 4),
            "level_agreement": round(sum(r["audio_level"] == r["true_level"] for r in g) / len(g), 4),
            "level_agreement_hinted": round(sum(r["hinted_level"] == r["true_level"] for r in g) / len(g), 4),
            "scam_recall_audio_hinted": round(sum(r["hinted_level"] in FLAG_LEVELS for r in scams)
                                              / max(1, len(scams)), 4),
            "false_alarms_audio_hinted": round(sum(r["hinted_level"] in FLAG_LEVELS for r in legit)
                                               / max(1, len(legit)), 4),
            "level_within_one": round(sum(abs(LEVELS.index(r["audio_level"]) - LEVELS.index(r["true_level"])) <= 1
                                          for r in g) / len(g), 4),
            "scam_recall_true_text": round(sum(r["true_level"] in FLAG_LEVELS for r in scams) / max(1, len(scams)), 4),
            "scam_recall_audio": round(sum(r["audio_level"] in FLAG_LEVELS for r in scams) / max(1, len(scams)), 4),
            "false_alarms_true_text": round(sum(r["true_level"] in FLAG_LEVELS for r in legit) / max(1, len(legit)), 4),
            "false_alarms_audio": round(sum(r["audio_level"] in FLAG_LEVELS for r in legit) / max(1, len(legit)), 4),
            "rtf": round(sum(r["asr_s"] for r in g) / sum(r["audio_s"] for r in g), 3),
        })
    return out


def print_tables(summary: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    print(f"\n{'lang':<4} {'calls':>5} {'WER':>6} {'lang id':>7} {'level =':>7} {'+-1':>5} "
          f"{'scam recall text/audio':>22} {'false alarms text/audio':>23} {'RTF':>5}")
    for s in summary:
        print(f"{s['lang']:<4} {s['calls']:>5} {100 * s['wer']:>5.1f}% {100 * s['language_id_accuracy']:>6.0f}% "
              f"{100 * s['level_agreement']:>6.0f}% {100 * s['level_within_one']:>4.0f}% "
              f"{100 * s['scam_recall_true_text']:>13.0f}% / {100 * s['scam_recall_audio']:>3.0f}% "
              f"{100 * s['false_alarms_true_text']:>14.0f}% / {100 * s['false_alarms_audio']:>3.0f}% {s['rtf']:>5.2f}")
    print("\nwith the call's language as a hint")
    print(f"{'lang':<4} {'WER':>6} {'level =':>7} {'scam recall audio':>17} {'false alarms audio':>18}")
    for s in summary:
        print(f"{s['lang']:<4} {100 * s['wer_hinted']:>5.1f}% {100 * s['level_agreement_hinted']:>6.0f}% "
              f"{100 * s['scam_recall_audio_hinted']:>16.0f}% {100 * s['false_alarms_audio_hinted']:>17.0f}%")
    confusion = Counter((r["true_level"], r["audio_level"]) for r in rows)
    print("\nrisk level from the true text (rows) vs from the audio (columns)")
    print(f"{'':<9}" + "".join(f"{lvl:>9}" for lvl in LEVELS))
    for true in LEVELS:
        print(f"{true:<9}" + "".join(f"{confusion[(true, heard)]:>9}" for heard in LEVELS))
    by_engine: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in rows:
        e = by_engine[f"{r['lang']} {r['engine']}"]
        e[0] += r["errors"]
        e[1] += r["words"]
        e[2] += r["audio_level"] == r["true_level"]
    print("\nper voice engine: WER, level agreement")
    for name, (errors, words, agree) in sorted(by_engine.items()):
        calls = sum(1 for r in rows if f"{r['lang']} {r['engine']}" == name)
        print(f"{name:<16} {100 * errors / max(1, words):>5.1f}%  {agree}/{calls}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=PROJECT_ROOT / "models")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="first N scripts only (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--partial", type=Path, default=PROJECT_ROOT / "runs" / "asr-calls" / "partial.json",
                        help="per-call results so far; a rerun resumes from it")
    parser.add_argument("--report-only", action="store_true", help="print the tables from --partial and stop")
    parser.add_argument("--rescore", action="store_true",
                        help="score --partial's transcripts again with the current text model (after a new one ships)")
    args = parser.parse_args()
    args.partial.parent.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        rows = json.loads(args.partial.read_text())["calls"]
        print_tables(summarise(rows), rows)
        return
    if args.rescore:
        rows = asyncio.run(rescore(json.loads(args.partial.read_text())["calls"], args.models_dir))
        args.partial.write_text(json.dumps({"calls": rows}, ensure_ascii=False))
    else:
        rows = asyncio.run(run(args))["rows"]
    summary = summarise(rows)
    print_tables(summary, rows)
    path = write_json("asr_calls.json", {"machine": machine(), "threads": args.threads,
                                         "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                         "summary": summary, "calls": rows}, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
