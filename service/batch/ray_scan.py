"""`nepcheck scan --engine ray`: the same scan on Ray Data, for inputs one machine cannot get through in time.

Each scorer actor loads the ONNX models once and scores its batches through `service.batch.rows.score_row`, the
function every other engine uses, on an event loop of its own (the service's scorers are async and micro-batch).
Ray reads the input in parallel (`read_json`, `read_csv`, `read_parquet`) and writes a folder of Parquet or JSONL
files with the tabular columns of `service.batch.tabular` (`result` holds the full record).

Differences from the local engine: rows carry `row: null` (Ray gives rows no global position), duplicate ids are
not flagged (that needs the rows in order), a line that is not JSON fails the read rather than one row, and a
killed driver is not resumed (Ray retries failed tasks itself). Needs the `scale` extra (`ray[data]`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import ray

from service.batch.engines import InProcessScorer, load_scan_models
from service.batch.rows import AudioFiles
from service.batch.sources import detect_format
from service.batch.tabular import arrow_table
from service.settings import Settings

MAX_DEFAULT_ACTORS = 8


class AdScorer:
    """A Ray Data UDF class: the models load once per actor, then every batch goes through the shared scorer."""

    def __init__(self, settings: dict[str, Any], audio_base: str | None) -> None:
        self.settings = Settings(**settings)
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.models = load_scan_models(self.settings)

        async def start() -> None:
            self.models.start()

        self.loop.run_until_complete(start())
        self.scorer = InProcessScorer(self.models, self.settings,
                                      AudioFiles(base=Path(audio_base) if audio_base else None))

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = [(None, {k: v for k, v in row.items() if v is not None}) for row in batch.to_pylist()]
        records = self.loop.run_until_complete(self.scorer.score(rows))
        return arrow_table(records)


def _read(input_path: Path, fmt: str) -> Any:
    if fmt == "parquet":
        return ray.data.read_parquet(str(input_path))
    if fmt == "csv":
        return ray.data.read_csv(str(input_path))
    return ray.data.read_json(str(input_path), lines=True)


def run_ray_scan(
    input_path: Path,
    output: Path,
    settings: Settings,
    *,
    input_format: str | None = None,
    output_format: str | None = None,
    batch_size: int = 32,
    concurrency: int | None = None,
    num_gpus: float | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    """Scan on Ray and return the summary. `output` becomes a folder of files (Parquet, or JSONL for .jsonl)."""
    if not input_path.exists():
        raise ValueError(f"{input_path} does not exist")
    fmt_in = detect_format(input_path, input_format)
    fmt_out = output_format or ("parquet" if output.suffix.lower() in ("", ".parquet", ".pq") else "jsonl")
    if fmt_out == "csv":
        raise ValueError("the ray engine writes parquet or jsonl folders")
    if output.exists():
        raise ValueError(f"{output} exists; the ray engine writes a new folder")
    if not ray.is_initialized():
        ray.init(address=address or os.environ.get("RAY_ADDRESS"), include_dashboard=False,
                 log_to_driver=False)
    resources = ray.cluster_resources()
    gpus = num_gpus if num_gpus is not None else (1.0 if resources.get("GPU", 0) > 0 else 0.0)
    cpus = float(resources.get("CPU", 1))
    actors = concurrency or max(1, min(MAX_DEFAULT_ACTORS, int(cpus)))
    # Leave a whole CPU for Ray Data's read and write tasks (each asks for one): actors that took it would wait for
    # them for ever. On a one-CPU machine the actors ask for none.
    cpus_per_actor = max(0.0, min(1.0, (cpus - 1) / actors))
    overrides = settings.model_dump()
    if gpus > 0 and "NEPCHECK_PROVIDERS" not in os.environ:
        overrides["providers"] = ["cuda", "cpu"]
    if not overrides.get("intra_op_threads"):
        overrides["intra_op_threads"] = 1  # at most a CPU per actor: Ray places them, ONNX Runtime must not spread
    started = time.perf_counter()
    scored = _read(input_path, fmt_in).map_batches(
        AdScorer, fn_constructor_kwargs={"settings": overrides, "audio_base": str(input_path.resolve().parent)},
        batch_size=batch_size, batch_format="pyarrow", concurrency=actors, num_cpus=cpus_per_actor,
        num_gpus=gpus,
    )
    if fmt_out == "parquet":
        scored.write_parquet(str(output))
    else:
        scored.write_json(str(output))
    elapsed = time.perf_counter() - started  # actor start-up and model loading included
    summary = _summary(output, fmt_out)
    return {"input": str(input_path), "output": str(output), "engine": "ray", "actors": actors,
            "num_gpus_per_actor": gpus, **summary,
            "this_run": {"rows": summary["rows"], "elapsed_s": round(elapsed, 3),
                         "rows_per_s": round(summary["rows"] / elapsed, 2) if elapsed > 0 else None}}


def _summary(output: Path, fmt: str) -> dict[str, Any]:
    """Counts from the written files, read on the driver with pyarrow (only the small columns)."""
    import pyarrow.dataset as pads

    columns = ["error_code", "risk_level", "text_verdict", "voice_verdict"]
    counts: dict[str, Counter[str]] = {c: Counter() for c in columns}
    rows = 0
    written = pads.dataset(str(output), format="parquet" if fmt == "parquet" else "json")
    for batch in written.to_batches(columns=columns):
        rows += batch.num_rows
        for column in columns:
            for value in batch.column(column).to_pylist():
                if value is not None:
                    counts[column][value] += 1
    errors = sum(counts["error_code"].values())
    return {"rows": rows, "scored": rows - errors, "errors": errors,
            "risk_level": dict(sorted(counts["risk_level"].items())),
            "text_verdict": dict(sorted(counts["text_verdict"].items())),
            "voice_verdict": dict(sorted(counts["voice_verdict"].items())),
            "errors_by_code": dict(sorted(counts["error_code"].items()))}
