"""One results layout for every suite: a folder holding `<suite>.json`, `report.md` and PNG plots.

The JSON carries the machine block, the settings, the suite's own rows and a flat `metrics` map that `bench
compare` reads: each metric has a value, a unit and which direction is better (`lower`, `higher`, or None for
figures that are context only, such as a row count). Keys name what was measured in words, so a comparison
prints readable lines and two runs with the same settings produce the same keys.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from service.settings import PROJECT_ROOT

SCHEMA = "nepcheck-bench/1"
RESULTS = PROJECT_ROOT / "benchmarks" / "results"
Better = Literal["lower", "higher"] | None


def metric(value: float, unit: str, better: Better) -> dict[str, Any]:
    return {"value": float(value), "unit": unit, "better": better}


def results_dir(suite: str, out: Path | None) -> Path:
    """`out` if given, else benchmarks/results/<suite>-<UTC time>/ (a new folder per run, never overwritten)."""
    if out is None:
        out = RESULTS / f"{suite}-{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}"
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_results(out_dir: Path, suite: str, *, machine: Mapping[str, Any], settings: Mapping[str, Any],
                  results: Any, metrics: Mapping[str, Mapping[str, Any]], markdown: str,
                  files: Sequence[str] = ()) -> Path:
    """`<suite>.json` and `report.md` in `out_dir`; returns the JSON's path."""
    path = out_dir / f"{suite}.json"
    payload = {
        "schema": SCHEMA, "suite": suite, "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": ["nepcheck", "bench", *sys.argv[2:]] if Path(sys.argv[0]).name == "nepcheck" else sys.argv,
        "machine": {**machine, "load_average_after": _load_average()}, "settings": dict(settings),
        "results": results, "metrics": dict(metrics),
        "files": [*files, "report.md"],
    }
    path.write_text(json.dumps(payload, indent=2, allow_nan=False, default=str) + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(markdown, encoding="utf-8")
    return path


def _load_average() -> list[float] | None:
    """Load at the end of a run, beside the machine block's load at its start: a busy machine slows every timing."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def read_results(path: Path) -> dict[str, Any]:
    """A result file written by `write_results`; anything else is refused with the reason."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read a result file: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("schema") != SCHEMA or not isinstance(payload.get("metrics"), dict):
        raise ValueError(f"{path}: not a nepcheck bench result (expected \"schema\": \"{SCHEMA}\" and \"metrics\")")
    return payload


def machine_line(machine: Mapping[str, Any]) -> str:
    load = machine.get("load_average")
    load_text = f", load {load[0]:.2f}" if load else ""
    libs = machine.get("libraries", {})
    return (f"{machine.get('cpu_model')}, {machine.get('usable_cores')} usable cores{load_text}; "
            f"onnxruntime {libs.get('onnxruntime') or libs.get('onnxruntime-gpu')}, "
            f"providers {', '.join(machine.get('onnxruntime_providers', []))}; git {machine.get('git')}")


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str, str]]) -> str:
    """A Markdown table: `columns` are (header, key, format) with format like `.1f`, `.1%` or '' for str()."""
    lines = ["| " + " | ".join(h for h, _, _ in columns) + " |",
             "|" + "|".join("---" if not f else "---:" for _, _, f in columns) + "|"]
    for row in rows:
        cells = []
        for _, key, fmt in columns:
            value = row.get(key)
            cells.append("-" if value is None else format(value, fmt) if fmt else str(value).replace("|", "/"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plotting_available() -> bool:
    """matplotlib comes with the training extra; without it a suite writes no PNG and says so."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def new_figure(width: float = 7.0, height: float = 4.5) -> Any:
    """A matplotlib Figure on the Agg canvas (no pyplot, so no global backend switch and nothing left open)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure
