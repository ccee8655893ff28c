"""Any CSV of labelled clips as manifest rows: the project's own seed manifests and ad-hoc corpora.

Defaults read the shared seed manifest (`path,label,system,speaker,language,source_repo,license,orig_path,
orig_sr,orig_codec,duration_s,note`) and `write_manifest` output alike; other CSVs name their columns through
`columns`. Relative paths are taken relative to the CSV's folder, so a corpus folder can move with its CSV.
"""

from __future__ import annotations

import csv
from pathlib import Path

from training.corpora.loaders._common import absolute, check_missing_choice, keep_present, log, require_file
from training.corpora.manifest import COLUMNS, ManifestRow

SOURCE = "csv"
# schema field -> CSV columns tried in order when `columns` does not name one.
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "path": ("path",),
    "label": ("label",),
    "system": ("system",),
    "speaker": ("speaker",),
    "language": ("language",),
    "split": ("split",),
    "source": ("source", "source_repo"),
    "condition": ("condition",),
    "family": ("family",),
}
DEFAULT_LABEL_MAP = {
    "bonafide": "bonafide",
    "bona-fide": "bonafide",
    "bona_fide": "bonafide",
    "real": "bonafide",
    "spoof": "spoof",
    "fake": "spoof",
}
SPLIT_MAP = {"train": "train", "dev": "dev", "val": "dev", "valid": "dev", "eval": "eval", "test": "eval", "": ""}
DELIMITERS = ",;\t|"


def _delimiter(path: Path) -> str:
    """The header line's delimiter among , ; tab |, whichever occurs most; a comma when none does."""
    with path.open(newline="", encoding="utf-8") as f:
        header = f.readline()
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _resolve_columns(fieldnames: list[str], columns: dict[str, str] | None, path: Path) -> dict[str, str]:
    """schema field -> CSV column present in the file; explicit `columns` must exist, defaults are optional."""
    unknown = sorted(set(columns or {}) - set(COLUMNS))
    if unknown:
        raise ValueError(f"columns keys must be manifest fields {COLUMNS}; got {unknown} (map field -> CSV column)")
    resolved: dict[str, str] = {}
    for field in COLUMNS:
        if columns and field in columns:
            if columns[field] not in fieldnames:
                raise ValueError(f"{path}: column {columns[field]!r} (for {field}) not in header {fieldnames}")
            resolved[field] = columns[field]
            continue
        found = next((c for c in DEFAULT_COLUMNS[field] if c in fieldnames), None)
        if found is not None:
            resolved[field] = found
    for field in ("path", "label"):
        if field not in resolved:
            raise ValueError(f"{path}: no column for {field!r} in header {fieldnames}; name it with columns=")
    return resolved


def load_csv(
    path: Path,
    *,
    columns: dict[str, str] | None = None,
    label_map: dict[str, str] | None = None,
    delimiter: str | None = None,
    missing: str = "error",
) -> list[ManifestRow]:
    """Rows of a CSV; `columns` maps manifest field -> CSV column, `label_map` adds label spellings (any case).

    A spoof row without a system gets "unknown" rather than being dropped; a bona fide one gets "bonafide".
    An unknown label or split raises, naming the line, because guessing a label poisons training silently.
    """
    check_missing_choice(missing)
    path = require_file(absolute(path), "CSV manifest")
    labels = {**DEFAULT_LABEL_MAP, **{k.strip().lower(): v for k, v in (label_map or {}).items()}}
    bad_targets = sorted({v for v in labels.values() if v not in ("bonafide", "spoof")})
    if bad_targets:
        raise ValueError(f"label_map values must be 'bonafide' or 'spoof', got {bad_targets}")
    rows: list[ManifestRow] = []
    unnamed_spoofs = 0
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter=delimiter or _delimiter(path))
        fields = _resolve_columns(list(reader.fieldnames or []), columns, path)
        for number, raw in enumerate(reader, start=2):
            value = {field: (raw.get(column) or "").strip() for field, column in fields.items()}
            label = labels.get(value["label"].lower())
            if label is None:
                raise ValueError(
                    f"{path}:{number}: unknown label {value['label']!r} for {value['path'] or '(no path)'}; "
                    f"known: {sorted(labels)} (extend with label_map=)"
                )
            split = SPLIT_MAP.get(value.get("split", "").lower())
            if split is None:
                raise ValueError(f"{path}:{number}: unknown split {value['split']!r}; known: {sorted(SPLIT_MAP)}")
            if not value["path"]:
                raise ValueError(f"{path}:{number}: empty path")
            clip = Path(value["path"]).expanduser()
            if label == "spoof" and not value.get("system"):
                unnamed_spoofs += 1
            rows.append(
                ManifestRow(
                    path=str(absolute(clip if clip.is_absolute() else path.parent / clip)),
                    label=label,
                    system=value.get("system") or ("bonafide" if label == "bonafide" else "unknown"),
                    speaker=value.get("speaker", ""),
                    language=value.get("language", ""),
                    split=split,
                    source=value.get("source", ""),
                    condition=value.get("condition") or "clean",
                    family=value.get("family", ""),
                )
            )
    if unnamed_spoofs:
        log.warning("%s: %d spoof row(s) name no system; they get system 'unknown'", path, unnamed_spoofs)
    return keep_present(rows, missing=missing, corpus=f"{SOURCE}:{path.name}")
