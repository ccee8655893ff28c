"""CPU throughput of the text detector: each ONNX variant in a model folder against PyTorch fp32 eager.

The texts are the seed corpus's (shipped in the repo), tokenised by the service's `TextEncoder` from the
model's own tokenizer.json; one window per text, padded per batch as the service pads. Batch 1 is the telecom
transcript case, batch 32 the ad-scanning case. The ratio column is PyTorch time over ONNX Runtime time in the
same run, with the same threads.

    python -m benchmarks.text_throughput --model models/text/1.0.0 --checkpoint runs/text-minilm \
        --out benchmarks/results/text_throughput.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from service import engine
from service.card import TextInput
from service.registry import read_card
from service.settings import PROJECT_ROOT
from service.text.tokenize import TextEncoder
from training.text.corpora import load_seed

RESULTS = PROJECT_ROOT / "benchmarks" / "results"


def _batches(encoder: TextEncoder, texts: list[str], batch: int, count: int) -> list[dict[str, np.ndarray]]:
    windows = [encoder.windows(t)[0].input_ids for t in texts]
    return [encoder.collate([windows[(i * batch + j) % len(windows)] for j in range(batch)]) for i in range(count)]


def _time(run: Callable[[dict[str, np.ndarray]], Any], batches: list[dict[str, np.ndarray]], warmup: int) -> float:
    """Seconds per batch, median over the batches (after `warmup` untimed calls)."""
    for feeds in batches[:warmup]:
        run(feeds)
    times = []
    for feeds in batches:
        started = time.perf_counter()
        run(feeds)
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="exported folder, e.g. models/text/1.0.0")
    parser.add_argument("--checkpoint", type=Path, required=True, help="the fine-tuned transformers folder")
    parser.add_argument("--seed-dir", type=Path, default=PROJECT_ROOT / "datasets" / "text_seed")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--runs", type=int, default=40, help="timed batches per row")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "text_throughput.json")
    args = parser.parse_args()

    from transformers import AutoModelForSequenceClassification

    torch.set_num_threads(args.threads)
    card = read_card(args.model)
    spec = card.input
    assert isinstance(spec, TextInput)
    encoder = TextEncoder(args.model / spec.tokenizer, max_length=spec.max_length, stride=spec.stride)
    texts = [row.text for row in load_seed(args.seed_dir)]
    model = AutoModelForSequenceClassification.from_pretrained(args.checkpoint).eval()

    def eager(feeds: dict[str, np.ndarray]) -> Any:
        with torch.inference_mode():
            return model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).logits

    sessions = {}
    for name, variant in card.variants.items():
        if variant.precision == "fp16":
            continue  # a GPU variant: CPU timing would misrepresent it
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        sessions[name] = ort.InferenceSession(str(args.model / variant.file), options,
                                              providers=["CPUExecutionProvider"])

    rows = []
    for batch in args.batches:
        batches = _batches(encoder, texts, batch, args.runs)
        base = _time(eager, batches, warmup=3)
        rows.append({"runtime": "pytorch-fp32-eager", "batch": batch, "ms_per_batch": 1000 * base,
                     "texts_per_s": batch / base, "speedup_vs_eager": 1.0})
        for name, session in sessions.items():
            seconds = _time(lambda feeds, s=session: engine.run_logits(s, feeds), batches, warmup=3)
            rows.append({"runtime": f"onnxruntime-{name}", "batch": batch, "ms_per_batch": 1000 * seconds,
                         "texts_per_s": batch / seconds, "speedup_vs_eager": base / seconds})

    print(f"{card.name} {card.version}: {len(texts)} seed texts, first window each, {args.threads} thread(s)")
    print(f"{'runtime':<26}{'batch':>6}{'ms/batch':>11}{'texts/s':>10}{'x eager':>9}")
    for r in rows:
        print(f"{r['runtime']:<26}{r['batch']:>6}{r['ms_per_batch']:>11.2f}{r['texts_per_s']:>10.1f}"
              f"{r['speedup_vs_eager']:>9.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "text_throughput", "model": {"name": card.name, "version": card.version},
        "threads": args.threads, "runs": args.runs, "torch": torch.__version__, "onnxruntime": ort.__version__,
        "machine": platform.machine(), "results": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
