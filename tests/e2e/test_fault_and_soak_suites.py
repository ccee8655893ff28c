"""Smoke runs of the fault and soak suites (benchmarks/faults.py, benchmarks/soak.py) on the test models: they
must keep working, and what they check must hold. Their figures are judged from the reports, never here."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import faults, soak


def test_fault_suite_smoke(models_dir: Path, tmp_path: Path) -> None:
    status = faults.main(["--smoke", "--examples", "2", "--models-dir", str(models_dir), "--out", str(tmp_path)])
    result = json.loads((tmp_path / "faults.json").read_text())
    assert result["metrics"]["malformed inputs: server errors"]["value"] == 0
    assert result["results"]["schemathesis"]["generated"] > 50, result["results"]["schemathesis"]["summary"]
    assert result["results"]["server_alive"]
    assert status == 0, result["results"]["schemathesis"]["summary"]
    outcomes = {row["input"]: row["voice"] for row in result["results"]["corpus"]}
    assert outcomes["WAV of NaN floats"] == "422 bad_samples"
    assert outcomes["empty body"] == "422 empty_audio"
    assert (tmp_path / "report.md").read_text().startswith("# Fault suite")


def test_soak_smoke_with_a_reload(models_dir: Path, tmp_path: Path) -> None:
    status = soak.main(["--clients", "6", "--seconds", "6", "--reloads", "1", "--reload-every", "1",
                        "--models-dir", str(models_dir), "--out", str(tmp_path)])
    result = json.loads((tmp_path / "soak.json").read_text())
    assert result["results"]["reloads_done"] == 1
    assert {row["kind"] for row in result["results"]["rows"]} == set(soak.request_kinds("ws://unused"))
    assert status == 0, (tmp_path / "report.md").read_text()
