"""MLAAD (Müller et al.): many TTS models in many languages speaking M-AILABS transcripts, plus M-AILABS itself.

Spoofs live in `fake/<language>/<model folder>/*.wav`, each model folder with a pipe-separated `meta.csv`
(`path|original_file|language|is_original_language|duration|training_data|model_name|architecture|transcript`,
newer releases add columns). The `path` column has pointed at a wrong language folder in some releases, so
audio is looked up by file name inside the model folder the meta.csv sits in. MLAAD ships no real speech; its
bona fide counterpart is M-AILABS (`<lang_code>/by_book/<gender>/<speaker>/<book>/wavs/*.wav`, or
`by_book/mix/<book>/wavs` for multi-speaker books), read when `mailabs_root` is given.
"""

from __future__ import annotations

import csv
from pathlib import Path

from training.corpora.loaders._common import absolute, check_missing_choice, keep_present, log, require_dir
from training.corpora.manifest import ManifestRow

SOURCE = "mlaad"
MAILABS_SOURCE = "mlaad:m_ailabs"
META_COLUMNS = ("path", "model_name", "language")
GENDERS = ("female", "male", "mix")


def load_mlaad(root: Path, *, mailabs_root: Path | None = None, missing: str = "error") -> list[ManifestRow]:
    """Spoof rows of every model folder, system = model_name; bona fide M-AILABS rows when mailabs_root is given."""
    check_missing_choice(missing)
    fake = require_dir(absolute(root) / "fake", f"{SOURCE} spoof audio")
    model_dirs = sorted(p for p in fake.glob("*/*") if p.is_dir())
    if not model_dirs:
        raise FileNotFoundError(f"{SOURCE}: no fake/<language>/<model> folders under {fake}")
    rows: list[ManifestRow] = []
    for model_dir in model_dirs:
        rows.extend(_model_rows(model_dir))
    rows = keep_present(rows, missing=missing, corpus=SOURCE)
    if mailabs_root is not None:
        rows.extend(load_mailabs(mailabs_root))
    return rows


def _model_rows(model_dir: Path) -> list[ManifestRow]:
    """Rows of one model folder from its meta.csv, or from its wav files when it has none (then logged)."""
    folder_language = model_dir.parent.name
    meta = model_dir / "meta.csv"
    if not meta.is_file():
        wavs = sorted(model_dir.glob("*.wav"))
        if not wavs:
            raise FileNotFoundError(f"{SOURCE}: {model_dir} has neither meta.csv nor .wav files")
        log.warning("%s: %s has no meta.csv; system and language taken from the folder names", SOURCE, model_dir)
        return [
            ManifestRow(path=str(wav), label="spoof", system=model_dir.name, language=folder_language, source=SOURCE)
            for wav in wavs
        ]
    rows: list[ManifestRow] = []
    with meta.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="|")
        absent = [c for c in META_COLUMNS if c not in (reader.fieldnames or [])]
        if absent:
            raise ValueError(f"{meta}: pipe-separated header lacks columns {absent} (got {reader.fieldnames})")
        for number, raw in enumerate(reader, start=2):
            name = Path((raw["path"] or "").strip().replace("\\", "/")).name
            if not name:
                raise ValueError(f"{meta}:{number}: empty path")
            rows.append(
                ManifestRow(
                    path=str(model_dir / name),
                    label="spoof",
                    system=(raw["model_name"] or "").strip() or model_dir.name,
                    language=(raw["language"] or "").strip() or folder_language,
                    source=SOURCE,
                )
            )
    return rows


def _by_book_dirs(root: Path) -> list[tuple[str, Path]]:
    """(language, by_book folder) pairs: root may be one language folder (en_US) or hold several."""
    if (root / "by_book").is_dir():
        return [(root.name, root / "by_book")]
    found = [(p.parent.name, p) for p in sorted(root.glob("*/by_book")) if p.is_dir()]
    if not found:
        raise FileNotFoundError(f"M-AILABS: expected {root}/<lang_code>/by_book (or {root}/by_book); found neither")
    return found


def load_mailabs(root: Path) -> list[ManifestRow]:
    """Bona fide M-AILABS rows; language is the code's language part (en_US -> en) to match MLAAD's codes."""
    root = require_dir(absolute(root), "M-AILABS root")
    rows: list[ManifestRow] = []
    for lang_code, by_book in _by_book_dirs(root):
        language = lang_code.split("_", 1)[0].lower()
        for wav in sorted(by_book.rglob("*.wav")):
            parts = wav.relative_to(by_book).parts  # gender/speaker/book/wavs/x.wav or mix/book/wavs/x.wav
            depth = 4 if parts[0] == "mix" else 5
            if parts[0] not in GENDERS or len(parts) != depth or parts[-2] != "wavs":
                raise ValueError(f"M-AILABS: {wav} is not under by_book/<gender>/<speaker>/<book>/wavs/")
            speaker = "" if parts[0] == "mix" else parts[1]
            rows.append(
                ManifestRow(
                    path=str(wav),
                    label="bonafide",
                    system="bonafide",
                    speaker=speaker,
                    language=language,
                    source=MAILABS_SOURCE,
                )
            )
    if not rows:
        raise FileNotFoundError(f"M-AILABS: no .wav files under {root}")
    return rows
