"""Fault suite: malformed audio and schema fuzzing against the real server. Run by hand; CI runs a small smoke.

    python -m benchmarks.faults [--examples 80] [--models-dir models] [--out DIR]

Two parts, one server (`nepcheck serve`, authentication off):
1. A malformed-audio corpus, generated here: truncated files, headers that lie about their length or rate,
   decompression bombs, garbage MP3 frames, NaN float WAVs, random bytes, mislabelled content types. Each goes
   to `/v1/voice/score` (raw body), `/v1/calls/score` (multipart) and `/v1/ads/score` (base64). Every answer
   must be a 4xx problem with a code, or a 200; a 5xx or a dropped connection is a failure.
2. schemathesis generates requests from the server's own OpenAPI schema (`--examples` per operation and
   phase) and checks that none gets a server error. `POST /v1/admin/reload` is left out: each call reloads the
   models, which is an operation, not an input to fuzz.

It prints both tables, the server's RSS at start, peak and end, and writes `faults.json` and `report.md`. Exit
status 1 when any server error was seen.
"""

from __future__ import annotations

import argparse
import base64
import io
import re
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from benchmarks.http_load import speech, start_server, wav_bytes
from benchmarks.machine import machine_info
from benchmarks.report import metric, results_dir, table, write_results
from service.registry import resolve
from service.settings import PROJECT_ROOT


def _wav_header(*, channels: int, rate: int, bits: int, data_bytes: int, fmt: int = 1) -> bytes:
    block = channels * bits // 8  # a lying header may overflow the fields: they are masked as a writer would
    fmt_chunk = struct.pack("<IHHIIHH", 16, fmt, channels, rate, (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits)
    riff_size = (36 + data_bytes) & 0xFFFFFFFF
    data_chunk = b"data" + struct.pack("<I", data_bytes)
    return b"RIFF" + struct.pack("<I", riff_size) + b"WAVE" + b"fmt " + fmt_chunk + data_chunk


def _encoded(x: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    out = io.BytesIO()
    sf.write(out, x, rate, format=fmt, subtype=subtype)
    return out.getvalue()


def _flac_bomb(seconds: int = 600, rate: int = 192_000, channels: int = 8) -> bytes:
    """Silence that compresses ~4000:1: a 250 KB upload that decodes to 920 million samples. Written a
    second at a time so building it costs no more memory than the server should spend on it."""
    out = io.BytesIO()
    block = np.zeros((rate, channels), np.int16)
    with sf.SoundFile(out, "w", samplerate=rate, channels=channels, format="FLAC", subtype="PCM_16") as f:
        for _ in range(seconds):
            f.write(block)
    return out.getvalue()


def malformed_corpus(*, bomb: bool = True) -> dict[str, tuple[bytes, str]]:
    """Name -> (bytes, content type): inputs a hostile or broken client sends."""
    rng = np.random.default_rng(7)
    good = wav_bytes(speech(3.0, 16000), 16000)

    def lying(**header: int) -> bytes:
        return _wav_header(**{"channels": 1, "rate": 16000, "bits": 16, "data_bytes": 3200} | header) + bytes(3200)

    flac = _encoded(speech(3.0, 16000), 16000, "FLAC")
    ogg = _encoded(speech(3.0, 16000), 16000, "OGG", "VORBIS")
    nan = np.full(16000, np.nan, np.float32)
    corpus = {
        "empty body": (b"", "audio/wav"),
        "random bytes": (rng.bytes(20_000), "audio/wav"),
        "random bytes as mp3": (rng.bytes(20_000), "audio/mpeg"),
        "WAV header only": (good[:44], "audio/wav"),
        "WAV truncated mid-sample": (good[: len(good) // 2 + 1], "audio/wav"),
        "WAV claiming 2^31 frames": (lying(data_bytes=2**31)[:44] + good[44:], "audio/wav"),
        "WAV claiming 65535 channels": (lying(channels=65535), "audio/wav"),
        "WAV claiming rate 0": (lying(rate=0), "audio/wav"),
        "WAV claiming 4 GHz": (lying(rate=4_000_000_000), "audio/wav"),
        "WAV of NaN floats": (_encoded(nan, 16000, "WAV", "FLOAT"), "audio/wav"),
        "WAV of infinities": (_encoded(np.full(16000, np.inf, np.float32), 16000, "WAV", "FLOAT"), "audio/wav"),
        "WAV with unknown codec 0x1234": (lying(fmt=0x1234), "audio/wav"),
        "FLAC truncated": (flac[: len(flac) // 3], "audio/flac"),
        "OGG truncated": (ogg[: len(ogg) // 2], "audio/ogg"),
        "MP3 garbage frames": (b"".join(b"\xff\xfb\x90\x64" + rng.bytes(413) for _ in range(400)), "audio/mpeg"),
        "WAV labelled text/plain": (good, "text/plain"),
        "HTML labelled audio/wav": (b"<html><body>not audio</body></html>" * 50, "audio/wav"),
    }
    if bomb:
        corpus["FLAC bomb (600 s, 192 kHz, 8 ch)"] = (_flac_bomb(), "audio/flac")
    return corpus


class RssSampler:
    """Resident memory of the server and its decode workers (children), sampled every 0.2 s."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _rss_mib(pid: int) -> float:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def _children(self) -> list[int]:
        try:
            with open(f"/proc/{self.pid}/task/{self.pid}/children") as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def now(self) -> float:
        return self._rss_mib(self.pid) + sum(self._rss_mib(c) for c in self._children())

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.now())
            self._stop.wait(0.2)

    def __enter__(self) -> RssSampler:
        self.samples.append(self.now())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(self.now())

    def summary(self) -> dict[str, float]:
        return {"start_mib": round(self.samples[0], 1), "peak_mib": round(max(self.samples), 1),
                "end_mib": round(self.samples[-1], 1)}


def _outcome(response: Any) -> str:
    if response is None:
        return "connection error"
    code = ""
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        code = response.json().get("code", "")
    elif response.status_code == 200:
        body = response.json()
        voice = body.get("voice", body) or {}  # calls and ads nest the voice result
        code = voice.get("verdict", "no voice")
    return f"{response.status_code} {code}".strip()


def run_corpus(url: str, corpus: dict[str, tuple[bytes, str]]) -> list[dict[str, Any]]:
    import httpx

    text = "Your account is blocked; move your savings to a safe account today."
    rows = []
    with httpx.Client(base_url=url, timeout=60) as client:
        sends: dict[str, Callable[[bytes, str], httpx.Response]] = {
            "voice": lambda b, ct: client.post("/v1/voice/score", content=b, headers={"Content-Type": ct}),
            "call": lambda b, ct: client.post("/v1/calls/score", files={"file": ("upload", b, ct)}),
            "ad": lambda b, ct: client.post("/v1/ads/score", json={
                "id": "fault", "text": text, "audio_base64": base64.b64encode(b).decode()}),
        }
        for name, (data, content_type) in corpus.items():
            row: dict[str, Any] = {"input": name, "bytes": len(data)}
            for route, send in sends.items():
                started = time.perf_counter()
                try:
                    response = send(data, content_type)
                except httpx.TransportError:
                    response = None
                row[route] = _outcome(response)
                row[f"{route}_ms"] = round(1000 * (time.perf_counter() - started), 1)
            rows.append(row)
    return rows


def _server_error(outcome: str) -> bool:
    return outcome == "connection error" or outcome.startswith("5") and not outcome.startswith("503")


def run_schemathesis(url: str, examples: int, workers: int, out_dir: Path) -> dict[str, Any]:
    """schemathesis against the live schema; the counts come from its summary lines. It runs in `out_dir`,
    where it keeps its example database."""
    command = [sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json", "--checks", "not_a_server_error",
               "--max-examples", str(examples), "--workers", str(workers), "--exclude-path", "/v1/admin/reload",
               "--request-timeout", "30", "--suppress-health-check", "all"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=out_dir)
    output = done.stdout + done.stderr
    generated = re.search(r"(\d+) generated", output)
    failures = re.findall(r"^_+ (.+?) _+$", output, flags=re.MULTILINE)
    return {
        "command": " ".join(command),
        "exit_status": done.returncode,
        "generated": int(generated.group(1)) if generated else 0,
        "failing_operations": failures,
        "seconds": round(time.perf_counter() - started, 1),
        "summary": output[output.rfind("SUMMARY"):][:2000] if "SUMMARY" in output else output[-2000:],
    }


def _model_dirs(models_dir: Path) -> list[Path]:
    return [resolve(models_dir, name) for name in ("voice", "text")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=PROJECT_ROOT / "models")
    parser.add_argument("--examples", type=int, default=80, help="schemathesis examples per operation and phase")
    parser.add_argument("--workers", type=int, default=2, help="schemathesis concurrent workers")
    parser.add_argument("--smoke", action="store_true", help="a quick pass for CI: no bomb, few examples")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out_dir = results_dir("faults", args.out)
    process, url = start_server(args.models_dir, out_dir / "server.log")
    try:
        with RssSampler(process.pid) as rss:
            rows = run_corpus(url, malformed_corpus(bomb=not args.smoke))
            fuzz = run_schemathesis(url, args.examples, args.workers, out_dir)
        alive = process.poll() is None
    finally:
        process.terminate()
        process.wait(15)
    routes = ("voice", "call", "ad")
    server_errors = sum(_server_error(row[r]) for row in rows for r in routes)
    outcomes = Counter(row[r] for row in rows for r in routes)
    memory = rss.summary()
    corpus_table = table(rows, [("input", "input", ""), ("bytes", "bytes", "d"), ("voice", "voice", ""),
                                ("voice ms", "voice_ms", ".0f"), ("call", "call", ""), ("ad", "ad", "")])
    fuzz_failed = fuzz["exit_status"] != 0
    lines = [
        "# Fault suite", "", corpus_table, "",
        f"Outcomes: {dict(outcomes)}; server errors: {server_errors}; server alive after: {alive}", "",
        f"schemathesis: {fuzz['generated']} generated requests, exit status {fuzz['exit_status']}, "
        f"failing operations {fuzz['failing_operations'] or 'none'} ({fuzz['seconds']} s)", "",
        f"Server RSS (with decode workers): start {memory['start_mib']} MiB, peak {memory['peak_mib']} MiB, "
        f"end {memory['end_mib']} MiB",
    ]
    report = "\n".join(lines)
    print(report)
    write_results(
        out_dir, "faults", machine=machine_info(_model_dirs(args.models_dir)),
        settings=vars(args) | {"models_dir": str(args.models_dir), "out": str(out_dir)},
        results={"corpus": rows, "schemathesis": fuzz, "rss": memory, "server_alive": alive},
        metrics={
            "malformed inputs: server errors": metric(server_errors, "count", "lower"),
            "schemathesis: generated requests": metric(fuzz["generated"], "count", None),
            "schemathesis: failing operations": metric(len(fuzz["failing_operations"]), "count", "lower"),
            "server RSS peak": metric(memory["peak_mib"], "MiB", "lower"),
        },
        markdown=report,
    )
    return 1 if server_errors or fuzz_failed or not alive else 0


if __name__ == "__main__":
    sys.exit(main())
