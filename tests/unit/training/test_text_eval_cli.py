"""`nepcheck eval text` fails with one clear line when its corpora or the training extra are missing, and warns
when explicit corpora leave the Dutch texts out. None of these reach the model, so no torch is needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from service.cli import main


def model_dir(tmp_path: Path, corpora: dict[str, str]) -> Path:
    folder = tmp_path / "text" / "1.0.0"
    folder.mkdir(parents=True)
    (folder / "card.json").write_text(json.dumps({"training_data": {"corpora": corpora}}))
    return folder


def run(*args: str):
    return CliRunner().invoke(main, ["eval", "text", *args])


def test_a_corpus_named_by_the_card_that_is_absent_is_one_usage_line(tmp_path: Path) -> None:
    model = model_dir(tmp_path, {"seed_dir": str(tmp_path), "uci_path": "../not-here/SMSSpamCollection.tsv"})
    result = run("--model", str(model), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "../not-here/SMSSpamCollection.tsv" in result.output and "--uci" in result.output
    assert "Traceback" not in result.output


def test_a_missing_training_dependency_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import training.text.evaluate as evaluate

    def needs_sklearn(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'sklearn'", name="sklearn")

    monkeypatch.setattr(evaluate, "evaluate_text", needs_sklearn)
    seed = tmp_path / "seed"
    seed.mkdir()
    result = run("--model", str(model_dir(tmp_path, {})), "--seed-dir", str(seed), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "sklearn is not installed" in result.output and ".[train]" in result.output
    assert "Traceback" not in result.output


def test_english_corpora_without_the_seed_folder_warn_that_dutch_is_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import training.text.evaluate as evaluate

    seen = {}
    monkeypatch.setattr(evaluate, "evaluate_text", lambda model, **kw: seen.update(kw) or {"report": 1})
    monkeypatch.setattr(evaluate, "write_report", lambda report, out: "| table |")
    uci = tmp_path / "SMSSpamCollection.tsv"
    uci.write_text("ham\thello\n")
    result = run("--model", str(model_dir(tmp_path, {})), "--uci", str(uci), "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    assert "warning: without --seed-dir the Dutch seed texts are left out" in result.stderr
    assert seen["corpora"]["uci_path"] == uci and seen["corpora"]["seed_dir"] is None
