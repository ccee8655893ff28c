"""One manifest schema for every speech corpus, so training, evaluation and audits read any of them alike.

A manifest is a CSV with the columns of `ManifestRow`. `system` is the attack id (`bonafide` rows carry the
recording's source, e.g. `human`), `source` the corpus or page a clip comes from, `condition` its channel
(`clean`, `mulaw8k`, ...), `family` the architecture a spoof system belongs to (empty: the system is its own
family). Hold-out splits are made over whole families and whole sources, never over clips: two checkpoints of
one architecture (`valle` on two demo pages) in train and eval would make "unseen attacks" a seen one.
Manifests written before `family` existed read as rows with an empty family.
"""

from __future__ import annotations

import csv
import re
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
    family: str = ""

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


# Waveform generators whose variants (checkpoints, sizes, bitrates, re-implementations) are one family.
KNOWN_FAMILIES = (
    "hifigan", "waveglow", "wavenet", "pwg", "griffinlim", "melgan", "univnet", "bigvgan", "vocos", "encodec",
    "waveflow", "diffwave", "world", "dac", "soundstream", "istftnet", "clarinet", "lpcnet", "autovc", "diffvc",
)


def system_family(system: str) -> str:
    """The family a system name implies when a manifest names none.

    "acoustic+vocoder" systems belong to the vocoder's family (the waveform generator leaves the artefacts a
    detector sees), and decorations such as "(copy-synthesis)", "@6kbps" or "_codec" are variants of one
    family: "fastspeech2+hifigan" and "hifigan(copy-synthesis)" are both "hifigan".
    """
    name = system.lower().rsplit("+", 1)[-1]
    name = re.split(r"[(@]", name)[0].strip(" )")
    key = re.sub(r"[-_ ]", "", name)  # "griffin_lim" and "griffinlim" are one family
    return next((family for family in KNOWN_FAMILIES if key.startswith(family)), name or system)


def family_of(row: ManifestRow) -> str:
    """The family a row's system belongs to: the manifest's `family`, else what the system name implies."""
    return row.family or system_family(row.system)


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
