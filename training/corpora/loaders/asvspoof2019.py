"""ASVspoof 2019 logical access (LA): the countermeasure protocols of train, dev and eval as manifest rows.

Protocol line: `LA_0079 LA_T_1138215 - - bonafide` or `LA_0039 LA_E_2834763 - A11 spoof`
(speaker, utterance, unused, attack id or `-`, key). Audio: `ASVspoof2019_LA_<part>/flac/<utterance>.flac`.
Eval attacks A07-A19 are mostly unseen in train/dev (A16 = A04, A19 = A06), which is what the corpus tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from training.corpora.loaders._common import (
    absolute,
    bad_line,
    check_missing_choice,
    keep_present,
    read_lines,
    require_file,
)
from training.corpora.manifest import ManifestRow

SOURCE = "asvspoof2019_la"
PROTOCOLS = {"train": "train.trn", "dev": "dev.trl", "eval": "eval.trl"}
KEYS = ("bonafide", "spoof")


def protocol_path(root: Path, part: str) -> Path:
    return root / "ASVspoof2019_LA_cm_protocols" / f"ASVspoof2019.LA.cm.{PROTOCOLS[part]}.txt"


def _la_root(root: Path) -> Path:
    """The folder holding the protocols: the `LA` folder itself, or a folder containing `LA` (as LA.zip unpacks)."""
    root = absolute(root)
    if not (root / "ASVspoof2019_LA_cm_protocols").is_dir() and (root / "LA" / "ASVspoof2019_LA_cm_protocols").is_dir():
        return root / "LA"
    return root


def load_asvspoof2019_la(
    root: Path, *, parts: Sequence[str] = ("train", "dev", "eval"), missing: str = "error"
) -> list[ManifestRow]:
    """Rows of the chosen parts, split = part, so the official train/dev/eval partition is kept as published."""
    check_missing_choice(missing)
    unknown = [p for p in parts if p not in PROTOCOLS]
    if unknown:
        raise ValueError(f"{SOURCE}: unknown parts {unknown}; choose from {tuple(PROTOCOLS)}")
    root = _la_root(root)
    rows: list[ManifestRow] = []
    for part in parts:
        protocol = require_file(protocol_path(root, part), f"{SOURCE} {part} protocol")
        audio_dir = root / f"ASVspoof2019_LA_{part}" / "flac"
        for number, fields in read_lines(protocol):
            if len(fields) != 5:
                raise bad_line(protocol, number, "expected 5 fields (speaker utterance - attack key)", fields)
            speaker, utterance, _, attack, key = fields
            if key not in KEYS:
                raise bad_line(protocol, number, f"key must be one of {KEYS}", fields)
            if key == "spoof" and attack == "-":
                raise bad_line(protocol, number, "spoof line without an attack id", fields)
            rows.append(
                ManifestRow(
                    path=str(audio_dir / f"{utterance}.flac"),
                    label=key,
                    system="bonafide" if key == "bonafide" else attack,
                    speaker=speaker,
                    language="en",
                    split=part,
                    source=SOURCE,
                )
            )
    return keep_present(rows, missing=missing, corpus=SOURCE)
