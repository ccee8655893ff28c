"""Tiny runs of every `nepcheck bench` suite on the test models, so the suites keep working.

Structure and sanity only (files written, rows present, errors none, a planted regression flagged), never speed:
timings on a shared CI machine say nothing, and the figures that matter come from full runs on a quiet one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.cli import bench
from tests.audiokit import loud_speech, speech
from tests.modelkit import add_ngram, write_models, write_text_model

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_models(tmp_path_factory.mktemp("bench-models"))


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(bench, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_the_bench_group_is_a_nepcheck_command() -> None:
    from service.cli import main

    result = CliRunner().invoke(main, ["bench", "--help"])
    assert result.exit_code == 0 and "engine" in result.output and "compare" in result.output, result.output


def test_engine_times_every_variant_and_batch_and_compare_flags_a_slowdown(models: Path, tmp_path: Path) -> None:
    out = tmp_path / "engine"
    _invoke("engine", "--models-dir", str(models), "--batch", "1", "--batch", "4", "--runs", "3", "--budget-s", "0.2",
            "--no-eager", "--out", str(out))
    result = _load(out / "engine.json")
    assert result["suite"] == "engine" and result["machine"]["models"][0]["variants"]
    rows = [r for m in result["results"] for r in m["rows"]]
    assert {(r["model"], r["engine"], r["batch"]) for r in rows} >= {
        ("voice 0.0.1", "onnx fp32", 1), ("voice 0.0.1", "onnx fp32", 4), ("text 0.0.1", "onnx fp32", 4),
        ("voice 0.0.1", "speech gate (Silero VAD)", 1)}
    assert all(r["p50_ms"] > 0 and r["p50_ms"] <= r["p99_ms"] for r in rows)
    assert all(r["rtf"] > 0 for r in rows if r["task"] == "voice")
    assert "| voice 0.0.1 | onnx fp32 |" in (out / "report.md").read_text()

    # the same run against itself passes; a copy with every latency doubled is a regression (exit status 1)
    _invoke("compare", str(out / "engine.json"), str(out / "engine.json"))
    slow = _load(out / "engine.json")
    for m in slow["metrics"].values():
        if m["unit"] == "ms":
            m["value"] *= 2
    (tmp_path / "slow.json").write_text(json.dumps(slow))
    compared = CliRunner().invoke(bench, ["compare", str(out / "engine.json"), str(tmp_path / "slow.json")])
    assert compared.exit_code == 1 and "REGRESSION" in compared.output


def test_engine_times_a_text_models_ngram_half_per_text(tmp_path: Path) -> None:
    model = add_ngram(write_text_model(tmp_path / "models", version="0.0.2"))
    out = tmp_path / "engine"
    _invoke("engine", "--model", str(model), "--batch", "1", "--runs", "3", "--budget-s", "0.2",
            "--no-eager", "--out", str(out))
    rows = [r for m in _load(out / "engine.json")["results"] for r in m["rows"]]
    (ngram,) = [r for r in rows if r["engine"].startswith("n-gram half")]
    assert ngram["model"] == "text 0.0.2" and 0 < ngram["p50_ms"] <= ngram["p99_ms"]


def test_http_drives_the_real_server_and_the_stream(models: Path, tmp_path: Path) -> None:
    pytest.importorskip("websockets")
    out = tmp_path / "http"
    _invoke("http", "--models-dir", str(models), "--requests", "6", "--concurrency", "1", "--concurrency", "3",
            "--stream-calls", "1", "--stream-seconds", "4", "--stream-pace", "0", "--out", str(out))
    result = _load(out / "http.json")["results"]
    assert {r["target"] for r in result["http"]} == {"voice 4 s WAV", "voice 4 s mu-law 8 kHz", "text"}
    for row in result["http"]:
        assert row["ok"] == 6 and row["errors"] == {} and row["throughput_rps"] > 0, row
    (stream,) = result["stream"]
    assert stream["errors"] == {} and stream["windows"] >= 1  # a 4 s call at the test model's 2 s windows
    assert len(result["bare_model"]) == 2
    assert (out / "report.md").read_text().startswith("# nepcheck bench http")


def test_quality_scores_a_tiny_manifest_and_texts(models: Path, tmp_path: Path) -> None:
    pytest.importorskip("scipy")
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    from training.corpora.audio_io import write_clip
    from training.corpora.manifest import ManifestRow, write_manifest

    clips = tmp_path / "clips"
    clips.mkdir()
    rows = []
    for i in range(3):  # the test model calls loud audio fake: quiet speech is "bona fide", loud speech "spoof"
        write_clip(clips / f"real{i}.flac", speech(2.5, amplitude=0.05 + 0.03 * i), 16000)
        rows.append(ManifestRow(path=f"real{i}.flac", label="bonafide", system="human", source="gen"))
        write_clip(clips / f"fake{i}.flac", loud_speech(2.5), 16000)
        rows.append(ManifestRow(path=f"fake{i}.flac", label="spoof", system=f"tts{i % 2}", source="gen"))
    write_manifest(rows, clips / "manifest.csv")
    texts = tmp_path / "texts.jsonl"
    texts.write_text("\n".join(json.dumps(r) for r in [
        {"text": "guaranteed returns with this bitcoin bot", "label": "scam", "lang": "en", "kind": "crypto"},
        {"text": "thanks for dinner tonight", "label": "legit", "lang": "en", "kind": "chat"},
        {"text": "gegarandeerd rendement, maak het over naar de veilige rekening", "label": "scam", "lang": "nl"},
        {"text": "hoi, eten we vanavond samen", "label": "legit", "lang": "nl", "kind": "chat"},
    ]) + "\n")
    out = tmp_path / "quality"
    _invoke("quality", "--manifest", str(clips / "manifest.csv"), "--voice-model", str(models / "voice" / "0.0.1"),
            "--condition", "clean", "--condition", "mulaw8k", "--texts", str(texts),
            "--text-model", str(models / "text" / "0.0.1"), "--out", str(out))
    result = _load(out / "quality.json")
    conditions = {r["condition"]: r for r in result["results"]["voice"]["summary"]["by_condition"]}
    assert set(conditions) == {"clean", "mulaw8k"}
    assert conditions["clean"]["n_bonafide"] == 3 and conditions["clean"]["n_spoof"] == 3
    assert 0.0 <= conditions["clean"]["eer"] <= 0.5 and conditions["clean"]["roc_auc"] >= 0.5
    assert set(result["results"]["voice"]["by_system"]["clean"][0]) >= {"system", "eer", "min_dcf"}
    for name in ("scores.tsv", "keys.tsv", "scores_asvspoof2019.txt", "scores_asvspoof2021.txt", "det.png"):
        assert (out / "voice" / "clean" / name).is_file(), name
    assert len((out / "voice" / "clean" / "scores_asvspoof2021.txt").read_text().splitlines()) == 6
    assert (out / "voice" / "det_conditions.png").stat().st_size > 0
    # the same-run baseline: a level cue alone tells these quiet "real" clips from the loud "fakes"
    cue = result["results"]["voice"]["cue_baseline"]
    assert cue["eer"] == 0.0 and (out / "voice" / "cue_baseline.md").is_file()
    text = result["results"]["text"]["systems"]["text-0.0.1:fp32"]
    assert set(text["by_lang"]) == {"en", "nl"} and text["overall"]["n"] == 4
    assert any(k.endswith("clean / eer") for k in result["metrics"])
    assert any(k.endswith("all / f1 at likely_scam") for k in result["metrics"])

    worse = json.loads((out / "quality.json").read_text())
    key = next(k for k in worse["metrics"] if k.endswith("clean / eer"))
    worse["metrics"][key]["value"] += 0.05
    (tmp_path / "worse.json").write_text(json.dumps(worse))
    compared = CliRunner().invoke(bench, ["compare", str(out / "quality.json"), str(tmp_path / "worse.json")])
    assert compared.exit_code == 1 and key in compared.output
