"""The jobs database: owners, the unfinished jobs a restart resumes, finishing once, and expiry."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from service.jobs_store import JobStore


def test_jobs_are_owned_resumable_finished_once_and_expire(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    first, second = store.new_id(), store.new_id()
    store.create(first, owner="alice", source="upload", input_path=tmp_path / "a.jsonl", input_format="jsonl",
                 rows_total=None)
    store.create(second, owner="bob", source="path", input_path=tmp_path / "b.csv", input_format="csv", rows_total=3)
    assert store.get(first, "alice") is not None and store.get(first, "bob") is None and store.get("nope") is None
    store.mark_running(first, 10)
    store.progress(first, 4, 1)
    store.close()

    reopened = JobStore(tmp_path)  # a restart: both are still to do, oldest first
    assert [j.id for j in reopened.unfinished()] == [first, second]
    job = reopened.get(first)
    assert job is not None and (job.status, job.rows_total, job.rows_done, job.errors) == ("running", 10, 4, 1)
    assert reopened.finish(first, "succeeded", summary={"rows": 10}) is True
    assert reopened.finish(first, "cancelled") is False  # an ended job stays as it ended
    done = reopened.get(first)
    assert done is not None and done.status == "succeeded" and done.summary == {"rows": 10}
    assert [j.id for j in reopened.unfinished()] == [second]
    assert reopened.expired(time.time() + 1) == [first] and reopened.expired(time.time() - 60) == []
    reopened.delete(first)
    assert reopened.get(first) is None
    mode = sqlite3.connect(tmp_path / "jobs.sqlite3").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
