"""Batch jobs on disk: one SQLite database (WAL) in NEPCHECK_DATA_DIR and a folder per job for its input and results.

The database says which jobs exist, whose they are and how far they got; the results themselves are the job's
append-only journal (`service.batch.journal`). A restart finds the unfinished jobs here and resumes them.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
UNFINISHED = ("queued", "running")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    input_path TEXT NOT NULL,
    input_format TEXT NOT NULL,
    rows_total INTEGER,
    rows_done INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    failure TEXT,
    summary TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished);
"""


@dataclass(frozen=True)
class Job:
    id: str
    owner: str
    status: JobStatus
    source: Literal["upload", "path"]
    input_path: str
    input_format: str
    rows_total: int | None
    rows_done: int
    errors: int
    created: float
    started: float | None
    finished: float | None
    failure: str | None
    summary: dict[str, Any] | None


def _job(row: sqlite3.Row) -> Job:
    fields = dict(row)
    fields["summary"] = json.loads(fields["summary"]) if fields["summary"] else None
    return Job(**fields)


class JobStore:
    """Every method is a short statement; callers use it from one thread (the server's event loop)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.jobs_dir = data_dir / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(data_dir / "jobs.sqlite3", isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    def folder(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def results_path(self, job_id: str) -> Path:
        return self.folder(job_id) / "results.jsonl"

    def create(self, job_id: str, *, owner: str, source: str, input_path: Path, input_format: str,
               rows_total: int | None) -> Job:
        self._db.execute(
            "INSERT INTO jobs (id, owner, status, source, input_path, input_format, rows_total, created) "
            "VALUES (?, ?, 'queued', ?, ?, ?, ?, ?)",
            (job_id, owner, source, str(input_path), input_format, rows_total, time.time()),
        )
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str, owner: str | None = None) -> Job | None:
        """The job, or None when it does not exist or belongs to another owner (callers cannot tell which)."""
        row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None or (owner is not None and row["owner"] != owner):
            return None
        return _job(row)

    def unfinished(self) -> list[Job]:
        rows = self._db.execute(
            "SELECT * FROM jobs WHERE status IN ('queued', 'running') ORDER BY created"
        ).fetchall()
        return [_job(r) for r in rows]

    def mark_running(self, job_id: str, rows_total: int | None) -> None:
        self._db.execute(
            "UPDATE jobs SET status = 'running', started = COALESCE(started, ?), rows_total = COALESCE(?, rows_total)"
            " WHERE id = ? AND status IN ('queued', 'running')",
            (time.time(), rows_total, job_id),
        )

    def progress(self, job_id: str, rows_done: int, errors: int) -> None:
        self._db.execute("UPDATE jobs SET rows_done = ?, errors = ? WHERE id = ?", (rows_done, errors, job_id))

    def finish(self, job_id: str, status: JobStatus, *, summary: dict[str, Any] | None = None,
               failure: str | None = None) -> bool:
        """Close an unfinished job; False when it was already finished (e.g. cancelled meanwhile)."""
        cursor = self._db.execute(
            "UPDATE jobs SET status = ?, finished = ?, summary = COALESCE(?, summary), failure = ? "
            "WHERE id = ? AND status IN ('queued', 'running')",
            (status, time.time(), json.dumps(summary) if summary is not None else None, failure, job_id),
        )
        return cursor.rowcount == 1

    def expired(self, finished_before: float) -> list[str]:
        rows = self._db.execute("SELECT id FROM jobs WHERE finished IS NOT NULL AND finished < ?",
                                (finished_before,)).fetchall()
        return [r["id"] for r in rows]

    def delete(self, job_id: str) -> None:
        self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
