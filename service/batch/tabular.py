"""CSV and Parquet output: flat columns a spreadsheet or a query engine can filter on, plus the full record.

JSONL output is the record itself. Tabular outputs hold one row per record with the fields most filters need and
`result`, the complete record as JSON (voice and text windows, cues, reasons), so nothing is lost.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

COLUMNS = ("row", "id", "error_code", "error_detail", "risk_level", "risk_score", "text_verdict", "text_score",
           "voice_verdict", "voice_score", "result")
CHUNK_ROWS = 4096


def flat(record: dict[str, Any]) -> dict[str, Any]:
    error = record.get("error") or {}
    risk = record.get("risk") or {}
    text = record.get("text") or {}
    voice = record.get("voice") or {}
    return {
        "row": record.get("row"),
        "id": record.get("id"),
        "error_code": error.get("code"),
        "error_detail": error.get("detail"),
        "risk_level": risk.get("level"),
        "risk_score": risk.get("score"),
        "text_verdict": text.get("verdict"),
        "text_score": text.get("score"),
        "voice_verdict": voice.get("verdict"),
        "voice_score": voice.get("score"),
        "result": json.dumps(record, ensure_ascii=False, separators=(",", ":")),
    }


def arrow_schema() -> Any:
    import pyarrow as pa

    types = {"row": pa.int64(), "risk_score": pa.float64(), "text_score": pa.float64(), "voice_score": pa.float64()}
    return pa.schema([(name, types.get(name, pa.string())) for name in COLUMNS])


def arrow_table(records: Iterable[dict[str, Any]]) -> Any:
    import pyarrow as pa

    return pa.Table.from_pylist([flat(r) for r in records], schema=arrow_schema())


def _chunks(records: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, CHUNK_ROWS)):
        yield chunk


def write_table(records: Iterable[dict[str, Any]], path: Path, fmt: str) -> None:
    """Stream the records into `path` (CSV or Parquet) through a temporary file and a rename: all or nothing."""
    tmp = path.with_name(path.name + ".tmp")
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with pq.ParquetWriter(tmp, arrow_schema()) as writer:
            for chunk in _chunks(records):
                writer.write_table(arrow_table(chunk))
    else:
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer_csv = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer_csv.writeheader()
            for chunk in _chunks(records):
                writer_csv.writerows(flat(r) for r in chunk)
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
