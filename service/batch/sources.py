"""Streaming readers for scan inputs (JSONL, CSV, Parquet): one row at a time, so memory stays flat.

A row that cannot be parsed (a JSONL line that is not a JSON object) is still yielded, with its error, so that it
becomes an error record instead of stopping the scan.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Format = Literal["jsonl", "csv", "parquet"]
SUFFIXES: dict[str, Format] = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv",
                               ".parquet": "parquet", ".pq": "parquet"}
PARQUET_BATCH_ROWS = 1024


@dataclass(frozen=True)
class SourceRow:
    """Row `index` (0-based position in the input) with its fields, or the reason it could not be read."""

    index: int
    fields: dict[str, Any] | None
    error: tuple[str, str] | None = None  # (code, detail)


def detect_format(path: Path, given: str | None = None) -> Format:
    """The format named, or the one the file's suffix says; ValueError when neither says."""
    if given:
        if given not in ("jsonl", "csv", "parquet"):
            raise ValueError(f"unknown format '{given}' (jsonl, csv, parquet)")
        return given  # type: ignore[return-value]
    found = SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise ValueError(f"{path}: cannot tell the format from the suffix; name it (jsonl, csv or parquet)")
    return found


def count_rows(path: Path, fmt: Format) -> int:
    """Rows in the input, for progress and ETA; a streaming pass (Parquet: from the footer)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            return max(0, sum(1 for _ in csv.reader(handle)) - 1)
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            count += bool(line.strip())
    return count


def read_rows(path: Path, fmt: Format) -> Iterator[SourceRow]:
    if fmt == "jsonl":
        yield from _read_jsonl(path)
    elif fmt == "csv":
        yield from _read_csv(path)
    else:
        yield from _read_parquet(path)


def _read_jsonl(path: Path) -> Iterator[SourceRow]:
    index = 0
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.strip():
                continue  # blank lines are not rows
            try:
                value = json.loads(raw)
            except (UnicodeDecodeError, ValueError) as exc:
                yield SourceRow(index, None, ("invalid_json", f"line is not valid JSON: {exc}"))
            else:
                if isinstance(value, dict):
                    yield SourceRow(index, value)
                else:
                    yield SourceRow(index, None, ("invalid_json", "line is not a JSON object"))
            index += 1


def _read_csv(path: Path) -> Iterator[SourceRow]:
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        for index, record in enumerate(csv.DictReader(handle)):
            # Empty cells are absent fields, as in JSON; extra cells beyond the header land under None.
            yield SourceRow(index, {k: v for k, v in record.items() if k is not None and v not in (None, "")})


def _read_parquet(path: Path) -> Iterator[SourceRow]:
    import pyarrow.parquet as pq

    index = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=PARQUET_BATCH_ROWS):
        for record in batch.to_pylist():
            yield SourceRow(index, {k: v for k, v in record.items() if v is not None})
            index += 1
