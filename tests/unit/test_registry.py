import json
from pathlib import Path

import pytest

from service.errors import ModelError
from service.registry import list_versions, load_artifact, read_card, resolve
from tests.modelkit import write_text_model, write_voice_model


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
