"""ASVspoof 5 (track 1, stand-alone detection) protocols as manifest rows.

Protocol lines have 10 whitespace-separated columns (the files are named .tsv but are not tab-separated):

    T_4850 T_0000000000 F - - - AC3 A05 spoof -
    speaker file gender codec codec_q codec_seed attack_tag attack_label key tmp

Audio unpacks into flac_T/, flac_D/ and flac_E_eval/ (folder names have varied between releases), so the
loader indexes every .flac under root once instead of guessing the folder. The file id's prefix (T_, D_, E_)
gives the split; only eval is coded (C01-C11 with a quality level), which becomes `condition`.
"""

from __future__ import annotations

from pathlib import Path

from training.corpora.loaders._common import (
    absolute,
    bad_line,
    check_missing_choice,
    keep_present,
    read_lines,
    require_dir,
    require_file,
)
from training.corpora.manifest import ManifestRow

SOURCE = "asvspoof5"
KEYS = ("bonafide", "spoof")
SPLIT_BY_PREFIX = {"T": "train", "D": "dev", "E": "eval"}
SPLIT_BY_PROTOCOL_WORD = {"train": "train", "dev": "dev", "eval": "eval"}


def flac_index(root: Path) -> dict[str, list[Path]]:
    """Every .flac under root by file id, walked once: a million is_file() guesses would cost more."""
    index: dict[str, list[Path]] = {}
    for path in root.rglob("*.flac"):
        index.setdefault(path.stem, []).append(path)
    return index


def condition(codec: str, codec_q: str) -> str:
    if codec == "-":
        return "clean"
    return f"codec:{codec}" + (f":q{codec_q}" if codec_q not in ("-", "") else "")


def split_of(file_id: str, protocol: Path) -> str:
    """Split from the file id's T_/D_/E_ prefix, else from the protocol's name (ASVspoof5.dev.track_1.tsv)."""
    prefix = file_id.split("_", 1)[0]
    if prefix in SPLIT_BY_PREFIX:
        return SPLIT_BY_PREFIX[prefix]
    for word in protocol.name.lower().split("."):
        if word in SPLIT_BY_PROTOCOL_WORD:
            return SPLIT_BY_PROTOCOL_WORD[word]
    return ""


def load_asvspoof5(root: Path, *, protocol: Path, missing: str = "error") -> list[ManifestRow]:
    """Rows of one protocol file; a relative `protocol` is looked up first as given, then under root."""
    check_missing_choice(missing)
    root = require_dir(absolute(root), f"{SOURCE} root")
    protocol = Path(protocol)
    if not protocol.is_absolute() and not protocol.is_file() and (root / protocol).is_file():
        protocol = root / protocol
    protocol = require_file(absolute(protocol), f"{SOURCE} protocol (from ASVspoof5_protocols.tar.gz)")
    index = flac_index(root)
    rows: list[ManifestRow] = []
    for number, fields in read_lines(protocol):
        if len(fields) != 10:
            raise bad_line(protocol, number, "expected 10 fields", fields)
        speaker, file_id, _gender, codec, codec_q, _seed, _tag, attack, key, _tmp = fields
        if key not in KEYS:
            raise bad_line(protocol, number, f"key (9th field) must be one of {KEYS}", fields)
        if key == "spoof" and attack in ("-", "bonafide"):
            raise bad_line(protocol, number, "spoof line without an attack label", fields)
        found = index.get(file_id, [])
        if len(found) > 1:
            # Two copies of one id make the row ambiguous; picking one silently could pick a converted copy.
            raise ValueError(f"{SOURCE}: file id {file_id} found twice under {root}: {found[0]} and {found[1]}")
        rows.append(
            ManifestRow(
                # An id the index lacks is reported as root/**/<id>.flac: searched for anywhere under root.
                path=str(found[0] if found else root / "**" / f"{file_id}.flac"),
                label=key,
                system="bonafide" if key == "bonafide" else attack,
                speaker=speaker,
                language="en",
                split=split_of(file_id, protocol),
                source=SOURCE,
                condition=condition(codec, codec_q),
            )
        )
    return keep_present(rows, missing=missing, corpus=SOURCE)
