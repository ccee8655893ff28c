"""The model registry on disk: `models/<name>/<version>/` holding `card.json` and the ONNX files it names.

An artifact is only used when its card validates and every file's sha256 matches, so a half-copied or
hand-edited model is refused at start-up with a message saying which file and why.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from service.card import ModelCard, Variant
from service.errors import ModelError

CARD_FILE = "card.json"
CardT = TypeVar("CardT", bound=BaseModel)


@dataclass(frozen=True)
class Artifact:
    card: ModelCard
    directory: Path
    variant: str

    @property
    def onnx_path(self) -> Path:
        return self.directory / self.card.variants[self.variant].file

    @property
    def ngram_path(self) -> Path | None:
        """The text model's n-gram half, when its card names one (shared by all variants)."""
        return self.directory / self.card.ngram.file if self.card.ngram is not None else None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _version_key(version: str) -> tuple[Any, ...]:
    """Natural order, so 0.10.0 sorts after 0.9.2."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", version) if p)


def list_versions(models_dir: Path, name: str) -> list[str]:
    root = models_dir / name
    if not root.is_dir():
        return []
    versions = [p.name for p in root.iterdir() if (p / CARD_FILE).is_file()]
    return sorted(versions, key=_version_key)


def resolve(models_dir: Path, name: str, version: str = "latest") -> Path:
    """The version folder to load; `latest` is the highest version in natural order."""
    if version == "latest":
        versions = list_versions(models_dir, name)
        if not versions:
            raise ModelError(
                f"no '{name}' model in {models_dir / name}: expected {name}/<version>/card.json and its ONNX file "
                f"(set NEPCHECK_MODELS_DIR, or train and export one)"
            )
        version = versions[-1]
    directory = models_dir / name / version
    if not (directory / CARD_FILE).is_file():
        raise ModelError(f"model '{name}' version '{version}' not found: {directory / CARD_FILE} does not exist")
    return directory


def read_card_as(directory: Path, schema: type[CardT]) -> CardT:
    """`directory`'s card.json validated against `schema`; any problem is one ModelError line naming the field."""
    path = directory / CARD_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: cannot read the card: {exc}") from exc
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "card"
        raise ModelError(f"{path}: card does not match the schema at '{where}': {first['msg']}") from exc


def read_card(directory: Path) -> ModelCard:
    return read_card_as(directory, ModelCard)


def load_artifact(directory: Path, *, variant: str = "default", task: str | None = None) -> Artifact:
    """Validate the card and check the chosen variant's hashes; the ONNX graph itself is checked by the engine.

    Hashed are the variant's ONNX file, every external-data shard the card lists, and a text model's n-gram
    model. That the ONNX file references no other external file is not checked here, since reading its
    initializers needs the `onnx` package, which the service does not depend on; the exporter guarantees it
    instead (`training.onnx_shards` `shards_of` must equal the card's list), and the ONNX file's own hash pins
    the references it makes.
    """
    card = read_card(directory)
    if task is not None and card.task != task:
        raise ModelError(f"{directory}: card says task '{card.task}', expected '{task}'")
    chosen = card.default_variant if variant == "default" else variant
    if chosen not in card.variants:
        raise ModelError(f"{directory}: variant '{chosen}' is not in the card (has {sorted(card.variants)})")
    spec: Variant = card.variants[chosen]
    _check_hash(directory / spec.file, spec.sha256, f"variants.{chosen}")
    for shard, digest in sorted(spec.external_data.items()):
        _check_hash(directory / shard, digest, f"variants.{chosen}.external_data")
    if card.ngram is not None:
        _check_hash(directory / card.ngram.file, card.ngram.sha256, "ngram")
    return Artifact(card=card, directory=directory, variant=chosen)


def _check_hash(path: Path, expected: str, field: str) -> None:
    """`field` is where the card names the file, e.g. variants.int8.external_data."""
    if not path.is_file():
        raise ModelError(f"{path.parent}: card names {path.name} in {field}, which does not exist")
    actual = sha256_file(path)
    if actual != expected:
        raise ModelError(
            f"{path}: sha256 {actual[:12]}... does not match the card's {field} {expected[:12]}...; "
            "the file was changed or copied incompletely"
        )


def write_card(directory: Path, card: dict[str, Any]) -> ModelCard:
    """Validate and write a card; used by exporters so a card the service would refuse is never written."""
    validated = ModelCard.model_validate(card)
    (directory / CARD_FILE).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return validated
