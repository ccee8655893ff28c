"""The closing summary of a scan: counts by risk level and verdicts, errors by code, and throughput."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Summary:
    rows: int = 0
    scored: int = 0
    errors: int = 0
    risk_level: Counter[str] = field(default_factory=Counter)
    text_verdict: Counter[str] = field(default_factory=Counter)
    voice_verdict: Counter[str] = field(default_factory=Counter)
    error_code: Counter[str] = field(default_factory=Counter)

    def add(self, record: dict[str, Any]) -> None:
        self.rows += 1
        if "error" in record:
            self.errors += 1
            self.error_code[record["error"]["code"]] += 1
            return
        self.scored += 1
        self.risk_level[record["risk"]["level"]] += 1
        self.text_verdict[record["text"]["verdict"]] += 1
        if record.get("voice") is not None:
            self.voice_verdict[record["voice"]["verdict"]] += 1

    @classmethod
    def of(cls, records: Iterable[dict[str, Any]]) -> Summary:
        summary = cls()
        for record in records:
            summary.add(record)
        return summary

    def to_dict(self, *, this_run_rows: int | None = None, elapsed_s: float | None = None) -> dict[str, Any]:
        """Counts cover every record written (earlier runs of a resumed scan too); throughput covers this run."""
        out: dict[str, Any] = {
            "rows": self.rows,
            "scored": self.scored,
            "errors": self.errors,
            "risk_level": dict(sorted(self.risk_level.items())),
            "text_verdict": dict(sorted(self.text_verdict.items())),
            "voice_verdict": dict(sorted(self.voice_verdict.items())),
            "errors_by_code": dict(sorted(self.error_code.items())),
        }
        if this_run_rows is not None and elapsed_s is not None:
            out["this_run"] = {
                "rows": this_run_rows,
                "elapsed_s": round(elapsed_s, 3),
                "rows_per_s": round(this_run_rows / elapsed_s, 2) if elapsed_s > 0 else None,
            }
        return out
