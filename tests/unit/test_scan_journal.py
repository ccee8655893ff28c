"""The scan's journal, readers, summary and tabular outputs, without models."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from service.batch.journal import Journal, RowSet, read_records
from service.batch.sources import count_rows, detect_format, read_rows
from service.batch.summary import Summary
from service.batch.tabular import COLUMNS, write_table


def record(row: int, level: str = "low") -> dict:
    return {"id": f"ad-{row}", "row": row, "voice": None, "text": {"verdict": "legit", "score": 0.1},
            "risk": {"level": level, "score": 0.1, "reasons": []}, "elapsed_ms": 1.0}


def test_rowset_counts_each_row_once_and_grows() -> None:
    done = RowSet()
    for row in (0, 7, 8, 7, 1_000_003):
        done.add(row)
    assert done.count == 4
    assert 7 in done and 1_000_003 in done and 6 not in done and 5_000_000 not in done


def test_journal_resumes_after_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    journal = Journal(path)
    journal.append([record(0), record(2)])
    journal.append(record(r) for r in (1, 3))  # a generator is written and counted too
    journal.close()
    assert journal.done.count == 4
    with path.open("ab") as handle:  # what a kill -9 in the middle of a write can leave
        handle.write(b'{"id": "ad-4", "row": 4, "ri')
    reopened = Journal(path)
    assert reopened.truncated_bytes == len(b'{"id": "ad-4", "row": 4, "ri')
    assert reopened.done.count == 4 and 4 not in reopened.done and 3 in reopened.done
    reopened.append([record(4)])
    reopened.close()
    rows = [r["row"] for r in read_records(path)]
    assert rows == [0, 2, 1, 3, 4]
    assert all(line.endswith("}") for line in path.read_text().splitlines())


def test_journal_cuts_a_complete_but_unparsable_tail(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text(json.dumps(record(0)) + "\n" + "{not json\n")
    journal = Journal(path)
    journal.close()
    assert journal.done.count == 1 and path.read_text() == json.dumps(record(0)) + "\n"


def test_readers_stream_jsonl_csv_and_parquet_with_bad_lines_as_errors(tmp_path: Path) -> None:
    jsonl = tmp_path / "ads.jsonl"
    jsonl.write_text('{"id": "a", "text": "hello"}\n\nnot json\n[1, 2]\n{"id": 5, "text": "x"}\n')
    rows = list(read_rows(jsonl, "jsonl"))
    assert [r.index for r in rows] == [0, 1, 2, 3] and count_rows(jsonl, "jsonl") == 4
    assert rows[0].fields == {"id": "a", "text": "hello"} and rows[0].error is None
    assert rows[1].error is not None and rows[1].error[0] == "invalid_json"
    assert rows[2].error == ("invalid_json", "line is not a JSON object")
    table = tmp_path / "ads.csv"
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "landing_url"])
        writer.writerow(["a", "multi\nline, with comma", ""])
        writer.writerow(["b", "two", "https://x.nl"])
    rows = list(read_rows(table, "csv"))
    assert [r.fields for r in rows] == [{"id": "a", "text": "multi\nline, with comma"},
                                        {"id": "b", "text": "two", "landing_url": "https://x.nl"}]
    assert count_rows(table, "csv") == 2
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    parquet = tmp_path / "ads.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": "p1", "text": "t", "landing_url": None}] * 3), parquet)
    rows = list(read_rows(parquet, "parquet"))
    assert len(rows) == 3 == count_rows(parquet, "parquet") and rows[2].fields == {"id": "p1", "text": "t"}
    assert detect_format(Path("x.NDJSON")) == "jsonl" and detect_format(Path("x"), "csv") == "csv"
    with pytest.raises(ValueError):
        detect_format(Path("x.txt"))


def test_summary_counts_levels_verdicts_and_error_codes() -> None:
    records = [record(0, "low"), record(1, "critical"),
               {"id": None, "row": 2, "error": {"code": "invalid_json", "detail": "x"}},
               {**record(3, "high"), "voice": {"verdict": "fake"}}]
    out = Summary.of(records).to_dict(this_run_rows=4, elapsed_s=2.0)
    assert out["rows"] == 4 and out["scored"] == 3 and out["errors"] == 1
    assert out["risk_level"] == {"critical": 1, "high": 1, "low": 1}
    assert out["voice_verdict"] == {"fake": 1} and out["errors_by_code"] == {"invalid_json": 1}
    assert out["this_run"] == {"rows": 4, "elapsed_s": 2.0, "rows_per_s": 2.0}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tabular_outputs_hold_flat_columns_and_the_full_record(tmp_path: Path, fmt: str) -> None:
    records = [record(0), {"id": "bad", "row": 1, "error": {"code": "empty_text", "detail": "row has no text"}}]
    path = tmp_path / f"out.{fmt}"
    write_table(iter(records), path, fmt)
    if fmt == "csv":
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    else:
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    assert list(rows[0]) == list(COLUMNS) and not path.with_name(path.name + ".tmp").exists()
    assert rows[0]["risk_level"] == "low" and json.loads(rows[0]["result"]) == records[0]
    assert rows[1]["error_code"] == "empty_text" and rows[1]["risk_level"] in (None, "")
