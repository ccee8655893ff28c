"""`nepcheck scan` on one machine: an input file in, a results file out, resumable, in one or several processes.

JSONL output is the journal itself. For CSV or Parquet output the journal is `OUTPUT.partial.jsonl` until the
scan ends, then it is converted in one pass (through a temporary file and a rename) and removed; a finished CSV or
Parquet output is never overwritten.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.batch.engines import InProcessScorer, ProcessPoolScorer, RowScorer, load_scan_models
from service.batch.journal import Journal, read_records
from service.batch.progress import Progress
from service.batch.rows import AudioFiles
from service.batch.scan import scan
from service.batch.sources import count_rows, detect_format, read_rows
from service.batch.summary import Summary
from service.batch.tabular import write_table
from service.loaded_models import ModelSet
from service.settings import Settings


class ScanSetupError(ValueError):
    """The scan cannot start as asked (unknown format, an output that would be overwritten)."""


@dataclass(frozen=True)
class ScanPlan:
    input: Path
    input_format: str
    output: Path
    output_format: str

    @property
    def journal(self) -> Path:
        if self.output_format == "jsonl":
            return self.output
        return self.output.with_name(self.output.name + ".partial.jsonl")


def plan(input_path: Path, output: Path, input_format: str | None = None,
         output_format: str | None = None) -> ScanPlan:
    try:
        fmt_in = detect_format(input_path, input_format)
        fmt_out = detect_format(output, output_format)
    except ValueError as exc:
        raise ScanSetupError(str(exc)) from None
    if not input_path.is_file():
        raise ScanSetupError(f"{input_path} is not a file")
    result = ScanPlan(input_path, fmt_in, output, fmt_out)
    if fmt_out != "jsonl" and output.exists() and not result.journal.exists():
        raise ScanSetupError(f"{output} exists and holds a finished scan; remove it to scan again")
    return result


async def run(
    scan_plan: ScanPlan,
    settings: Settings,
    *,
    workers: int = 1,
    batch_size: int = 32,
    progress: bool = True,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Scan, finish the output, and return the summary (counts over the whole output, throughput of this run)."""
    files = AudioFiles(base=scan_plan.input.resolve().parent)
    journal = Journal(scan_plan.journal)
    total = count_rows(scan_plan.input, scan_plan.input_format)  # type: ignore[arg-type]
    models: ModelSet | None = None
    scorer: RowScorer
    if workers > 1:
        pool = ProcessPoolScorer(workers, dict(overrides or {}), files)
        await pool.warm()
        scorer = pool
    else:
        models = await asyncio.to_thread(load_scan_models, settings)
        models.start()
        scorer = InProcessScorer(models, settings, files)
    bar = Progress(total, already=journal.done.count, enabled=progress)
    started = time.perf_counter()
    try:
        written = await scan(
            read_rows(scan_plan.input, scan_plan.input_format),  # type: ignore[arg-type]
            journal, scorer, batch_size=batch_size, in_flight=2 * workers,
            on_written=lambda records: bar.advance(len(records)),
        )
    finally:
        elapsed = time.perf_counter() - started
        journal.close()
        await scorer.close()
        if models is not None:
            await models.close()
    bar.finish()
    summary = Summary.of(read_records(scan_plan.journal))
    if scan_plan.output_format != "jsonl":
        write_table(read_records(scan_plan.journal), scan_plan.output, scan_plan.output_format)
        scan_plan.journal.unlink()
    return {"input": str(scan_plan.input), "output": str(scan_plan.output), "workers": workers,
            **summary.to_dict(this_run_rows=written, elapsed_s=elapsed)}
