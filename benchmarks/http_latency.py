"""Latency of POST /v1/voice/score for one WAV, end to end over HTTP, against in-process ONNX Runtime.

Starts `nepcheck serve` on a free port (auth off, loopback only) on --models-dir, or measures a running server
given with --url. The baseline in the same run is the bare ONNX Runtime call on the same windows, so the
table shows what decoding, resampling, batching and HTTP add on top of the model itself.

    python -m benchmarks.http_latency --models-dir models --seconds 4 --requests 300
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import soundfile as sf

from service import engine
from service.audio import resample
from service.card import VoiceInput
from service.registry import load_artifact, resolve
from service.settings import PROJECT_ROOT
from service.windowing import model_windows

RESULTS = PROJECT_ROOT / "benchmarks" / "results"


SPEECH = PROJECT_ROOT / "tests" / "data" / "speech_en.flac"  # espeak-ng speech shipped for the tests


def make_wav(seconds: float, rate: int = 16000) -> bytes:
    """Speech, looped to `seconds`: the speech gate skips the model on anything else, which would time less."""
    speech, source_rate = sf.read(SPEECH, dtype="float32")
    x = np.resize(resample(speech, source_rate, rate), int(seconds * rate))
    buffer = io.BytesIO()
    sf.write(buffer, x.astype(np.float32), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    a = np.asarray(samples_ms)
    return {"p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "mean": float(a.mean()), "n": int(a.size)}


def bare_onnx(models_dir: Path, wav: bytes, repeats: int) -> dict[str, float]:
    """The same windows through the bare ORT session: the floor that the service adds to."""
    artifact = load_artifact(resolve(models_dir, "voice"), task="voice")
    spec = artifact.card.input
    assert isinstance(spec, VoiceInput)
    session = engine.create_session(artifact.onnx_path, providers=["cpu"])
    x, rate = sf.read(io.BytesIO(wav), dtype="float32")
    assert rate == spec.sample_rate, "the benchmark WAV is written at the model's rate"
    frames, _ = model_windows(x, spec)
    times = []
    for _ in range(repeats + 10):
        started = time.perf_counter()
        engine.run_logits(session, {"waveform": frames})
        times.append(1000 * (time.perf_counter() - started))
    return {**percentiles(times[10:]), "windows": int(frames.shape[0])}


async def http_run(url: str, wav: bytes, requests: int, concurrency: int, headers: dict[str, str]) -> dict[str, Any]:
    times: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits,
                                 headers={"Content-Type": "audio/wav", **headers}) as client:
        for _ in range(10):  # warm connections and caches
            await client.post("/v1/voice/score", content=wav)

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                started = time.perf_counter()
                r = await client.post("/v1/voice/score", content=wav)
                times.append(1000 * (time.perf_counter() - started))
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        wall = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - wall
    return {**percentiles(times), "concurrency": concurrency, "throughput_rps": requests / wall,
            "statuses": statuses}


def start_server(models_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "NEPCHECK_MODELS_DIR": str(models_dir), "NEPCHECK_AUTH_DISABLED": "true",
           "NEPCHECK_PORT": str(port), "NEPCHECK_LOG_LEVEL": "warning",
           "NEPCHECK_RATE_LIMIT_PER_MINUTE": "1000000", "NEPCHECK_RATE_LIMIT_BURST": "100000"}
    process = subprocess.Popen([sys.executable, "-m", "service.cli", "serve"], env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            sys.exit(f"the server exited with {process.returncode}")
        time.sleep(0.1)
    process.kill()
    sys.exit("the server did not become ready in 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=PROJECT_ROOT / "models")
    parser.add_argument("--url", help="measure a running server instead of starting one")
    parser.add_argument("--api-key", default=os.environ.get("NEPCHECK_BENCH_KEY"))
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--out", type=Path, default=RESULTS / "http_latency.json")
    args = parser.parse_args()

    wav = make_wav(args.seconds)
    process, url = (None, args.url) if args.url else start_server(args.models_dir)
    headers = {"X-API-Key": args.api_key} if args.api_key else {}
    try:
        runs = [asyncio.run(http_run(url, wav, args.requests, c, headers)) for c in args.concurrency]
    finally:
        if process is not None:
            process.terminate()
            process.wait(30)
    baseline = bare_onnx(args.models_dir, wav, args.requests) if not args.url else None

    print(f"POST /v1/voice/score, {args.seconds:g} s WAV, {args.requests} requests per row ({url})")
    print(f"{'concurrency':>11} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'req/s':>8} {'p50 / bare ORT':>15}")
    for run in runs:
        ratio = f"{run['p50'] / baseline['p50']:.1f}x" if baseline else "-"
        print(f"{run['concurrency']:>11} {run['p50']:>8.2f} {run['p90']:>8.2f} {run['p99']:>8.2f} "
              f"{run['throughput_rps']:>8.1f} {ratio:>15}")
    if baseline:
        print(f"{'bare ORT':>11} {baseline['p50']:>8.3f} {baseline['p90']:>8.3f} {baseline['p99']:>8.3f}"
              f"   ({baseline['windows']} windows in one call)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "http_latency", "seconds": args.seconds, "url": url, "http": runs, "bare_onnx": baseline,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
