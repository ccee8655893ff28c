"""The append-only results file of a scan: JSONL, one record per input row, fsynced per batch.

A `kill -9` can leave at most a torn last line; opening the journal again cuts it off, reads which rows are already
done, and the scan goes on from there. A record is written only once its whole line is in one `write`, so a row is
either complete in the file or absent: resuming never loses or duplicates a row.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


class RowSet:
    """Which rows are done, one bit per row: ten million rows cost 1.25 MB."""

    def __init__(self) -> None:
        self._bits = bytearray()
        self.count = 0

    def add(self, row: int) -> None:
        byte, bit = divmod(row, 8)
        if byte >= len(self._bits):
            self._bits.extend(bytes(byte + 1 - len(self._bits) + 4096))
        if not self._bits[byte] >> bit & 1:
            self._bits[byte] |= 1 << bit
            self.count += 1

    def __contains__(self, row: int) -> bool:
        byte, bit = divmod(row, 8)
        return byte < len(self._bits) and bool(self._bits[byte] >> bit & 1)


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The complete records in a journal (a torn last line is skipped)."""
    if not path.exists():
        return
    with path.open("rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                return
            try:
                yield json.loads(line)
            except ValueError:
                return


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.done = RowSet()
        self.truncated_bytes = self._recover()
        self._handle = path.open("ab")

    def _recover(self) -> int:
        """Cut a torn tail (an unfinished or unparsable last line) and note the rows already written."""
        if not self.path.exists():
            return 0
        good = 0
        with self.path.open("rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    break
                try:
                    record = json.loads(line)
                except ValueError:
                    break
                self.done.add(int(record["row"]))
                good += len(line)
        size = self.path.stat().st_size
        if size > good:
            with self.path.open("r+b") as handle:
                handle.truncate(good)
                os.fsync(handle.fileno())
        return size - good

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Write the records and make them durable before returning: then they count as done."""
        records = list(records)
        lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records]
        if not lines:
            return
        self._handle.write("".join(lines).encode("utf-8"))
        self._handle.flush()
        os.fsync(self._handle.fileno())
        for record in records:
            self.done.add(int(record["row"]))

    def close(self) -> None:
        self._handle.close()
