"""ONNX Runtime on a GPU: the CUDA and TensorRT execution providers, every variant (fp16 included), batch 1 to 64.

For a machine with an NVIDIA GPU and `onnxruntime-gpu` (`pip uninstall -y onnxruntime && pip install -e .[gpu]`,
or the image from Dockerfile.gpu). Times each model folder's variants through each provider with the engine
suite's code (`benchmarks.engine.bench_model`), so the rows are the same as `nepcheck bench engine` writes on CPU,
and writes one table, `gpu.json` (with the GPU from nvidia-smi in the machine block) and a plot into a results
folder. A provider that this onnxruntime lacks, or that fails to start, stops the script with a message before
anything is timed: a silent fallback to CPU would report CPU figures as GPU ones.

    python -m benchmarks.gpu_providers --model models/voice/0.2.0 --model models/text/1.4.0 \
        --model runs/text-1.2.0-candidate/text/1.2.0 --provider cuda --provider tensorrt

TensorRT builds an engine per input shape on first use; the engines are cached in `--trt-cache` and warm-up
calls are excluded from the timings. `--trt-fp16` lets TensorRT pick fp16 kernels for fp32 graphs too.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import onnxruntime as ort

from benchmarks import engine
from benchmarks.machine import machine_info
from benchmarks.report import machine_line, results_dir, write_results

PROVIDER_NAMES = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}
DEFAULT_BATCHES = (1, 2, 4, 8, 16, 32, 64)


def gpu_names() -> list[str]:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def check_providers(requested: list[str]) -> None:
    """Exit with a clear message when a requested provider is not in this onnxruntime build."""
    available = ort.get_available_providers()
    missing = [p for p in requested if PROVIDER_NAMES[p] not in available]
    if missing:
        sys.exit(f"gpu_providers: {', '.join(PROVIDER_NAMES[p] for p in missing)} not available in this onnxruntime "
                 f"(it has {available}). Run on a GPU machine with onnxruntime-gpu: "
                 "pip uninstall -y onnxruntime && pip install -e .[gpu]")


def session_factory(provider: str, *, trt_cache: Path, trt_fp16: bool) -> engine.SessionFactory:
    def make(path: Path, threads: int) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        providers: list[Any]
        if provider == "tensorrt":
            trt_cache.mkdir(parents=True, exist_ok=True)
            providers = [(PROVIDER_NAMES["tensorrt"], {"trt_engine_cache_enable": True,
                                                       "trt_engine_cache_path": str(trt_cache),
                                                       "trt_fp16_enable": trt_fp16}),
                         PROVIDER_NAMES["cuda"], "CPUExecutionProvider"]
        else:
            providers = [PROVIDER_NAMES["cuda"], "CPUExecutionProvider"]
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        if session.get_providers()[0] != PROVIDER_NAMES[provider]:
            sys.exit(f"gpu_providers: {path}: asked for {PROVIDER_NAMES[provider]} but onnxruntime started "
                     f"{session.get_providers()}")
        return session

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append", required=True, help="model version folder (repeat)")
    parser.add_argument("--provider", choices=sorted(PROVIDER_NAMES), action="append", help="[cuda tensorrt]")
    parser.add_argument("--batch", type=int, action="append", help=f"batch sizes {list(DEFAULT_BATCHES)}")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--budget-s", type=float, default=5.0)
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls per row (TensorRT builds engines here)")
    parser.add_argument("--trt-cache", type=Path, default=Path("runs/trt-cache"))
    parser.add_argument("--trt-fp16", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("benchmarks").setLevel(logging.INFO)

    providers = args.provider or ["cuda", "tensorrt"]
    check_providers(providers)
    batches = args.batch or list(DEFAULT_BATCHES)
    out_dir = results_dir("gpu", args.out)
    machine = {**machine_info(args.model), "gpus": gpu_names()}
    results = []
    for provider in providers:
        factory = session_factory(provider, trt_cache=args.trt_cache, trt_fp16=args.trt_fp16)
        for model in args.model:
            results.append(engine.bench_model(model, batches=batches, threads=(0,), runs=args.runs,
                                              budget_s=args.budget_s, warmup=args.warmup, eager=False,
                                              session_factory=factory, provider=provider))
    for r in results:  # the speech gate runs on CPU whatever the provider; once is enough
        r["rows"] = [row for row in r["rows"] if not row["engine"].startswith("speech gate")]
    plots = engine.plot(results, out_dir)
    gpus = "; ".join(machine["gpus"]) or "GPU unknown (no nvidia-smi)"
    markdown = engine.markdown(results, f"{gpus}; {machine_line(machine)}", plots).replace(
        "# nepcheck bench engine", "# ONNX Runtime GPU providers (benchmarks/gpu_providers.py)", 1)
    settings = {"models": [str(m) for m in args.model], "providers": providers, "batches": batches,
                "runs": args.runs, "budget_s": args.budget_s, "warmup": args.warmup, "trt_fp16": args.trt_fp16}
    path = write_results(out_dir, "gpu", machine=machine, settings=settings, results=results,
                         metrics=engine.metrics_of([row for r in results for row in r["rows"]]), markdown=markdown,
                         files=plots)
    print(markdown)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
