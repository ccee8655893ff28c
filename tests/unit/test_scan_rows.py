"""A local scan on the small test models: every kind of bad row becomes an error record with its code, audio comes
by path or base64, outputs in every format, and several worker processes give the same records as one."""

from __future__ import annotations

import asyncio
import base64
import csv
import json
from pathlib import Path

import pytest

from service.batch import local
from service.batch.journal import read_records
from service.batch.rows import AudioFiles
from service.errors import InvalidInput
from service.settings import Settings
from tests.audiokit import CONTAINERS, loud_speech, speech

SCAM = "guaranteed bitcoin returns with our crypto bot"
LEGIT = "hello dinner tonight with the weather"


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def scan(models_dir: Path, source: Path, out: Path, **kwargs: object) -> dict:
    settings = Settings(models_dir=models_dir, auth_disabled=True, max_audio_s=60)
    plan = local.plan(source, out)
    overrides = {"models_dir": models_dir, "auth_disabled": True, "max_audio_s": 60}
    return asyncio.run(local.run(plan, settings, progress=False, overrides=overrides, **kwargs))  # type: ignore[arg-type]


def test_bad_rows_become_error_records_and_the_scan_goes_on(models_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "loud.wav").write_bytes(CONTAINERS["audio/wav"](loud_speech(3.0), 16000))
    (tmp_path / "garbage.wav").write_bytes(b"RIFF not really audio at all")
    quiet = base64.b64encode(CONTAINERS["audio/flac"](speech(3.0, amplitude=0.05), 16000)).decode()
    source = write_jsonl(tmp_path / "ads.jsonl", [
        {"id": "scam", "text": SCAM, "landing_url": "http://bit.ly/x"},
        {"id": "legit", "text": LEGIT},
        {"id": "voice-path", "text": LEGIT, "audio_path": "loud.wav"},
        {"id": "voice-b64", "text": LEGIT, "audio_base64": quiet},
        "{broken json",
        {"id": "scam", "text": "the same id again"},
        {"text": "no id here"},
        {"id": "no-text"},
        {"id": "blank", "text": "   "},
        {"id": "bad-b64", "text": LEGIT, "audio_base64": "%%%"},
        {"id": "bad-audio", "text": LEGIT, "audio_path": "garbage.wav"},
        {"id": "missing-audio", "text": LEGIT, "audio_path": "nowhere.wav"},
        {"id": "both", "text": LEGIT, "audio_path": "loud.wav", "audio_base64": quiet},
        {"id": "x" * 300, "text": LEGIT},
        {"id": "long", "text": "hello " * 20_000},
        {"id": 17, "text": SCAM},
    ])
    summary = scan(models_dir, source, tmp_path / "out.jsonl")
    records = list(read_records(tmp_path / "out.jsonl"))
    assert sorted(r["row"] for r in records) == list(range(16))
    by_row = {r["row"]: r for r in records}
    codes = {row: r["error"]["code"] for row, r in by_row.items() if "error" in r}
    assert codes == {4: "invalid_json", 5: "duplicate_id", 6: "missing_id", 7: "empty_text", 8: "empty_text",
                     9: "invalid_base64", 10: "undecodable_audio", 11: "audio_not_found", 12: "invalid_row",
                     13: "invalid_row", 14: "text_too_long"}
    assert by_row[5]["id"] == "scam" and by_row[6]["id"] is None
    assert by_row[0]["risk"]["level"] == "critical" and by_row[0]["voice"] is None
    assert any(reason["detector"] == "url" for reason in by_row[0]["risk"]["reasons"])
    assert by_row[1]["risk"]["level"] == "low"
    assert by_row[2]["voice"]["verdict"] == "fake" and by_row[3]["voice"]["verdict"] == "genuine"
    assert by_row[15]["id"] == "17" and by_row[15]["text"]["verdict"] == "scam"
    assert set(by_row[0]) == {"id", "voice", "text", "risk", "elapsed_ms", "row"}
    assert summary["rows"] == 16 and summary["scored"] == 5 and summary["errors"] == 11
    assert summary["errors_by_code"]["empty_text"] == 2 and summary["this_run"]["rows"] == 16
    # run again: everything is done, nothing is written twice
    again = scan(models_dir, source, tmp_path / "out.jsonl")
    assert again["this_run"]["rows"] == 0 and len(list(read_records(tmp_path / "out.jsonl"))) == 16


def test_audio_paths_stay_inside_the_root_when_one_is_set(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    files = AudioFiles(base=root / "sub", root=root)
    assert files.resolve("a.wav") == (root / "sub" / "a.wav").resolve()
    assert files.resolve("../b.wav") == (root / "b.wav").resolve()
    for escape in ("../../etc/passwd", "/etc/passwd"):
        with pytest.raises(InvalidInput) as caught:
            files.resolve(escape)
        assert caught.value.code == "audio_path_not_allowed"
    with pytest.raises(InvalidInput):
        AudioFiles(base=None).resolve("a.wav")
    assert AudioFiles(base=tmp_path).resolve("/etc/hosts") == Path("/etc/hosts")  # a local scan reads any file


def test_csv_in_parquet_out_and_several_workers_agree(models_dir: Path, tmp_path: Path) -> None:
    ads = [{"id": f"ad-{i}", "text": SCAM if i % 3 == 0 else LEGIT} for i in range(24)]
    source = tmp_path / "ads.csv"
    with source.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "text", "extra"])
        writer.writeheader()
        writer.writerows(ads)
    one = scan(models_dir, source, tmp_path / "one.parquet", batch_size=5)
    two = scan(models_dir, source, tmp_path / "two.jsonl", workers=2, batch_size=5)
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "one.parquet").to_pylist()
    assert not (tmp_path / "one.parquet.partial.jsonl").exists()
    from_two = {r["id"]: r for r in read_records(tmp_path / "two.jsonl")}
    assert len(table) == len(from_two) == 24 and one["risk_level"] == two["risk_level"]
    for row in table:
        full = json.loads(row["result"])
        other = from_two[row["id"]]  # float sums may differ in the last bits with another batch or thread count
        assert full["risk"]["level"] == other["risk"]["level"]
        assert full["risk"]["score"] == pytest.approx(other["risk"]["score"], abs=1e-6)
        assert full["text"]["score"] == row["text_score"]
    with pytest.raises(local.ScanSetupError, match="finished scan"):
        local.plan(source, tmp_path / "one.parquet")
