"""`nepcheck bench http`: the real server under load, against the bare model call in the same run.

Starts `nepcheck serve` on a free loopback port (authentication off, rate limit out of the way) on the given
models, or measures a running server given with `--url`. For each concurrency level (default 1, 4, 16, 64) it
sends `--requests` requests to each target: `/v1/voice/score` with a 4 s WAV (16 kHz speech) and with the same
speech as headerless 8 kHz mu-law, and `/v1/text/score` with short messages. Each row has p50/p95/p99 latency,
throughput and the error responses by status and problem code. The baseline is the same windows through a
bare ONNX Runtime session in this process, so the table shows what decoding, the speech gate, batching and
HTTP add on top of the model.

`WS /v1/voice/stream` is measured as a live call: 8 kHz mu-law in 20 ms frames at real-time pace (`--stream-pace`;
0 sends as fast as possible), several calls at once; the figure is the delay from sending the frame that completes
a window to receiving that window's score.
"""

from __future__ import annotations

import asyncio
import bisect
import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from benchmarks.report import metric, new_figure, plotting_available, table
from benchmarks.timing import percentiles, time_calls
from service import engine
from service.audio import mulaw_encode, resample
from service.card import TextInput, VoiceInput
from service.registry import load_artifact, resolve
from service.settings import PROJECT_ROOT
from service.text.tokenize import TextEncoder
from service.windowing import model_windows

log = logging.getLogger(__name__)

SPEECH = PROJECT_ROOT / "tests" / "data" / "speech_en.flac"  # espeak-ng speech shipped for the tests
DEFAULT_CONCURRENCY = (1, 4, 16, 64)
TEXTS = (
    ("Uw rekening is geblokkeerd. Maak vandaag nog uw saldo over naar een veilige rekening.", "nl"),
    ("Verdien 500 euro per dag met deze bitcoin robot", "nl"),
    ("Hoi, eten we vanavond samen? Ik ben rond zeven uur thuis.", "nl"),
    ("Your parcel could not be delivered. Pay the customs fee here within 24 hours.", "en"),
    ("Thanks for the meeting today, I'll send the minutes tomorrow morning.", "en"),
)


def speech(seconds: float, rate: int) -> np.ndarray:
    """Speech looped to `seconds` at `rate`: the speech gate skips the model on anything else, which would time
    less than a real call costs."""
    clip, source_rate = sf.read(SPEECH, dtype="float32")
    looped = np.resize(clip, int(seconds * source_rate))
    out = resample(looped, source_rate, rate) if rate != source_rate else looped
    return (0.5 * out / (float(np.max(np.abs(out))) or 1.0)).astype(np.float32)


def wav_bytes(x: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, x, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@dataclass(frozen=True)
class Target:
    name: str
    path: str
    bodies: list[dict[str, Any]]  # httpx request keyword arguments, used in turn


def targets(seconds: float, voice_rate: int) -> list[Target]:
    wav = wav_bytes(speech(seconds, voice_rate), voice_rate)
    ulaw = mulaw_encode(speech(seconds, 8000))
    return [
        Target(f"voice {seconds:g} s WAV", "/v1/voice/score",
               [{"content": wav, "headers": {"Content-Type": "audio/wav"}}]),
        Target(f"voice {seconds:g} s mu-law 8 kHz", "/v1/voice/score?encoding=mulaw&sample_rate=8000",
               [{"content": ulaw, "headers": {"Content-Type": "application/octet-stream"}}]),
        Target("text", "/v1/text/score", [{"json": {"text": t, "lang": lang}} for t, lang in TEXTS]),
    ]


def _outcome(status: int, body: bytes) -> str | None:
    """None for a success, else `<status> <problem code>` (the service's problem+json names the code)."""
    if status < 400:
        return None
    try:
        code = json.loads(body).get("code", "")
    except (ValueError, AttributeError):
        code = ""
    return f"{status} {code}".strip()


async def load_level(url: str, target: Target, requests: int, concurrency: int,
                     headers: dict[str, str]) -> dict[str, Any]:
    """`requests` requests from `concurrency` workers on one connection each; latency of the successful ones."""
    import httpx

    times: list[float] = []
    errors: dict[str, int] = {}
    counter = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits, headers=headers) as client:
        for i in range(min(concurrency, 8)):  # open connections and warm caches
            await client.post(target.path, **target.bodies[i % len(target.bodies)])

        async def worker() -> None:
            for i in counter:
                started = time.perf_counter()
                try:
                    r = await client.post(target.path, **target.bodies[i % len(target.bodies)])
                    problem = _outcome(r.status_code, r.content)
                except httpx.TransportError as exc:
                    problem = f"transport {type(exc).__name__}"
                if problem is None:
                    times.append(1000 * (time.perf_counter() - started))
                else:
                    errors[problem] = errors.get(problem, 0) + 1

        wall = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - wall
    t = percentiles(times)
    return {"target": target.name, "concurrency": concurrency, "requests": requests, "ok": t["n"],
            "p50_ms": t["p50"], "p95_ms": t["p95"], "p99_ms": t["p99"], "mean_ms": t["mean"],
            "throughput_rps": t["n"] / wall, "errors": errors, "error_count": sum(errors.values())}


async def stream_call(ws_url: str, audio: bytes, pace: float, headers: dict[str, str],
                      call_id: str) -> tuple[list[float], dict[str, int]]:
    """One live call; per window the delay (ms) from sending the frame that completes it to its score."""
    import websockets

    delays: list[float] = []
    errors: dict[str, int] = {}
    marks_bytes: list[int] = []
    marks_time: list[float] = []
    stopped_at: list[float] = []
    async with websockets.connect(f"{ws_url}/v1/voice/stream", additional_headers=headers, max_size=None) as ws:
        await ws.send(json.dumps({"event": "start", "encoding": "mulaw", "sample_rate": 8000, "call_id": call_id}))
        first = json.loads(await ws.recv())
        if first.get("event") != "started":
            errors[str(first.get("problem", {}).get("code", first.get("event")))] = 1
            return delays, errors

        async def send() -> None:
            t0 = time.perf_counter()
            for i in range(0, len(audio), 160):  # 20 ms of 8 kHz mu-law
                if pace > 0:
                    await asyncio.sleep(max(0.0, t0 + i / 8000 / pace - time.perf_counter()))
                await ws.send(audio[i : i + 160])
                marks_bytes.append(min(i + 160, len(audio)))
                marks_time.append(time.perf_counter())
            stopped_at.append(time.perf_counter())
            await ws.send(json.dumps({"event": "stop"}))

        sender = asyncio.create_task(send())
        try:
            async for message in ws:
                event = json.loads(message)
                kind = event.get("event")
                if kind == "score":
                    now = time.perf_counter()
                    k = bisect.bisect_left(marks_bytes, round(float(event["end_s"]) * 8000))
                    # a window that ends past the audio (the padded last one) is completed by the stop message
                    sent = marks_time[k] if k < len(marks_time) else (stopped_at[0] if stopped_at else now)
                    delays.append(1000 * (now - sent))
                elif kind == "error":
                    code = event.get("problem", {}).get("code", "error")
                    errors[code] = errors.get(code, 0) + 1
                    break
                elif kind == "summary":
                    break
        finally:
            sender.cancel()
    return delays, errors


async def stream_level(ws_url: str, audio: bytes, calls: int, pace: float, headers: dict[str, str]) -> dict[str, Any]:
    results = await asyncio.gather(*(stream_call(ws_url, audio, pace, headers, f"bench-{i}") for i in range(calls)),
                                   return_exceptions=True)
    delays: list[float] = []
    errors: dict[str, int] = {}
    for result in results:
        if isinstance(result, BaseException):
            name = f"transport {type(result).__name__}"
            errors[name] = errors.get(name, 0) + 1
            continue
        delays += result[0]
        for code, n in result[1].items():
            errors[code] = errors.get(code, 0) + n
    t = percentiles(delays)
    return {"calls": calls, "windows": t["n"], "p50_ms": t["p50"], "p95_ms": t["p95"], "p99_ms": t["p99"],
            "mean_ms": t["mean"], "errors": errors, "error_count": sum(errors.values())}


def bare_model(models_dir: Path, seconds: float, runs: int) -> list[dict[str, Any]]:
    """The floor: the WAV's windows through a bare ONNX Runtime session, and one text window."""
    out = []
    voice = load_artifact(resolve(models_dir, "voice"), task="voice")
    spec = voice.card.input
    assert isinstance(spec, VoiceInput)
    session = engine.create_session(voice.onnx_path, providers=["cpu"])
    frames, _ = model_windows(speech(seconds, spec.sample_rate), spec)
    t = time_calls(lambda: engine.run_logits(session, {"waveform": frames}), runs=runs, warmup=3, budget_s=10)
    out.append({"target": f"voice: {frames.shape[0]} window(s) in one ONNX Runtime call", **_ms(t)})
    text = load_artifact(resolve(models_dir, "text"), task="text")
    tspec = text.card.input
    assert isinstance(tspec, TextInput)
    encoder = TextEncoder(text.directory / tspec.tokenizer, max_length=tspec.max_length, stride=tspec.stride)
    tsession = engine.create_session(text.onnx_path, providers=["cpu"])
    feeds = encoder.collate([encoder.windows(TEXTS[0][0])[0].input_ids])
    t = time_calls(lambda: engine.run_logits(tsession, feeds), runs=runs, warmup=3, budget_s=10)
    out.append({"target": "text: one window in one ONNX Runtime call", **_ms(t)})
    return out


def _ms(t: dict[str, float]) -> dict[str, float]:
    return {"p50_ms": t["p50"], "p95_ms": t["p95"], "p99_ms": t["p99"], "n": t["n"]}


def start_server(models_dir: Path, log_path: Path, extra_env: dict[str, str] | None = None
                 ) -> tuple[subprocess.Popen[bytes], str]:
    """`nepcheck serve` on a free loopback port, authentication off; returns once /readyz answers 200."""

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "NEPCHECK_MODELS_DIR": str(models_dir), "NEPCHECK_AUTH_DISABLED": "true",
           "NEPCHECK_HOST": "127.0.0.1", "NEPCHECK_PORT": str(port), "NEPCHECK_LOG_LEVEL": "warning",
           "NEPCHECK_RATE_LIMIT_PER_MINUTE": "10000000", "NEPCHECK_RATE_LIMIT_BURST": "1000000",
           **(extra_env or {})}
    return serve_until_ready(env, port, log_path)


def serve_until_ready(env: dict[str, str], port: int, log_path: Path, *, timeout_s: float = 120.0
                      ) -> tuple[subprocess.Popen[bytes], str]:
    """`nepcheck serve` with `env` (which sets `port`), its output in `log_path`; returns once /readyz answers 200.
    A server that exits or is not ready in time is killed and its log's end quoted. The tests start theirs too."""
    import httpx

    with log_path.open("wb") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "service.cli", "serve"], env=env, stdout=log_file,
                                   stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the server did not become ready in {timeout_s:.0f} s:\n{log_path.read_text()[-4000:]}")


def run_http(*, models_dir: Path, url: str | None, api_key: str | None, seconds: float, requests: int,
             concurrency: Sequence[int], stream_calls: Sequence[int], stream_seconds: float, stream_pace: float,
             out_dir: Path) -> dict[str, Any]:
    headers = {"X-API-Key": api_key} if api_key else {}
    voice_rate = 16000
    if url is None:
        card = load_artifact(resolve(models_dir, "voice"), task="voice").card
        assert isinstance(card.input, VoiceInput)
        voice_rate = card.input.sample_rate
    process, base = (None, url) if url else start_server(models_dir, out_dir / "server.log")
    assert base is not None
    try:
        levels = [asyncio.run(load_level(base, target, requests, c, headers))
                  for target in targets(seconds, voice_rate) for c in concurrency]
        ulaw = mulaw_encode(speech(stream_seconds, 8000))
        ws_base = base.replace("http://", "ws://").replace("https://", "wss://")
        streams = [asyncio.run(stream_level(ws_base, ulaw, n, stream_pace, headers)) for n in stream_calls]
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
    baseline = bare_model(models_dir, seconds, max(20, requests // 4)) if url is None else []
    return {"url": base, "started_server": url is None, "http": levels, "stream": streams, "bare_model": baseline}


def metrics_of(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for row in result["http"]:
        key = f"http / {row['target']} / concurrency {row['concurrency']}"
        for name in ("p50_ms", "p95_ms", "p99_ms"):
            out[f"{key} / {name}"] = metric(row[name], "ms", "lower")
        out[f"{key} / throughput_rps"] = metric(row["throughput_rps"], "1/s", "higher")
        out[f"{key} / errors"] = metric(row["error_count"], "count", "lower")
    for row in result["stream"]:
        key = f"stream / {row['calls']} call(s) / window end to score"
        for name in ("p50_ms", "p95_ms", "p99_ms"):
            out[f"{key} / {name}"] = metric(row[name], "ms", "lower")
        out[f"stream / {row['calls']} call(s) / errors"] = metric(row["error_count"], "count", "lower")
    for row in result["bare_model"]:
        out[f"bare model / {row['target']} / p50_ms"] = metric(row["p50_ms"], "ms", "lower")
    return out


def _errors_text(errors: dict[str, int]) -> str:
    return ", ".join(f"{code}: {n}" for code, n in sorted(errors.items())) or "none"


def markdown(result: dict[str, Any], settings: dict[str, Any], machine_text: str, plots: Sequence[str]) -> str:
    http_rows = [{**r, "errors_text": _errors_text(r["errors"])} for r in result["http"]]
    stream_rows = [{**r, "errors_text": _errors_text(r["errors"])} for r in result["stream"]]
    pace = "as fast as possible" if settings["stream_pace"] <= 0 else f"{settings['stream_pace']:g}x real time"
    lines = [
        "# nepcheck bench http", "", f"Machine: {machine_text}", f"Server: {result['url']}"
        + (" (started by the benchmark, authentication off)" if result["started_server"] else ""), "",
        f"{settings['requests']} requests per row; latency of successful requests; errors by status and problem code.",
        "", table(http_rows, [("target", "target", ""), ("concurrency", "concurrency", "d"), ("ok", "ok", "d"),
                              ("p50 ms", "p50_ms", ".1f"), ("p95 ms", "p95_ms", ".1f"), ("p99 ms", "p99_ms", ".1f"),
                              ("req/s", "throughput_rps", ".1f"), ("errors", "errors_text", "")]),
        f"## WS /v1/voice/stream: {settings['stream_seconds']:g} s calls of 8 kHz mu-law, sent {pace}", "",
        "Delay from sending the frame that completes a window to receiving its score.", "",
        table(stream_rows, [("calls at once", "calls", "d"), ("windows", "windows", "d"), ("p50 ms", "p50_ms", ".1f"),
                            ("p95 ms", "p95_ms", ".1f"), ("p99 ms", "p99_ms", ".1f"), ("errors", "errors_text", "")]),
    ]
    if result["bare_model"]:
        lines += ["## Baseline in the same run: the bare model call", "",
                  table(result["bare_model"], [("what", "target", ""), ("p50 ms", "p50_ms", ".2f"),
                                               ("p95 ms", "p95_ms", ".2f"), ("p99 ms", "p99_ms", ".2f")])]
    lines += [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], out_dir: Path) -> list[str]:
    """http_latency.png: p50 and p99 against concurrency per target; http_throughput.png likewise."""
    if not plotting_available():
        return []
    names = []
    for key, ylabel, filename in (("p50_ms", "latency ms (p50 solid, p99 dashed)", "http_latency.png"),
                                  ("throughput_rps", "requests per second", "http_throughput.png")):
        figure = new_figure()
        axes = figure.add_subplot()
        for target in dict.fromkeys(r["target"] for r in result["http"]):
            rows = [r for r in result["http"] if r["target"] == target]
            (line,) = axes.plot([r["concurrency"] for r in rows], [r[key] for r in rows], marker="o", label=target)
            if key == "p50_ms":
                axes.plot([r["concurrency"] for r in rows], [r["p99_ms"] for r in rows], linestyle="--",
                          color=line.get_color())
        axes.set_xscale("log", base=2)
        axes.set_xlabel("concurrent requests")
        axes.set_ylabel(ylabel)
        axes.grid(True, color="0.9")
        axes.legend(fontsize="small")
        figure.tight_layout()
        figure.savefig(out_dir / filename, dpi=110)
        names.append(filename)
    return names
