"""Ads per second through every batch path, on the same generated ads: `nepcheck scan` with 1 and 2 worker
processes, `nepcheck scan --engine ray`, and one `POST /v1/ads/score` per ad against `nepcheck serve` (one at a
time, as a naive client does, and 8 at a time).

    python -m benchmarks.scan_throughput [--ads 400] [--audio-ads 0] [--skip ray,http] [--out FILE]

Each engine runs as a user runs it, in its own process, on the models in NEPCHECK_MODELS_DIR (default models/).
Scan figures are the scan's own `this_run.rows_per_s`: model loading excluded for the local engine, actor start-up
and model loading included for Ray (it cannot be separated); `wall_s` is the whole command. `--audio-ads N` adds a
run of N ads that each carry a short speech track (base64 FLAC, `--clip`, cut to `--clip-s` seconds).
Prints a table and writes JSON (default benchmarks/results/scan_throughput.json).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import soundfile as sf

from service.settings import PROJECT_ROOT

OPENINGS = ["Verdien {n} euro per dag met deze bitcoin robot, bekende Nederlanders doen het al.",
            "Uw rekening is geblokkeerd. Maak vandaag nog uw saldo over naar een veilige rekening.",
            "Guaranteed {n}% weekly returns with our crypto trading bot, limited places left.",
            "Fietsenwinkel De Spaak: {n}% korting op alle kinderfietsen deze week.",
            "Lunch special at Cafe Noord: soup and a sandwich for {n} euro.",
            "Onze bakkerij opent zaterdag een nieuwe winkel in Utrecht, kom proeven!",
            "Zoek je een nieuwe baan? Wij zoeken {n} bezorgers in Amsterdam, solliciteer online.",
            "Your parcel could not be delivered. Pay {n} cents to reschedule via the link."]
TAILS = ["", " Meer info op onze website.", " Bekijk het aanbod in de app en bestel vandaag nog.",
         " Terms apply; see the website for details about this offer and our privacy policy. " * 3]
URLS = ["https://www.example.nl/aanbod", "http://bit.ly/x7a", "https://xn--bnk-ula.example/login", None]


def generate(n: int, seed: int = 13, audio: str | None = None) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    ads = []
    for i in range(n):
        text = rng.choice(OPENINGS).format(n=rng.randint(2, 900)) + rng.choice(TAILS)
        ad: dict[str, Any] = {"id": f"ad-{i:06d}", "text": text}
        url = rng.choice(URLS)
        if url:
            ad["landing_url"] = url
        if audio:
            ad["audio_base64"] = audio
        ads.append(ad)
    return ads


def speech_track(clip: Path, seconds: float) -> str:
    samples, rate = sf.read(clip, dtype="float32")
    buffer = io.BytesIO()
    sf.write(buffer, samples[: int(seconds * rate)], rate, format="FLAC")
    return base64.b64encode(buffer.getvalue()).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_scan(source: Path, out: Path, *args: str) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "service.cli", "scan", str(source), "--out", str(out),
                           "--no-progress", *args], capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"scan {args} failed:\n{done.stderr[-3000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return {"ads_per_s": summary["this_run"]["rows_per_s"], "rows": summary["rows"], "errors": summary["errors"],
            "scan_s": summary["this_run"]["elapsed_s"], "wall_s": round(wall, 2),
            "risk_level": summary["risk_level"]}


def run_http(ads: list[dict[str, Any]], concurrency_levels: tuple[int, ...]) -> dict[str, dict[str, Any]]:
    port = free_port()
    env = {**os.environ, "NEPCHECK_AUTH_DISABLED": "true", "NEPCHECK_PORT": str(port),
           "NEPCHECK_RATE_LIMIT_PER_MINUTE": "10000000", "NEPCHECK_RATE_LIMIT_BURST": "100000",
           "NEPCHECK_LOG_LEVEL": "warning", "NEPCHECK_MAX_BODY_BYTES": str(64 << 20)}
    server = subprocess.Popen([sys.executable, "-m", "service.cli", "serve"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the server did not become ready")
            time.sleep(0.2)
        results = {}
        for concurrency in concurrency_levels:
            with httpx.Client(base_url=url, timeout=60,
                              limits=httpx.Limits(max_connections=concurrency)) as client:
                def post(ad: dict[str, Any], client: httpx.Client = client) -> int:
                    return client.post("/v1/ads/score", json=ad).status_code

                started = time.perf_counter()
                with ThreadPoolExecutor(concurrency) as pool:
                    statuses = list(pool.map(post, ads))
                elapsed = time.perf_counter() - started
            results[f"http_{concurrency}_in_flight"] = {
                "ads_per_s": round(len(ads) / elapsed, 2), "rows": len(ads),
                "errors": sum(s != 200 for s in statuses), "scan_s": round(elapsed, 3), "wall_s": round(elapsed, 2)}
        return results
    finally:
        server.terminate()
        server.wait(30)


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return {"cpu": model, "cpus": os.cpu_count(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version()}


def bench(ads: list[dict[str, Any]], skip: set[str], workdir: Path, tag: str) -> dict[str, dict[str, Any]]:
    source = workdir / f"{tag}.jsonl"
    source.write_text("".join(json.dumps(ad) + "\n" for ad in ads))
    runs: dict[str, dict[str, Any]] = {}
    runs["scan_workers_1"] = run_scan(source, workdir / f"{tag}-w1.jsonl", "--workers", "1")
    runs["scan_workers_2"] = run_scan(source, workdir / f"{tag}-w2.jsonl", "--workers", "2")
    if "ray" not in skip:
        runs["scan_ray_2_actors"] = run_scan(source, workdir / f"{tag}-ray", "--engine", "ray", "--concurrency", "2")
    if "http" not in skip:
        runs.update(run_http(ads, (1, 8)))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ads", type=int, default=400)
    parser.add_argument("--audio-ads", type=int, default=0, help="also a run of this many ads with a speech track")
    parser.add_argument("--clip", type=Path, default=PROJECT_ROOT / "tests" / "data" / "speech_en.flac")
    parser.add_argument("--clip-s", type=float, default=4.0)
    parser.add_argument("--skip", default="", help="comma-separated: ray, http")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "benchmarks" / "results" / "scan_throughput.json")
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    report: dict[str, Any] = {"machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                              "models_dir": os.environ.get("NEPCHECK_MODELS_DIR", str(PROJECT_ROOT / "models")),
                              "suites": {}}
    with tempfile.TemporaryDirectory(prefix="scan-bench-") as tmp:
        report["suites"]["text"] = {"ads": args.ads, "runs": bench(generate(args.ads), skip, Path(tmp), "text")}
        if args.audio_ads:
            track = speech_track(args.clip, args.clip_s)
            report["suites"]["text+audio"] = {
                "ads": args.audio_ads, "audio_s": args.clip_s,
                "runs": bench(generate(args.audio_ads, audio=track), skip, Path(tmp), "audio")}
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'suite':<11} {'engine':<20} {'ads':>5} {'ads/s':>8} {'scan s':>8} {'wall s':>8} {'errors':>6}")
    for suite, block in report["suites"].items():
        for engine, run in block["runs"].items():
            print(f"{suite:<11} {engine:<20} {run['rows']:>5} {run['ads_per_s']:>8.1f} {run['scan_s']:>8.2f} "
                  f"{run['wall_s']:>8.1f} {run['errors']:>6}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
