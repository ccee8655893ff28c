import json
from pathlib import Path

import pytest

from service.engine import check_io, create_session
from service.errors import ModelError
from service.registry import list_versions, load_artifact, read_card, resolve, sha256_file, write_card
from tests.modelkit import write_text_model, write_voice_model
from training.onnx_shards import shard_external_data


def test_latest_is_the_highest_version_in_natural_order(tmp_path: Path) -> None:
    for version in ("0.9.2", "0.10.0", "0.2.0"):
        write_voice_model(tmp_path, version=version)
    assert list_versions(tmp_path, "voice") == ["0.2.0", "0.9.2", "0.10.0"]
    assert resolve(tmp_path, "voice").name == "0.10.0"
    assert resolve(tmp_path, "voice", "0.2.0").name == "0.2.0"


def test_missing_model_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no 'voice' model in .*voice/<version>/card.json"):
        resolve(tmp_path, "voice")
    with pytest.raises(ModelError, match="version '9' not found"):
        write_voice_model(tmp_path)
        resolve(tmp_path, "voice", "9")


def test_hash_mismatch_is_refused(tmp_path: Path) -> None:
    directory = write_voice_model(tmp_path)
    load_artifact(directory, task="voice")
    with (directory / "model.onnx").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelError, match="sha256 .* does not match"):
        load_artifact(directory, task="voice")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.update(thresholds={"inconclusive": 1, "likely_fake": 0, "fake": 2}), "non-decreasing"),
        (lambda c: c.update(labels=["spoof", "bonafide"]), "labels must be"),
        (lambda c: c.update(default_variant="int8"), "default_variant"),
        (lambda c: c.pop("calibration"), "calibration"),
        (lambda c: c.update(schema_version=2), "schema_version"),
        (lambda c: c["input"].update(window_s=0.1), "min_duration_s must not exceed"),
        (lambda c: c.update(calibration={"method": "platt", "scale": -1.0, "bias": 0.0}), "positive"),
    ],
)
def test_schema_violations_are_refused_with_the_field(tmp_path: Path, change, message: str) -> None:
    directory = write_voice_model(tmp_path)
    card = json.loads((directory / "card.json").read_text())
    change(card)
    (directory / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match=message):
        read_card(directory)


def test_wrong_task_and_unknown_variant(tmp_path: Path) -> None:
    directory = write_text_model(tmp_path)
    with pytest.raises(ModelError, match="task 'text', expected 'voice'"):
        load_artifact(directory, task="voice")
    with pytest.raises(ModelError, match="variant 'int8' is not in the card"):
        load_artifact(directory, variant="int8")


def test_unreadable_card(tmp_path: Path) -> None:
    directory = write_voice_model(tmp_path)
    (directory / "card.json").write_bytes(b"{not json")
    with pytest.raises(ModelError, match="cannot read the card"):
        read_card(directory)


# ---------------------------------------------------------------- external-data shards


def write_sharded_text_model(models_dir: Path) -> tuple[Path, dict[str, str]]:
    """The test text model with its token table moved to a shard, and the card listing it."""
    directory = write_text_model(models_dir)
    shards = shard_external_data(directory / "model.onnx", min_tensor_bytes=16)
    card = json.loads((directory / "card.json").read_text())
    card["variants"]["fp32"].update(sha256=sha256_file(directory / "model.onnx"), external_data=shards)
    write_card(directory, card)
    return directory, shards


def test_external_data_shards_that_match_are_accepted(tmp_path: Path) -> None:
    directory, shards = write_sharded_text_model(tmp_path)
    assert list(shards) == ["model.data-00"]
    artifact = load_artifact(directory, task="text")
    assert artifact.card.variants["fp32"].external_data == shards
    session = create_session(artifact.onnx_path, providers=["cpu"], intra_op_threads=1)
    check_io(session, "text", artifact.onnx_path)


def test_a_missing_shard_is_refused(tmp_path: Path) -> None:
    directory, _ = write_sharded_text_model(tmp_path)
    (directory / "model.data-00").unlink()
    with pytest.raises(ModelError, match=r"model.data-00 in variants.fp32.external_data, which does not exist"):
        load_artifact(directory, task="text")


def test_an_altered_shard_is_refused(tmp_path: Path) -> None:
    directory, _ = write_sharded_text_model(tmp_path)
    with (directory / "model.data-00").open("r+b") as f:
        f.write(b"\1")
    with pytest.raises(ModelError, match=r"model.data-00: sha256 .* variants.fp32.external_data .* changed"):
        load_artifact(directory, task="text")


@pytest.mark.parametrize("name", ["../model.data-00", "sub/model.data-00", "..", ""])
def test_shard_names_must_be_plain_file_names(tmp_path: Path, name: str) -> None:
    directory = write_text_model(tmp_path)
    card = json.loads((directory / "card.json").read_text())
    card["variants"]["fp32"]["external_data"] = {name: "0" * 64}
    (directory / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match=r"variants.fp32.external_data.*plain file names"):
        read_card(directory)


def test_cards_without_external_data_stay_valid(tmp_path: Path) -> None:
    card = load_artifact(write_voice_model(tmp_path), task="voice").card
    assert card.schema_version == 1 and card.variants["fp32"].external_data == {}


NGRAM = {"file": "ngram.onnx", "sha256": "0" * 64, "buckets": 1024, "weight": 0.5,
         "calibration": {"method": "platt", "scale": 1.0, "bias": 0.0}}


@pytest.mark.parametrize(
    ("write", "ngram", "message"),
    [
        (write_voice_model, NGRAM, "only a text card can name an n-gram model"),
        (write_text_model, {**NGRAM, "file": "../ngram.onnx"}, "ngram.file"),
        (write_text_model, {**NGRAM, "file": "sub/ngram.onnx"}, "ngram.file"),
        (write_text_model, {**NGRAM, "weight": 0}, "ngram.weight"),
        (write_text_model, {**NGRAM, "buckets": 7}, "ngram.buckets"),
    ],
)
def test_ngram_sections_are_validated(tmp_path: Path, write, ngram: dict, message: str) -> None:
    directory = write(tmp_path)
    card = json.loads((directory / "card.json").read_text())
    card["ngram"] = ngram
    (directory / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match=message):
        read_card(directory)
