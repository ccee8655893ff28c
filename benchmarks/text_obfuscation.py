"""Obfuscation tricks against a text model, with the service's normalisation and without it, in one run.

Each trick (zero-width characters between letters, letter spacing, Cyrillic look-alike letters, UPPERCASE, bidi
controls around words) is applied to every scam and legit text of the seed corpus's test split. "without" feeds
the raw text to the tokenizer, as text 1.0.0 was served before normalisation; "with" goes through the
service's `TextEncoder`, which normalises first (`service.text.normalize`). The table gives the mean calibrated
score and the share flagged at the card's `likely_scam` band.

    python -m benchmarks.text_obfuscation --model models/text/1.0.0
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from service.calibration import llr_to_probability, logits_to_llr
from service.card import TextInput
from service.registry import load_artifact
from service.settings import PROJECT_ROOT
from service.text.ngram_model import NgramModel
from service.text.tokenize import TextEncoder
from training.text.corpora import load_seed, select
from training.text.onnx_scoring import max_window_llr, ngram_offsets, open_session

LOOK_ALIKES = str.maketrans({"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "i": "і"})
TRICKS: dict[str, Callable[[str], str]] = {
    "plain": lambda t: t,
    "zero-width": lambda t: "\u200b".join(t),
    "letter-spaced": lambda t: " ".join(" ".join(word) for word in t.split()),
    "cyrillic look-alikes": lambda t: t.translate(LOOK_ALIKES),
    "uppercase": str.upper,
    "bidi controls": lambda t: " ".join(f"\u202e{word}\u202c" for word in t.split()),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--seed-dir", type=Path, default=PROJECT_ROOT / "datasets" / "text_seed")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "benchmarks" / "results" / "text_obfuscation.json")
    args = parser.parse_args()

    artifact = load_artifact(args.model, task="text")
    spec = artifact.card.input
    assert isinstance(spec, TextInput)
    encoder = TextEncoder(args.model / spec.tokenizer, max_length=spec.max_length, stride=spec.stride)
    raw = Tokenizer.from_file(str(args.model / spec.tokenizer))
    raw.no_padding()
    raw.enable_truncation(max_length=spec.max_length, stride=spec.stride)
    session = open_session(artifact.onnx_path, "text")
    ngram = NgramModel.of(artifact)
    likely = artifact.card.thresholds["likely_scam"]

    def without_normalisation(texts: list[str]) -> np.ndarray:
        # the n-gram half, when the model has one, also reads the raw text here
        offsets = ngram.offsets(texts) if ngram is not None else np.zeros(len(texts))
        out = []
        for text, offset in zip(texts, offsets.tolist(), strict=True):
            encoding = raw.encode(text)
            windows = [np.asarray(e.ids, dtype=np.int64) for e in [encoding, *encoding.overflowing]]
            (logits,) = session.run(["logits"], encoder.collate(windows))
            out.append(float(np.max(logits_to_llr(logits, artifact.card.calibration, offset))))
        return np.array(out)

    rows = select(load_seed(args.seed_dir), "test")
    results = []
    print(f"text {artifact.card.version}: mean score / flagged at likely_scam, seed test split")
    print("| trick | label | n | without normalisation | with normalisation |")
    print("|---|---|---:|---:|---:|")
    for name, trick in TRICKS.items():
        for label in ("scam", "legit"):
            texts = [trick(r.text) for r in rows if r.label == label]
            before = without_normalisation(texts)
            after = max_window_llr(session, encoder, texts, artifact.card.calibration,
                                   offsets=ngram_offsets(ngram, texts))
            cells = [(float(llr_to_probability(v).mean()), float(np.mean(v >= likely))) for v in (before, after)]
            results.append({"trick": name, "label": label, "n": len(texts), "without": cells[0], "with": cells[1]})
            print(f"| {name} | {label} | {len(texts)} | " + " | ".join(f"{s:.3f} / {100 * f:.0f}%" for s, f in cells)
                  + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"model": str(args.model), "rows": results}, indent=2))


if __name__ == "__main__":
    main()
