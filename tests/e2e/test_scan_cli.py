"""`nepcheck scan` as a user runs it: killed with SIGKILL in the middle and run again, it ends with exactly one
record per input row; and a scanned ad gets the answer `POST /v1/ads/score` gives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

SCAM = "guaranteed bitcoin returns with our crypto bot"
LEGIT = "hello dinner tonight with the weather"


def ads(n: int) -> list[dict[str, str]]:
    return [{"id": f"ad-{i:05d}", "text": (SCAM if i % 4 == 0 else LEGIT) + f" {i}",
             **({"landing_url": "http://bit.ly/x"} if i % 5 == 0 else {})} for i in range(n)]


def scan_command(source: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "service.cli", "scan", str(source), "--out", str(out), *extra]


def rounded(value: object) -> object:
    """Scores to 6 decimals: the same ad in another batch may differ in a float sum's last bits."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_a_scan_killed_with_sigkill_resumes_with_one_record_per_id(models_dir: Path, tmp_path: Path) -> None:
    n = 3000
    source, out = tmp_path / "ads.jsonl", tmp_path / "results.jsonl"
    source.write_text("".join(json.dumps(ad) + "\n" for ad in ads(n)))
    env = {**os.environ, "NEPCHECK_MODELS_DIR": str(models_dir), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(scan_command(source, out, "--batch-size", "4", "--no-progress"), env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while lines(out) < 200 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    assert process.returncode == -signal.SIGKILL
    written = lines(out)
    assert 200 <= written < n, f"the scan was not killed mid-way ({written} of {n} rows written)"
    # A kill can land inside a write: leave a torn record at the end, as such a kill would.
    with out.open("ab") as handle:
        handle.write(b'{"id":"ad-99999","voice":null,"text":{"sco')
    resumed = subprocess.run(scan_command(source, out, "--no-progress"), env=env, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["rows"] == n and summary["errors"] == 0 and summary["this_run"]["rows"] == n - written
    records = [json.loads(line) for line in out.read_text().splitlines()]
    ids = [r["id"] for r in records]
    assert len(ids) == n and len(set(ids)) == n and set(ids) == {ad["id"] for ad in ads(n)}
    assert sorted(r["row"] for r in records) == list(range(n))
    assert summary["risk_level"] == {"critical": n // 4, "low": n - n // 4}


def test_a_scanned_ad_gets_the_answer_of_the_api(models_dir: Path, tmp_path: Path, client: httpx.Client) -> None:
    sample = ads(6)
    source, out = tmp_path / "ads.jsonl", tmp_path / "results.jsonl"
    source.write_text("".join(json.dumps(ad) + "\n" for ad in sample))
    env = {**os.environ, "NEPCHECK_MODELS_DIR": str(models_dir)}
    result = subprocess.run(scan_command(source, out), env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "6/6 rows" in result.stderr and "ads/s" in result.stderr  # the progress line
    scanned = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    for ad in sample:
        answer = client.post("/v1/ads/score", json=ad).json()
        record = scanned[ad["id"]]
        for part in (answer, record):
            part.pop("elapsed_ms")
            part["text"].pop("elapsed_ms")
        assert record.pop("row") == sample.index(ad) and rounded(record) == rounded(answer)


def test_bad_arguments_fail_with_one_line(models_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "NEPCHECK_MODELS_DIR": str(models_dir)}
    missing = subprocess.run(scan_command(tmp_path / "none.jsonl", tmp_path / "o.jsonl"), env=env,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and missing.stderr.startswith("nepcheck: error:")
    assert "Traceback" not in missing.stderr
    (tmp_path / "ads.txt").write_text("{}\n")
    unknown = subprocess.run(scan_command(tmp_path / "ads.txt", tmp_path / "o.jsonl"), env=env,
                             capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "format" in unknown.stderr
