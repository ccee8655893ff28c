"""CPU latency of each voice network for one window: ONNX Runtime against PyTorch eager, in the same run.

For every network in the registry: trainable parameter count, ONNX file size, and the latency of one window
(batch 1) through the exported graph in ONNX Runtime and through the PyTorch module, each with one intra-op
thread and with all cores, median and p95 over --runs calls after --warmup calls. Weights are random: latency
does not depend on their values. The ONNX graph is also checked against PyTorch on the benchmark input, so a
fast graph that computes something else cannot pass unnoticed.

    python -m benchmarks.voice_latency --runs 30 --out benchmarks/results/voice_latency.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from benchmarks.timing import time_calls
from service import engine
from service.settings import PROJECT_ROOT
from training.helpers import count_parameters
from training.voice.networks import NETWORKS, build_network
from training.voice.onnx_export import export_onnx

RESULTS = PROJECT_ROOT / "benchmarks" / "results"


def bench_network(name: str, *, rate: int, window: int, threads: list[int], runs: int, warmup: int,
                  workdir: Path) -> dict[str, Any]:
    torch.manual_seed(0)
    model = build_network(name, sample_rate=rate, window_samples=window).eval()
    path = workdir / f"{name}.onnx"
    started = time.perf_counter()
    export_onnx(model, path, window_samples=window)
    export_s = time.perf_counter() - started
    x = (0.1 * np.random.default_rng(0).standard_normal((1, window))).astype(np.float32)
    x4 = (0.1 * np.random.default_rng(1).standard_normal((4, window))).astype(np.float32)
    result: dict[str, Any] = {"network": name, "parameters": count_parameters(model)["trainable"],
                              "onnx_mb": path.stat().st_size / 2**20, "export_s": export_s, "threads": {}}
    previous = torch.get_num_threads()
    try:
        for n in threads:
            session = engine.create_session(path, providers=["cpu"], intra_op_threads=n)
            torch.set_num_threads(n)
            with torch.no_grad():
                if n == threads[0]:
                    result["parity_max_abs_logit_diff"] = {
                        "batch1": float(np.abs(model(torch.from_numpy(x)).numpy()
                                               - engine.run_logits(session, {"waveform": x})).max()),
                        "batch4": float(np.abs(model(torch.from_numpy(x4)).numpy()
                                               - engine.run_logits(session, {"waveform": x4})).max()),
                    }
                onnx_ms = time_calls(partial(session.run, ["logits"], {"waveform": x}), runs=runs, warmup=warmup)
                eager_ms = time_calls(partial(model, torch.from_numpy(x)), runs=runs, warmup=warmup)
            result["threads"][str(n)] = {"onnxruntime_ms": onnx_ms, "torch_eager_ms": eager_ms,
                                         "eager_over_onnx": eager_ms["p50"] / onnx_ms["p50"]}
    finally:
        torch.set_num_threads(previous)
    return result


def print_table(results: list[dict[str, Any]], rate: int, window_s: float) -> None:
    print(f"one {window_s:g} s window at {rate} Hz, batch 1, CPU; times in ms (median / p95)")
    print(f"{'network':<11} {'params':>8} {'threads':>7} {'ORT p50':>8} {'ORT p95':>8} {'eager p50':>9} "
          f"{'eager p95':>9} {'eager/ORT':>9} {'|dlogit| max':>12}")
    for r in results:
        parity = max(r["parity_max_abs_logit_diff"].values())
        for n, t in r["threads"].items():
            print(f"{r['network']:<11} {r['parameters']:>8,} {n:>7} {t['onnxruntime_ms']['p50']:>8.1f} "
                  f"{t['onnxruntime_ms']['p95']:>8.1f} {t['torch_eager_ms']['p50']:>9.1f} "
                  f"{t['torch_eager_ms']['p95']:>9.1f} {t['eager_over_onnx']:>8.2f}x {parity:>12.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", nargs="+", default=sorted(NETWORKS), choices=sorted(NETWORKS))
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--window-s", type=float, default=4.0)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1],
                        help="intra-op thread counts to measure, for ONNX Runtime and PyTorch alike")
    parser.add_argument("--out", type=Path, default=RESULTS / "voice_latency.json")
    args = parser.parse_args()

    window = round(args.window_s * args.sample_rate)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        results = [bench_network(name, rate=args.sample_rate, window=window, threads=args.threads, runs=args.runs,
                                 warmup=args.warmup, workdir=Path(tmp)) for name in args.networks]
    print_table(results, args.sample_rate, args.window_s)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "voice_latency", "sample_rate": args.sample_rate, "window_s": args.window_s,
        "runs": args.runs, "warmup": args.warmup, "weights": "random", "results": results,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "torch": torch.__version__, "onnxruntime": ort.__version__,
                    "load_average_before_after": [load_before, os.getloadavg()]},
    }, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
