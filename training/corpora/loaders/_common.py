"""Checks every corpus loader shares, so a wrong layout fails the same loud way whichever corpus it is.

A loader that silently drops rows whose audio is absent trains on a different corpus than the one its
protocol describes (and usually on a label-skewed one, since downloads fail per archive, not per label).
So missing audio is an error by default; `missing="skip"` is the explicit, logged opt-out.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from training.corpora.manifest import ManifestRow

Missing = Literal["error", "skip"]
MISSING_CHOICES = ("error", "skip")
SHOWN = 5  # how many missing files an error lists before summarising the rest

log = logging.getLogger("training.corpora.loaders")


def absolute(path: Path | str) -> Path:
    """An absolute, normalised path without resolving symlinks, so manifests keep the paths users gave."""
    return Path(os.path.abspath(Path(path).expanduser()))


def require_file(path: Path, what: str) -> Path:
    """`path` if it is a file; otherwise a FileNotFoundError naming the file the layout should have had."""
    if not path.is_file():
        raise FileNotFoundError(f"{what}: expected file {path} does not exist")
    return path


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"{what}: expected folder {path} does not exist")
    return path


def check_missing_choice(missing: str) -> None:
    if missing not in MISSING_CHOICES:
        raise ValueError(f"missing must be one of {MISSING_CHOICES}, got {missing!r}")


def keep_present(rows: Iterable[ManifestRow], *, missing: str, corpus: str) -> list[ManifestRow]:
    """Rows whose audio exists; absent audio raises one error listing the first few, or is skipped with a warning.

    Collecting before raising lets one run report how much of a download is missing instead of the first file.
    """
    check_missing_choice(missing)
    present: list[ManifestRow] = []
    absent: list[str] = []
    for row in rows:
        if Path(row.path).is_file():
            present.append(row)
        else:
            absent.append(row.path)
    if absent:
        listed = ", ".join(absent[:SHOWN]) + (f", ... ({len(absent) - SHOWN} more)" if len(absent) > SHOWN else "")
        if missing == "error":
            raise FileNotFoundError(
                f"{corpus}: {len(absent)} audio file(s) named by the protocol are missing: {listed}. "
                f'Pass missing="skip" to load the rest.'
            )
        log.warning("%s: skipped %d row(s) whose audio is missing (first: %s)", corpus, len(absent), listed)
    return present


def read_lines(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, whitespace-split fields) of each non-blank line: ASVspoof protocols are space-separated."""
    out: list[tuple[int, list[str]]] = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            fields = line.split()
            if fields:
                out.append((number, fields))
    return out


def bad_line(path: Path, number: int, reason: str, fields: list[str]) -> ValueError:
    return ValueError(f"{path}:{number}: {reason}: {' '.join(fields)!r}")
