"""The scan loop: read rows in order, skip those the journal already holds, flag bad and duplicate rows, score the
rest in batches with a bounded number in flight, and append each finished batch to the journal.

Duplicates are decided in input order, done rows included, so a resumed scan calls the same row the duplicate as
an uninterrupted one would. The ids seen are kept as 16-byte digests (about 90 bytes a row in a Python set; the
rows themselves stream).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from service.batch.engines import RowScorer
from service.batch.journal import Journal
from service.batch.rows import error_record, row_id
from service.batch.sources import SourceRow

OnWritten = Callable[[list[dict[str, Any]]], Awaitable[None] | None]


async def _score_batch(scorer: RowScorer, batch: list[tuple[int, dict[str, Any] | None, dict[str, Any] | None]]
                       ) -> list[dict[str, Any]]:
    """Records for a batch: rows already judged bad keep their error record, the others are scored."""
    todo = [(index, fields) for index, fields, record in batch if record is None and fields is not None]
    scored = iter(await scorer.score(todo)) if todo else iter(())
    return [record if record is not None else next(scored) for _, _, record in batch]


async def scan(
    rows: Iterable[SourceRow],
    journal: Journal,
    scorer: RowScorer,
    *,
    batch_size: int = 32,
    in_flight: int = 2,
    on_written: OnWritten | None = None,
    pause: Callable[[], Awaitable[None]] | None = None,
) -> int:
    """Score every row the journal does not hold yet; returns how many records this run wrote.

    `pause`, awaited before each batch is sent, lets a caller hold batch work back (the jobs runner yields to
    interactive requests there). Cancelling the coroutine stops it; what was written stays written.
    """
    seen: set[bytes] = set()
    pending: set[asyncio.Task[list[dict[str, Any]]]] = set()
    written = 0

    async def drain(until: int) -> None:
        nonlocal written
        while len(pending) > until:
            finished, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                pending.discard(task)
                records = task.result()
                await asyncio.to_thread(journal.append, records)
                written += len(records)
                if on_written is not None:
                    outcome = on_written(records)
                    if outcome is not None:
                        await outcome

    batch: list[tuple[int, dict[str, Any] | None, dict[str, Any] | None]] = []
    try:
        for source in rows:
            ad_id = row_id(source.fields)
            digest = hashlib.blake2b(ad_id.encode("utf-8"), digest_size=16).digest() if ad_id else None
            duplicate = digest is not None and digest in seen
            if digest is not None:
                seen.add(digest)
            if source.index in journal.done:
                continue
            record = None
            if source.error is not None:
                record = error_record(source.index, ad_id, *source.error)
            elif duplicate:
                record = error_record(source.index, ad_id, "duplicate_id", f"id {ad_id!r} came earlier in the input")
            batch.append((source.index, source.fields, record))
            if len(batch) >= batch_size:
                await drain(in_flight - 1)
                if pause is not None:
                    await pause()
                pending.add(asyncio.ensure_future(_score_batch(scorer, batch)))
                batch = []
        if batch:
            await drain(in_flight - 1)
            if pause is not None:
                await pause()
            pending.add(asyncio.ensure_future(_score_batch(scorer, batch)))
        await drain(0)
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
    return written
