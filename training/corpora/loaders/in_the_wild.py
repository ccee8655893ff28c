"""In-the-Wild (Müller et al., Interspeech 2022): found recordings of public figures, real and deepfaked.

`meta.csv` (header `file,speaker,label`, labels `bona-fide` / `spoof`) sits beside the wav files. The corpus
names no generator, so every spoof shares one system, "in_the_wild_spoof"; it defines no split either, being
meant as an out-of-domain test set. Speakers are kept: the same person appears real and faked, which is what
makes speaker-disjoint evaluation possible.
"""

from __future__ import annotations

import csv
from pathlib import Path

from training.corpora.loaders._common import absolute, check_missing_choice, keep_present, require_file
from training.corpora.manifest import ManifestRow

SOURCE = "in_the_wild"
SPOOF_SYSTEM = "in_the_wild_spoof"
LABELS = {"bona-fide": "bonafide", "spoof": "spoof"}
HEADER = ("file", "speaker", "label")


def _meta_path(root: Path) -> Path:
    """root/meta.csv, or release_in_the_wild/meta.csv under root (the folder the release archive unpacks to)."""
    if not (root / "meta.csv").is_file() and (root / "release_in_the_wild" / "meta.csv").is_file():
        return root / "release_in_the_wild" / "meta.csv"
    return root / "meta.csv"


def load_in_the_wild(root: Path, *, missing: str = "error") -> list[ManifestRow]:
    """Every clip listed in meta.csv, split "", condition "clean" (the corpus records no channel)."""
    check_missing_choice(missing)
    meta = require_file(_meta_path(absolute(root)), f"{SOURCE} metadata")
    rows: list[ManifestRow] = []
    with meta.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != HEADER:
            raise ValueError(f"{meta}: expected header {','.join(HEADER)}, got {reader.fieldnames}")
        for number, raw in enumerate(reader, start=2):
            label = LABELS.get((raw["label"] or "").strip())
            if label is None:
                raise ValueError(f"{meta}:{number}: label must be one of {tuple(LABELS)}, got {raw['label']!r}")
            rows.append(
                ManifestRow(
                    path=str(meta.parent / raw["file"].strip()),
                    label=label,
                    system="bonafide" if label == "bonafide" else SPOOF_SYSTEM,
                    speaker=(raw["speaker"] or "").strip(),
                    language="en",
                    source=SOURCE,
                )
            )
    return keep_present(rows, missing=missing, corpus=SOURCE)
