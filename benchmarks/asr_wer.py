"""Word error rate of the service's ASR model on real Dutch and English speech, clean and through 8 kHz mu-law.

Sets (each read where it lies, nothing copied into the repository):
- `flemish`: rhasspy/dataset-voice-flemishguy (CC0; one native Flemish speaker, 24 kHz), a bare git snapshot;
  transcripts from its metadata.csv. A seeded sample of `--flemish N` clips.
- `fleurs-en`: the 10 English FLEURS clips (CC BY 4.0) in sebastian-software/cuttledoc's fixtures, with their
  transcripts beside them (the same clips as ../shared/data/speech/real_extra/cuttledoc_fleurs).
Conditions: `clean` and `mulaw8k` (training/channel.py: down to 8 kHz, G.711 mu-law, back up). Decoding is the
card's, with the set's language as the hint; language detection (no hint, the card's languages) is scored too.

    python -m benchmarks.asr_wer --threads 2 [--flemish 60]    # prints the table, writes results/asr_wer.json
"""

from __future__ import annotations

import argparse
import random
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.asr_common import (
    git_show,
    load_model,
    machine,
    normalise,
    read_audio,
    to_16k,
    word_errors,
    write_json,
)
from service.settings import PROJECT_ROOT
from training.channel import apply_condition

MIRROR = Path("/work/.mirror")
FLEMISH = "rhasspy+dataset-voice-flemishguy/repo"
CUTTLEDOC = "sebastian-software+cuttledoc/repo"


def flemish_clips(mirror: Path, n: int, seed: int) -> list[dict[str, Any]]:
    repo = mirror / FLEMISH
    rows = [line.split("|", 1) for line in git_show(repo, "metadata.csv").decode("utf-8").splitlines() if "|" in line]
    picked = random.Random(seed).sample(rows, min(n, len(rows)))
    return [{"set": "flemish", "lang": "nl", "id": utt, "reference": text.strip(),
             "load": lambda utt=utt: read_audio(git_show(repo, f"wavs/{utt}.wav"))} for utt, text in picked]


def fleurs_clips(mirror: Path) -> list[dict[str, Any]]:
    repo = mirror / CUTTLEDOC
    out = []
    for i in range(10):
        stem = f"packages/cuttledoc/fixtures/fleurs-en-{i:03d}"
        out.append({"set": "fleurs-en", "lang": "en", "id": stem.rsplit("/", 1)[1],
                    "reference": git_show(repo, f"{stem}.txt").decode("utf-8").strip(),
                    "load": lambda stem=stem: read_audio(git_show(repo, f"{stem}.ogg"))})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=PROJECT_ROOT / "models")
    parser.add_argument("--mirror", type=Path, default=MIRROR)
    parser.add_argument("--flemish", type=int, default=60, help="Flemish clips to sample")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    model = load_model(args.models_dir, threads=args.threads)
    clips = flemish_clips(args.mirror, args.flemish, args.seed) + fleurs_clips(args.mirror)
    rng = np.random.default_rng(args.seed)
    rows = []
    for clip in clips:
        samples, rate = clip.pop("load")()
        samples = samples.mean(axis=1) if samples.ndim == 2 else samples
        reference = normalise(clip["reference"])
        for condition in ("clean", "mulaw8k"):
            audio = to_16k(apply_condition(condition, samples.astype(np.float32), rate, rng=rng), rate)
            result = model.transcribe_blocking(audio, lang=clip["lang"])
            hypothesis = normalise(" ".join(s.text for s in result.segments))
            detected, _ = model._detect(audio)
            rows.append({**clip, "condition": condition, "hypothesis": " ".join(hypothesis),
                         "words": len(reference), "errors": word_errors(reference, hypothesis),
                         "audio_s": round(len(audio) / 16000, 3), "elapsed_s": round(result.elapsed_s, 3),
                         "detected": detected})
        print(f"{clip['set']} {clip['id']} {rows[-2]['errors']}/{len(reference)} {rows[-1]['errors']}/{len(reference)}",
              flush=True)

    table: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        t = table[(row["set"], row["condition"])]
        t["clips"] += 1
        t["words"] += row["words"]
        t["errors"] += row["errors"]
        t["audio_s"] += row["audio_s"]
        t["elapsed_s"] += row["elapsed_s"]
        t["lang_ok"] += row["detected"] == row["lang"]
    summary = []
    print(f"\n{'set':<10} {'condition':<9} {'clips':>5} {'words':>6} {'WER':>7} {'lang id':>8} {'RTF':>6}")
    for (name, condition), t in sorted(table.items()):
        entry: dict[str, Any] = {
                 "set": name, "condition": condition, "clips": int(t["clips"]), "words": int(t["words"]),
                 "wer": round(t["errors"] / t["words"], 4), "language_id_accuracy": round(t["lang_ok"] / t["clips"], 4),
                 "rtf": round(t["elapsed_s"] / t["audio_s"], 3)}
        summary.append(entry)
        print(f"{name:<10} {condition:<9} {entry['clips']:>5} {entry['words']:>6} {100 * entry['wer']:>6.1f}% "
              f"{100 * entry['language_id_accuracy']:>7.0f}% {entry['rtf']:>6.2f}")
    path = write_json("asr_wer.json", {
        "model": model.ident, "decoding": model.card.decoding.model_dump(), "threads": args.threads,
        "machine": machine(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "summary": summary, "clips": rows}, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
