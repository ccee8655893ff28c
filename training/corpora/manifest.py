"""One manifest schema for every speech corpus, so training, evaluation and audits read any of them alike.

A manifest is a CSV with the columns of `ManifestRow`. `system` is the attack id (`bonafide` rows carry the
recording's source, e.g. `human`), `source` the corpus or page a clip comes from, `condition` its channel
(`clean`, `mulaw8k`, ...). Hold-out splits are made over whole systems and whole sources, never over clips.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

LABELS = ("bonafide", "spoof")
SPLITS = ("train", "dev", "eval", "")


@dataclass(frozen=True)
class ManifestRow:
    path: str
    label: str
    system: str
    speaker: str = ""
    language: str = ""
    split: str = ""
    source: str = ""
    condition: str = "clean"

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"label must be one of {LABELS}, got {self.label!r} for {self.path}")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r} for {self.path}")
        if not self.path or not self.system:
            raise ValueError(f"path and system are required: {self!r}")

    def with_split(self, split: str) -> ManifestRow:
        return replace(self, split=split)


COLUMNS = tuple(f.name for f in fields(ManifestRow))


def write_manifest(rows: Iterable[ManifestRow], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))
            count += 1
    return count


def read_manifest(path: Path) -> list[ManifestRow]:
    """Rows of a manifest written by `write_manifest`; relative paths stay relative to the manifest's folder."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"path", "label", "system"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: manifest lacks columns {sorted(missing)}")
        return [ManifestRow(**{k: (v or "") for k, v in raw.items() if k in COLUMNS}) for raw in reader]


def resolve_path(row: ManifestRow, manifest_path: Path) -> Path:
    p = Path(row.path)
    return p if p.is_absolute() else manifest_path.parent / p
