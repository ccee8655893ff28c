"""`nepcheck bench compare A.json B.json`: what changed from run A (the baseline) to run B, and whether it regressed.

Metrics are matched by key. A metric whose `better` direction is known regresses when B is worse than A by more
than the tolerance: for quality figures (rates, costs, bits, AUC) an absolute one in the metric's own unit
(`--quality-tolerance 0.01`: one EER point), for counts of errors none (any increase), and for everything else
(timings, throughput, memory) a relative one (`--tolerance 0.10`: 10% slower or 10% less throughput). Timings are only
comparable on the same machine class, so differing CPUs, core counts or ONNX Runtime versions are printed first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from benchmarks.machine import same_machine_class

# Quality figures on a fixed scale take an absolute slack; counts of errors none; every other unit (ms, 1/s,
# MiB, ...) a relative one.
ABSOLUTE_UNITS = frozenset({"rate", "cost", "bits", "auc"})


@dataclass(frozen=True)
class Change:
    key: str
    unit: str
    better: str | None
    a: float
    b: float
    status: str  # "regression", "improved", "ok", "info"

    @property
    def relative(self) -> float | None:
        return (self.b - self.a) / abs(self.a) if self.a else None


def judge(a: float, b: float, unit: str, better: str | None, tolerance: float, quality_tolerance: float) -> str:
    if better not in ("lower", "higher"):
        return "info"
    worse = b - a if better == "lower" else a - b  # > 0 means B is worse
    if unit == "count":
        limit = 0.0
    elif unit in ABSOLUTE_UNITS:
        limit = quality_tolerance
    else:
        limit = tolerance * abs(a)
    if worse > limit + 1e-12:
        return "regression"
    if -worse > limit + 1e-12:
        return "improved"
    return "ok"


def compare(a: Mapping[str, Any], b: Mapping[str, Any], *, tolerance: float = 0.10,
            quality_tolerance: float = 0.01) -> dict[str, Any]:
    """Every shared metric judged, plus what only one side has and how the machines differ."""
    ma, mb = a["metrics"], b["metrics"]
    changes = []
    for key in sorted(set(ma) & set(mb)):
        va, vb = float(ma[key]["value"]), float(mb[key]["value"])
        if not (math.isfinite(va) and math.isfinite(vb)):
            continue
        unit, better = ma[key].get("unit", ""), ma[key].get("better")
        changes.append(Change(key, unit, better, va, vb, judge(va, vb, unit, better, tolerance, quality_tolerance)))
    return {
        "suites": (a.get("suite"), b.get("suite")),
        "machine_differences": same_machine_class(a.get("machine", {}), b.get("machine", {})),
        "changes": changes,
        "only_in_a": sorted(set(ma) - set(mb)),
        "only_in_b": sorted(set(mb) - set(ma)),
        "regressions": [c for c in changes if c.status == "regression"],
    }


def _value(v: float, unit: str) -> str:
    if unit == "rate":
        return f"{v:.2%}"
    return f"{v:.4g}"


def render(result: Mapping[str, Any], *, show_all: bool = False) -> str:
    lines = []
    sa, sb = result["suites"]
    if sa != sb:
        lines.append(f"warning: comparing suite {sa!r} with suite {sb!r}; only shared metrics are judged")
    if result["machine_differences"]:
        lines.append("warning: different machine class, timings are not comparable: "
                     + "; ".join(result["machine_differences"]))
    shown = [c for c in result["changes"] if show_all or c.status != "ok"]
    if shown:
        lines += ["| metric | A | B | change | status |", "|---|---:|---:|---:|---|"]
        for c in shown:
            rel = c.relative
            absolute = c.unit in ABSOLUTE_UNITS or c.unit == "count"
            change = f"{rel:+.1%}" if rel is not None and not absolute else f"{c.b - c.a:+.4g}"
            status = c.status.upper() if c.status == "regression" else c.status
            key = c.key.replace("|", "/")
            lines.append(f"| {key} | {_value(c.a, c.unit)} | {_value(c.b, c.unit)} | {change} | {status} |")
    counts: dict[str, int] = {}
    for c in result["changes"]:
        counts[c.status] = counts.get(c.status, 0) + 1
    lines.append(f"{len(result['changes'])} shared metrics: "
                 + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) if result["changes"]
                 else "no shared metrics")
    for side in ("a", "b"):
        only = result[f"only_in_{side}"]
        if only:
            lines.append(f"{len(only)} metric(s) only in {side.upper()}, e.g. {only[0]}")
    return "\n".join(lines)
