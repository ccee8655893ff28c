"""ASVspoof 2021 LA and DF evaluation data with their keys, as manifest rows.

2021 released only evaluation audio (training uses 2019 LA), so every row has split "eval"; the key's subset
(progress, eval, hidden_track) stays in `source`, e.g. "asvspoof2021_df:progress". Key lines
(`keys/<track>/CM/trial_metadata.txt`):

    LA: LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval
        speaker utterance codec transmission attack key trim subset
    DF: LA_0043 DF_E_2000026 mp3m4a asvspoof A09 spoof notrim eval traditional_vocoder - - - -
        speaker utterance codec source-corpus attack key trim subset vocoder-type ...

The channel is what 2021 adds over 2019, so codec and transmission become `condition`
("codec:alaw+transmission:ita_tx"; "clean" when the key says none).
"""

from __future__ import annotations

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

TRACKS = ("LA", "DF")
KEYS = ("bonafide", "spoof")
NO_CHANNEL = {"", "-", "none", "nocodec", "notransmission"}
# DF mixes in VCC 2018/2020 data; VCC 2020 includes cross-lingual (Finnish, German, Mandarin) speakers,
# so its rows get no language rather than a guessed one.
LANGUAGE_BY_DF_SOURCE = {"asvspoof": "en", "vcc2018": "en"}


def key_path(root: Path, track: str) -> Path:
    return root / "keys" / track / "CM" / "trial_metadata.txt"


def condition(codec: str, transmission: str = "-") -> str:
    """Channel label for a key line: codec and transmission joined with "+", or "clean" when both are absent."""
    parts = []
    if codec.lower() not in NO_CHANNEL:
        parts.append(f"codec:{codec}")
    if transmission.lower() not in NO_CHANNEL:
        parts.append(f"transmission:{transmission}")
    return "+".join(parts) or "clean"


def load_asvspoof2021(root: Path, *, track: str = "LA", missing: str = "error") -> list[ManifestRow]:
    """Rows of one 2021 track (LA or DF); root holds `keys/` and `ASVspoof2021_<track>_eval/`."""
    check_missing_choice(missing)
    track = track.upper()
    if track not in TRACKS:
        raise ValueError(f"asvspoof2021: track must be one of {TRACKS}, got {track!r}")
    root = absolute(root)
    corpus = f"asvspoof2021_{track.lower()}"
    keys = require_file(key_path(root, track), f"{corpus} keys (from the {track}-keys-full archive)")
    audio_dir = root / f"ASVspoof2021_{track}_eval" / "flac"
    rows: list[ManifestRow] = []
    for number, fields in read_lines(keys):
        if len(fields) < 8:
            raise bad_line(keys, number, "expected at least 8 fields", fields)
        speaker, utterance, codec, channel_or_source, attack, key, _trim, subset = fields[:8]
        if key not in KEYS:
            raise bad_line(keys, number, f"key (6th field) must be one of {KEYS}", fields)
        if key == "spoof" and attack in ("-", "bonafide"):
            raise bad_line(keys, number, "spoof line without an attack id", fields)
        if track == "LA":
            cond, language = condition(codec, channel_or_source), "en"
        else:
            cond, language = condition(codec), LANGUAGE_BY_DF_SOURCE.get(channel_or_source, "")
        rows.append(
            ManifestRow(
                path=str(audio_dir / f"{utterance}.flac"),
                label=key,
                system="bonafide" if key == "bonafide" else attack,
                speaker=speaker,
                language=language,
                split="eval",
                source=f"{corpus}:{subset}",
                condition=cond,
            )
        )
    return keep_present(rows, missing=missing, corpus=corpus)
