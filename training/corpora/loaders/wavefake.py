"""WaveFake (Frank & Schönherr, NeurIPS 2021 datasets track): vocoder resyntheses of LJSpeech and JSUT.

`generated_audio/<corpus>_<vocoder>/*.wav`, e.g. ljspeech_melgan, ljspeech_hifiGAN, jsut_multi_band_melgan and
common_voices_prompts_from_conformer_fastspeech2_pwg_ljspeech (a full TTS on Common Voice prompts). The corpus
prefix names the voice and language; the rest names the system. WaveFake ships no real audio: bona fide rows
come from LJSpeech (`real_audio/LJSpeech-1.1/wavs`, or `ljspeech_root/wavs`). JSUT, the Japanese reference,
is not read, so Japanese rows are spoof-only.
"""

from __future__ import annotations

from pathlib import Path

from training.corpora.loaders._common import absolute, log, require_dir
from training.corpora.manifest import ManifestRow

SOURCE = "wavefake"
# folder prefix -> (speaker, language); longest prefix first so "common_voices_..." is not read as another.
PREFIXES = (
    ("common_voices_prompts_from_", "ljspeech", "en"),
    ("ljspeech_", "ljspeech", "en"),
    ("jsut_", "jsut", "ja"),
)
DEFAULT_LJSPEECH = Path("real_audio") / "LJSpeech-1.1"


def parse_folder(name: str) -> tuple[str, str, str]:
    """(system, speaker, language) of a generated_audio folder; an unknown prefix means this is not WaveFake."""
    for prefix, speaker, language in PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix) :], speaker, language
    known = ", ".join(p for p, _, _ in PREFIXES)
    raise ValueError(f"{SOURCE}: generated_audio/{name} does not start with a known corpus prefix ({known})")


def load_wavefake(root: Path, *, ljspeech_root: Path | None = None) -> list[ManifestRow]:
    """Spoof rows from every generated_audio folder plus LJSpeech bona fide rows when LJSpeech is present.

    The folders are listed rather than read from a protocol, so nothing can be missing; an absent LJSpeech is
    an error when ljspeech_root is given and a logged warning otherwise (spoof-only rows are still usable).
    """
    root = absolute(root)
    generated = require_dir(root / "generated_audio", f"{SOURCE} generated audio")
    rows: list[ManifestRow] = []
    folders = sorted(p for p in generated.iterdir() if p.is_dir())
    if not folders:
        raise FileNotFoundError(f"{SOURCE}: no vocoder folders under {generated}")
    for folder in folders:
        system, speaker, language = parse_folder(folder.name)
        wavs = sorted(folder.rglob("*.wav"))
        if not wavs:
            raise FileNotFoundError(f"{SOURCE}: no .wav files under {folder}")
        rows.extend(
            ManifestRow(
                path=str(wav),
                label="spoof",
                system=system,
                speaker=speaker,
                language=language,
                source=f"{SOURCE}:{folder.name}",
            )
            for wav in wavs
        )
    rows.extend(_ljspeech_rows(root, ljspeech_root))
    return rows


def _ljspeech_rows(root: Path, ljspeech_root: Path | None) -> list[ManifestRow]:
    if ljspeech_root is not None:
        wav_dir = require_dir(absolute(ljspeech_root) / "wavs", "LJSpeech wavs")
    else:
        wav_dir = root / DEFAULT_LJSPEECH / "wavs"
        if not wav_dir.is_dir():
            log.warning("%s: no LJSpeech at %s; loading spoof rows only (pass ljspeech_root=...)", SOURCE, wav_dir)
            return []
    wavs = sorted(wav_dir.glob("*.wav"))
    if not wavs:
        raise FileNotFoundError(f"{SOURCE}: no .wav files in {wav_dir}")
    return [
        ManifestRow(
            path=str(wav),
            label="bonafide",
            system="bonafide",
            speaker="ljspeech",
            language="en",
            source=f"{SOURCE}:ljspeech",
        )
        for wav in wavs
    ]
