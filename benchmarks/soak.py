"""Soak: many clients of mixed traffic against the real server, with model reloads, watching memory.

    python -m benchmarks.soak [--clients 64] [--seconds 60] [--reload-every 15] [--models-dir models] [--out DIR]
    python -m benchmarks.soak --reloads 20 --clients 0      # reloads alone: does memory come back?

`nepcheck serve` starts with authentication off. Each client loops over one kind of request until time is up:
a 4 s WAV and an 8 kHz mu-law snippet to `/v1/voice/score`, a short and a 20,000-character text to
`/v1/text/score`, an ad with a soundtrack to `/v1/ads/score`, and a live call on `WS /v1/voice/stream` (8 kHz
mu-law sent as fast as it goes). Meanwhile the server gets SIGHUP (reload the models on disk) every
`--reload-every` seconds. It prints requests, answers by status and problem code, p50/p99 per kind, and the RSS
of the server with its decode workers at start, peak and end; writes `soak.json` and `report.md`. A 5xx other
than 503 (overload, which says when to retry) or a lost connection is a failure: exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import signal
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.faults import RssSampler, _model_dirs
from benchmarks.http_load import speech, start_server, stream_call, wav_bytes
from benchmarks.machine import machine_info
from benchmarks.report import metric, results_dir, table, write_results
from benchmarks.timing import percentiles
from service.audio import mulaw_encode
from service.settings import PROJECT_ROOT

SHORT_TEXT = "Uw rekening is geblokkeerd. Maak vandaag nog uw saldo over naar een veilige rekening."
LONG_TEXT = ("Het kwartaalverslag beschrijft de ontwikkeling van de omzet, de kosten en de vooruitzichten. "
             * 230)[:20_000]

Send = Callable[[Any], Awaitable[str]]


def _code(response: Any) -> str:
    if response.status_code == 200:
        return "200"
    try:
        return f"{response.status_code} {response.json().get('code', '')}".strip()
    except ValueError:
        return str(response.status_code)


def request_kinds(ws_url: str) -> dict[str, Send]:
    """Each kind: an async function that sends one request on a shared client and returns its outcome."""
    wav = wav_bytes(speech(4.0, 16000), 16000)
    mulaw = mulaw_encode(speech(4.0, 8000))
    call = mulaw_encode(speech(6.0, 8000))
    ad = {"id": "soak", "text": SHORT_TEXT, "audio_base64": base64.b64encode(wav).decode()}

    async def voice_wav(client: Any) -> str:
        return _code(await client.post("/v1/voice/score", content=wav, headers={"Content-Type": "audio/wav"}))

    async def voice_mulaw(client: Any) -> str:
        return _code(await client.post("/v1/voice/score?encoding=mulaw&sample_rate=8000", content=mulaw))

    async def text_short(client: Any) -> str:
        return _code(await client.post("/v1/text/score", json={"text": SHORT_TEXT}))

    async def text_long(client: Any) -> str:
        return _code(await client.post("/v1/text/score", json={"text": LONG_TEXT}))

    async def ad_with_audio(client: Any) -> str:
        return _code(await client.post("/v1/ads/score", json=ad))

    async def stream(client: Any) -> str:
        _, errors = await stream_call(ws_url, call, 0.0, {}, "soak")
        return next(iter(errors), "200")

    return {"voice wav 4 s": voice_wav, "voice mu-law 8 kHz": voice_mulaw, "text short": text_short,
            "text 20k chars": text_long, "ad with audio": ad_with_audio, "stream call 6 s": stream}


async def _client_loop(send: Send, client: Any, until: float, latencies: list[float], outcomes: Counter[str]) -> None:
    import httpx

    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            outcome = await send(client)
        except (httpx.TransportError, OSError) as exc:
            outcome = f"connection error ({type(exc).__name__})"
        except Exception as exc:  # a WebSocket closed abnormally, or a response that was not JSON
            outcome = f"client error ({type(exc).__name__})"
        latencies.append(1000 * (time.perf_counter() - started))
        outcomes[outcome] += 1


async def _reloader(pid: int, every: float, until: float, count: int | None) -> int:
    sent = 0
    while (count is None and time.monotonic() + every < until) or (count is not None and sent < count):
        await asyncio.sleep(every)
        os.kill(pid, signal.SIGHUP)
        sent += 1
    return sent


async def soak(url: str, pid: int, *, clients: int, seconds: float, reload_every: float,
               reloads: int | None) -> dict[str, Any]:
    import httpx

    kinds = request_kinds(url.replace("http://", "ws://"))
    names = list(kinds)
    latencies: dict[str, list[float]] = defaultdict(list)
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    until = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients + 8, max_keepalive_connections=clients + 8)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        loops = [
            _client_loop(kinds[names[i % len(names)]], client, until, latencies[names[i % len(names)]],
                         outcomes[names[i % len(names)]])
            for i in range(clients)
        ]
        done = await asyncio.gather(_reloader(pid, reload_every, until, reloads), *loops)
    rows = []
    for name in names:
        if not latencies[name]:
            continue
        p = percentiles(latencies[name])
        rows.append({"kind": name, "requests": len(latencies[name]), "p50_ms": p["p50"], "p99_ms": p["p99"],
                     "outcomes": dict(outcomes[name])})
    return {"rows": rows, "reloads": done[0]}


def _failure(outcome: str) -> bool:
    return outcome.startswith(("connection", "client", "5")) and not outcome.startswith("503")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=PROJECT_ROOT / "models")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--reload-every", type=float, default=15.0)
    parser.add_argument("--reloads", type=int, default=None, help="send exactly this many reloads (then stop)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out_dir = results_dir("soak", args.out)
    process, url = start_server(args.models_dir, out_dir / "server.log", {"NEPCHECK_LOG_LEVEL": "info"})
    try:
        with RssSampler(process.pid) as rss:
            result = asyncio.run(soak(url, process.pid, clients=args.clients, seconds=args.seconds,
                                      reload_every=args.reload_every, reloads=args.reloads))
            time.sleep(5.0)  # the last reload's old models retire once their requests have finished
        alive = process.poll() is None
    finally:
        process.terminate()
        process.wait(15)
    log = (out_dir / "server.log").read_text(errors="replace")
    reloaded = log.count("models reloaded on SIGHUP")
    memory = rss.summary()
    rows = result["rows"]
    failures = sum(n for row in rows for outcome, n in row["outcomes"].items() if _failure(outcome))
    for row in rows:
        row["answers"] = ", ".join(f"{k}: {v}" for k, v in sorted(row["outcomes"].items()))
    report = "\n".join([
        f"# Soak: {args.clients} clients, {args.seconds:.0f} s, {result['reloads']} reloads sent, {reloaded} done",
        "",
        table(rows, [("kind", "kind", ""), ("requests", "requests", "d"), ("p50 ms", "p50_ms", ".0f"),
                     ("p99 ms", "p99_ms", ".0f"), ("answers", "answers", "")]),
        f"Failures (5xx other than 503, lost connections): {failures}; server alive after: {alive}",
        "",
        f"Server RSS (with decode workers): start {memory['start_mib']} MiB, peak {memory['peak_mib']} MiB, "
        f"end {memory['end_mib']} MiB; samples {np.round(rss.samples[:: max(1, len(rss.samples) // 12)], 0).tolist()}",
    ])
    print(report)
    metrics = {f"{row['kind']}: p99": metric(row["p99_ms"], "ms", "lower") for row in rows}
    metrics |= {"failures": metric(failures, "count", "lower"), "RSS end": metric(memory["end_mib"], "MiB", "lower"),
                "RSS peak": metric(memory["peak_mib"], "MiB", "lower")}
    write_results(out_dir, "soak", machine=machine_info(_model_dirs(args.models_dir)),
                  settings=vars(args) | {"models_dir": str(args.models_dir), "out": str(out_dir)},
                  results=result | {"rss": memory, "rss_samples": rss.samples, "reloads_done": reloaded},
                  metrics=metrics, markdown=report)
    return 1 if failures or not alive or reloaded < result["reloads"] else 0


if __name__ == "__main__":
    sys.exit(main())
