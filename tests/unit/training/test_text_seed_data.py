"""The project's own labelled texts (`datasets/text_seed`, shipped in the repository) stay well formed as rounds are
added: a round that reused a family key or an id, or mixed labels inside a family, would silently merge scenarios
across splits and leak test texts into training."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from training.text.corpora import load_extra, load_seed

SEED_DIR = Path(__file__).resolve().parents[3] / "datasets" / "text_seed"
EXTRA_FIELDS = {"id", "text", "label", "kind", "lang", "channel", "family", "source"}
CHANNELS = {"sms", "whatsapp", "email", "ad", "social_post", "call_transcript", "chat", "news", "web"}


def _files() -> list[Path]:
    return sorted(SEED_DIR.rglob("*.jsonl"))


def _rows(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


pytestmark = pytest.mark.skipif(not _files(), reason="datasets/text_seed is not in this checkout")


def test_every_row_has_a_known_label_and_the_language_of_its_file() -> None:
    for path in _files():
        for row in _rows(path):
            assert row["label"] in ("scam", "legit"), (path, row["id"])
            assert row["lang"] == path.stem, (path, row["id"])
            assert row["text"].strip(), (path, row["id"])


def test_extra_rounds_use_exactly_the_documented_fields_and_channels() -> None:
    for path in _files():
        if path.parent == SEED_DIR:
            continue
        for row in _rows(path):
            assert set(row) == EXTRA_FIELDS, (path, row["id"])
            assert row["channel"] in CHANNELS, (path, row["id"])


def test_ids_are_unique_and_no_family_spans_two_folders_or_two_labels() -> None:
    seen_ids: set[str] = set()
    folders: dict[str, set[Path]] = defaultdict(set)
    labels: dict[str, set[str]] = defaultdict(set)
    for path in _files():
        for row in _rows(path):
            assert row["id"] not in seen_ids, (path, row["id"])
            seen_ids.add(row["id"])
            folders[row["family"]].add(path.parent)
            labels[row["family"]].add(row["label"])
    assert not {family: sorted(map(str, f)) for family, f in folders.items() if len(f) > 1}
    assert not {family: sorted(lab) for family, lab in labels.items() if len(lab) > 1}


def test_the_loaders_read_every_row_and_every_split_holds_both_languages_and_labels() -> None:
    rows = load_seed(SEED_DIR) + load_extra(SEED_DIR / "extra")
    assert len(rows) == sum(len(_rows(path)) for path in _files())
    for split in ("train", "dev", "test"):
        strata = {(r.lang, r.label) for r in rows if r.split == split}
        assert strata == {("nl", "scam"), ("nl", "legit"), ("en", "scam"), ("en", "legit")}, split
