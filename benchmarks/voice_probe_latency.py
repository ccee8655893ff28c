"""Latency of the shipped voice model per 4 s window: ONNX Runtime (its card's variants) against PyTorch eager.

The same network (`training.voice.pooled.ProbeDetector`: Whisper-base encoder and LFCC statistics, pooled, with a
linear head) is run three ways in one process, at batch 1 and 32, with the thread counts given: the shipped ONNX
variant(s) in ONNX Runtime, an fp32 export of the same graph, and PyTorch eager. Eager uses random head weights
(cost does not depend on them). The speech gate (Silero VAD) is timed too, since the service runs it per clip.

    python -m benchmarks.voice_probe_latency --model models/voice/0.2.0 --threads 2 --runs 20
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from benchmarks.voice_latency import time_calls
from service.audio.vad import frame_probabilities
from service.registry import load_artifact
from service.settings import PROJECT_ROOT
from training.voice.onnx_export import export_onnx
from training.voice.pooled import ProbeDetector

RESULTS = PROJECT_ROOT / "benchmarks" / "results"


def session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="shipped voice model folder")
    parser.add_argument("--threads", type=int, nargs="+", default=[2])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=RESULTS / "voice_probe_latency.json")
    args = parser.parse_args()

    card = load_artifact(args.model).card
    network = card.model_extra.get("network", {}) if card.model_extra else {}
    front_ends = network.get("front_ends", ["whisper", "lfcc"])
    window = card.input.window_samples  # type: ignore[union-attr]
    rng = np.random.default_rng(0)
    inputs = {b: (0.1 * rng.standard_normal((b, window))).astype(np.float32) for b in args.batches}

    eager = _eager(front_ends)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        export_onnx(eager, fp32, window_samples=window)
        graphs = {f"onnx {v}": args.model / card.variants[v].file for v in card.variants}
        graphs["onnx fp32 (same graph, re-exported)"] = fp32
        for threads in args.threads:
            torch.set_num_threads(threads)
            sessions = {name: session(path, threads) for name, path in graphs.items()}
            for batch in args.batches:
                x = inputs[batch]
                runs = max(3, args.runs // (4 if batch > 8 else 1))
                with torch.inference_mode():
                    base = time_calls(partial(eager, torch.from_numpy(x)), runs, 2)
                rows.append({"engine": "pytorch eager fp32", "threads": threads, "batch": batch, **base,
                             "per_window_ms": base["p50"] / batch, "speed_up_vs_eager": 1.0})
                for name, sess in sessions.items():
                    t = time_calls(partial(sess.run, None, {"waveform": x}), runs, 2)
                    rows.append({"engine": name, "threads": threads, "batch": batch, **t,
                                 "per_window_ms": t["p50"] / batch, "speed_up_vs_eager": base["p50"] / t["p50"]})
    clip = (0.1 * rng.standard_normal(window)).astype(np.float32)
    vad = time_calls(lambda: frame_probabilities(clip, card.input.sample_rate), args.runs, 2)  # type: ignore[union-attr]
    print(f"voice model {card.version} ({'+'.join(front_ends)}), one 4 s window, CPU {platform.processor() or ''}")
    print("| engine | threads | batch | p50 ms | p90 ms | ms per window | x eager |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['engine']} | {r['threads']} | {r['batch']} | {r['p50']:.1f} | {r['p90']:.1f} | "
              f"{r['per_window_ms']:.1f} | {r['speed_up_vs_eager']:.2f} |")
    print(f"speech gate (Silero VAD, one 4 s window): p50 {vad['p50']:.1f} ms, p90 {vad['p90']:.1f} ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"model": str(args.model), "version": card.version, "front_ends": front_ends,
                                    "rows": rows, "speech_gate_ms": vad, "onnxruntime": ort.__version__,
                                    "torch": torch.__version__, "machine": platform.machine()}, indent=2))
    print(f"wrote {args.out}")


def _eager(front_ends: list[str]) -> ProbeDetector:
    from training.voice.pooled import build_front_end

    size = sum(build_front_end(n).n_features for n in front_ends)
    rng = np.random.default_rng(1)
    return ProbeDetector(front_ends, mean=np.zeros(size, np.float32), scale=np.ones(size, np.float32),
                         weight=(0.01 * rng.standard_normal(size)).astype(np.float32), bias=0.0).eval()


if __name__ == "__main__":
    main()
