"""Text corpus loaders: each public layout read exactly, splits that never cut a family or a near-duplicate group."""

from __future__ import annotations

import csv
import json
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.textkit import seed_records, write_seed
from training.text.corpora import (
    TextRow,
    dedupe,
    hash_split,
    load_corpora,
    load_mishra_soni,
    load_seed,
    load_uci_sms,
    normalise,
    repair_text,
    split_families,
    summarise,
)

# ---------------------------------------------------------------- normalisation


def test_repair_text_fixes_html_entities_and_cp1252_c1_characters() -> None:
    assert repair_text("I am &lt;#&gt; inches &amp; more") == "I am <#> inches & more"
    assert repair_text("I don\x92t know \x93why\x94") == "I don\u2019t know \u201cwhy\u201d"
    assert repair_text("£5 op één dag") == "£5 op één dag"


def test_normalise_groups_copies_that_differ_in_numbers_links_and_punctuation() -> None:
    a = normalise("WINNER!! Call 09061701461 now, claim at http://win.example.com/x1 &amp; enjoy")
    b = normalise("winner! call 08001234567 now claim at www.other.net enjoy")
    assert a == b == "winner call 00000000000 now claim at URL enjoy"  # upper case: no text word can match
    assert normalise("You won \ufffd500") == normalise("You won £500")
    assert normalise("Ok lar...") != normalise("Ok lor...")


def test_hash_split_is_deterministic_and_near_the_fractions() -> None:
    keys = [f"message number {i}" for i in range(3000)]
    splits = [hash_split(k) for k in keys]
    assert splits == [hash_split(k) for k in keys]
    share = Counter(splits)
    assert abs(share["train"] / 3000 - 0.8) < 0.03
    assert abs(share["dev"] / 3000 - 0.1) < 0.03
    assert abs(share["test"] / 3000 - 0.1) < 0.03


# ---------------------------------------------------------------- seed corpus


def test_seed_split_by_family_covers_both_languages_and_classes(tmp_path: Path) -> None:
    rows = load_seed(write_seed(tmp_path / "seed"))
    assert len(rows) == len(seed_records())
    assert all(r.source == "seed" for r in rows)
    families: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        families[row.family].add(row.split)
    assert all(len(splits) == 1 for splits in families.values())
    for split in ("train", "dev", "test"):
        assert {(r.lang, r.label) for r in rows if r.split == split} == {
            ("nl", "scam"), ("nl", "legit"), ("en", "scam"), ("en", "legit")}
    # six families per stratum: 4 train, 1 dev, 1 test
    per_split = Counter(split for fam_splits in families.values() for split in fam_splits)
    assert per_split == {"train": 16, "dev": 4, "test": 4}


def test_public_folder_rows_keep_their_own_source(tmp_path: Path) -> None:
    folder = tmp_path / "public"
    folder.mkdir()
    words = ["bank", "pakket", "toeslag", "DigiD", "code", "rekening", "app", "koerier", "pas", "belasting"]
    lines = [json.dumps({"id": f"p{i}", "text": f"Politie waarschuwt voor nepberichten over {words[i % 10]} "
                         f"en {words[i // 10]}", "label": "legit",
                         "kind": "police_warning", "lang": "nl", "channel": "news", "source": "politie_demo",
                         "family": f"f{i % 7}"}) for i in range(30)]
    (folder / "nl_demo.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = load_corpora(seed_dir=write_seed(tmp_path / "seed"), public_dir=folder)
    public = [r for r in rows if r.source == "politie_demo"]
    assert len(public) == 30 and all(r.label == "legit" for r in public)
    assert {r.source for r in rows} == {"seed", "politie_demo"}
    families: dict[str, set[str]] = defaultdict(set)
    for row in public:
        families[row.family].add(row.split)
    assert all(len(splits) == 1 for splits in families.values())


def test_extra_folder_is_split_on_its_own_and_leaves_earlier_splits_unchanged(tmp_path: Path) -> None:
    folder = tmp_path / "extra"
    folder.mkdir()
    words = ["bitcoin", "robot", "rendement", "pakket", "bank", "code"]
    lines = [json.dumps({"id": f"x{i}", "text": f"Verdien snel geld met {words[i % 6]} en {words[i // 6]}",
                         "label": "scam" if i % 2 else "legit", "kind": "crypto_bot", "lang": "nl" if i % 3 else "en",
                         "channel": "ad", "source": "terse_demo", "family": f"x-{i % 9}"}) for i in range(36)]
    (folder / "nl.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    seed = write_seed(tmp_path / "seed")
    before = {(r.text, r.label): r.split for r in load_corpora(seed_dir=seed)}
    rows = load_corpora(seed_dir=seed, extra_dir=folder)
    assert {(r.text, r.label): r.split for r in rows if r.source == "seed"} == before
    extra = [r for r in rows if r.source == "terse_demo"]
    assert len(extra) == 36 and {r.split for r in extra} == {"train", "dev", "test"}
    families: dict[str, set[str]] = defaultdict(set)
    for row in extra:
        families[row.family].add(row.split)
    assert all(len(splits) == 1 for splits in families.values())


def _round(folder: Path, source: str, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    words = ["appel", "peer", "kers", "druif", "pruim", "bes", "vijg"]
    lines = [json.dumps({"id": f"{source}{i}", "text": f"{source} over {words[i % 7]} en {words[i // 7 % 7]}",
                         "label": "scam" if i % 2 else "legit", "kind": "k", "lang": "nl", "channel": "sms",
                         "source": source, "family": f"{source}-{i % (n // 2)}"}) for i in range(n)]
    (folder / "nl.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_later_round_in_a_subfolder_moves_no_earlier_extra_text(tmp_path: Path) -> None:
    folder = tmp_path / "extra"
    _round(folder, "first", 40)
    before = {r.text: r.split for r in load_corpora(extra_dir=folder)}
    _round(folder / "calls", "calls", 40)
    rows = load_corpora(extra_dir=folder)
    assert {r.text: r.split for r in rows if r.source == "first"} == before
    calls = [r for r in rows if r.source == "calls"]
    assert len(calls) == 40 and {r.split for r in calls} == {"train", "dev", "test"}
    # the same rows in the top folder instead would have moved some of the first round's families
    (folder / "calls" / "nl.jsonl").rename(folder / "calls.jsonl")
    (folder / "calls").rmdir()
    merged = {r.text: r.split for r in load_corpora(extra_dir=folder) if r.source == "first"}
    assert merged != before


def test_an_extra_folder_with_only_subfolders_loads_and_an_empty_one_is_refused(tmp_path: Path) -> None:
    _round(tmp_path / "extra" / "calls", "calls", 20)
    assert len(load_corpora(extra_dir=tmp_path / "extra")) == 20
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no \\*.jsonl"):
        load_corpora(extra_dir=tmp_path / "empty")


def test_seed_split_does_not_depend_on_row_order() -> None:
    rows = [TextRow(text=r["text"], label=r["label"], kind=r["kind"], lang=r["lang"], channel=r["channel"],
                    family=r["family"], source="seed") for r in seed_records()]
    shuffled = rows[:]
    random.Random(3).shuffle(shuffled)
    assert split_families(rows) == split_families(shuffled)


def test_seed_family_spanning_languages_stays_in_one_split() -> None:
    rows = [TextRow(text=f"t{i}", label="scam", kind="k", lang=lang, channel="ad", family=f"f{i % 5}", source="seed")
            for i, lang in enumerate(["nl", "en"] * 10)]
    assignment = split_families(rows)
    assert set(assignment) == {f"f{i}" for i in range(5)}


def test_seed_reports_the_bad_line(tmp_path: Path) -> None:
    folder = tmp_path / "seed"
    folder.mkdir()
    good = {"id": "1", "text": "hoi", "label": "legit", "kind": "chat", "lang": "nl", "channel": "sms", "family": "a"}
    bad = {**good, "label": "spam"}
    (folder / "nl.jsonl").write_text(json.dumps(good) + "\n\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"nl\.jsonl:3: .*label"):
        load_seed(folder)
    (folder / "nl.jsonl").write_text(json.dumps({k: v for k, v in good.items() if k != "family"}) + "\n")
    with pytest.raises(ValueError, match=r"nl\.jsonl:1: missing .*family"):
        load_seed(folder)


# ---------------------------------------------------------------- UCI SMS Spam Collection

UCI = (
    "Label\tSMS\n"
    "ham\tGo until jurong point, crazy.. Available only in bugis n great world la e buffet...\n"
    "ham\tI'll be there in  &lt;#&gt;  minutes &amp; then we go\n"
    "spam\tWINNER!! Call 09061701461 to claim your £900 prize. Valid 12 hours only.\n"
    "spam\tWINNER!! Call 09061701461 to claim your £900 prize. Valid 12 hours only.\n"
    "ham\tI don\x92t think he goes to usf\n"
)


def write_uci(path: Path) -> Path:
    path.write_text(UCI, encoding="utf-8")
    return path


def test_uci_reads_labels_and_repairs_text(tmp_path: Path) -> None:
    rows = load_uci_sms(write_uci(tmp_path / "SMSSpamCollection.tsv"))
    assert [r.label for r in rows] == ["legit", "legit", "scam", "scam", "legit"]
    assert [r.kind for r in rows] == ["ham", "ham", "sms_spam", "sms_spam", "ham"]
    assert rows[1].text == "I'll be there in  <#>  minutes & then we go"
    assert rows[4].text == "I don\u2019t think he goes to usf"
    assert {(r.lang, r.channel, r.source) for r in rows} == {("en", "sms", "uci_sms")}
    assert rows[2].family == rows[3].family and rows[2].split == rows[3].split


def test_uci_refuses_an_unknown_label(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text("Label\tSMS\nham\tfine\nphish\twhat\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv:3"):
        load_uci_sms(path)


# ---------------------------------------------------------------- Mishra-Soni SMS phishing

# (label, text, url, email, phone) as the published columns, aligned.
MISHRA = [
    ("ham", "Dear Customer,\nPayment of Rs. 91.13 has been received.\nThank You!", "No", "No", "No"),
    ("Smishing", "Your KYC is pending, update now at http://kyc-update.example.in/x or your account is blocked",
     "yes", "No", "No"),
    ("spam", "WINNER!! Call 08001234567 to claim your £900 prize. Valid 12 hours only!", "No", "No", "yes"),
    ("ham", "Ok lor\ufffdwhats up\ufffd", "No", "No", "No"),
    ("SPAM", "Free entry: text WIN to 87121 now, visit www.prize.example.com", "yes", "No", "No"),
    ("smishing", "Bank alert: call 9876543210 to stop the debit of INR 5000", "No", "No", "yes"),
    ("", "A row without a label", "No", "No", "No"),
    ("ham", "Im on the way home, see you at dinner", "No", "No", "No"),
]
HEADER = ["LABEL", "TEXT", "URL", "EMAIL", "PHONE"]


def write_mishra(path: Path, records: Sequence[tuple[str, ...]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(records)
    return path


def shifted(records: Sequence[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """The defect of the checked copy: each TEXT sits one row below its LABEL/URL/EMAIL/PHONE."""
    texts = ["an extra first text", *[r[1] for r in records]]
    metadata = [*[(r[0], *r[2:]) for r in records], ("", "", "", "")]
    return [(m[0], t, *m[1:]) for m, t in zip(metadata, texts, strict=True)]


def test_mishra_reads_mixed_case_labels_multiline_text_and_skips_unlabelled(tmp_path: Path) -> None:
    rows = load_mishra_soni(write_mishra(tmp_path / "Dataset_5971.csv", MISHRA))
    assert [(r.label, r.kind) for r in rows] == [
        ("legit", "ham"), ("scam", "smishing"), ("scam", "sms_spam"), ("legit", "ham"), ("scam", "sms_spam"),
        ("scam", "smishing"), ("legit", "ham")]
    assert rows[0].text.startswith("Dear Customer,\nPayment")
    assert {(r.lang, r.channel, r.source) for r in rows} == {("en", "sms", "mishra_soni")}


def test_mishra_realigns_a_file_whose_texts_sit_one_row_low(tmp_path: Path) -> None:
    aligned = load_mishra_soni(write_mishra(tmp_path / "aligned.csv", MISHRA))
    realigned = load_mishra_soni(write_mishra(tmp_path / "shifted.csv", shifted(MISHRA)))
    assert realigned == aligned


def test_sms_near_duplicates_share_a_split_across_sets_and_dedupe_keeps_uci(tmp_path: Path) -> None:
    uci = write_uci(tmp_path / "uci.tsv")
    mishra = write_mishra(tmp_path / "mishra.csv", MISHRA)
    uci_rows, mishra_rows = load_uci_sms(uci), load_mishra_soni(mishra)
    twin_uci = next(r for r in uci_rows if r.text.startswith("WINNER"))
    twin_mishra = next(r for r in mishra_rows if r.text.startswith("WINNER"))
    assert twin_uci.text != twin_mishra.text
    assert (twin_uci.family, twin_uci.split) == (twin_mishra.family, twin_mishra.split)

    rows = load_corpora(uci_path=uci, mishra_path=mishra)
    winners = [r for r in rows if r.text.startswith("WINNER")]
    assert [r.source for r in winners] == ["uci_sms"]
    assert len(rows) == len(uci_rows) - 1 + len(mishra_rows) - 1


def test_dedupe_keeps_same_text_with_other_label() -> None:
    a = TextRow(text="Call me now!", label="legit", kind="ham", lang="en", channel="sms", family="x", source="s")
    b = TextRow(text="call me now", label="legit", kind="ham", lang="en", channel="sms", family="y", source="t")
    c = TextRow(text="CALL ME NOW", label="scam", kind="spam", lang="en", channel="sms", family="z", source="t")
    assert dedupe([a, b, c]) == [a, c]


def test_load_corpora_needs_a_corpus() -> None:
    with pytest.raises(ValueError, match="no text corpus"):
        load_corpora()


def test_summarise_counts_per_split_language_and_label(tmp_path: Path) -> None:
    rows = load_seed(write_seed(tmp_path / "seed"))
    summary = summarise(rows)
    assert summary["total"] == 72
    assert summary["dev"]["by_lang_label"] == {"en/legit": 3, "en/scam": 3, "nl/legit": 3, "nl/scam": 3}
    assert sum(summary[s]["total"] for s in ("train", "dev", "test")) == 72


def test_text_bands_hold_their_false_alarm_rates_and_leave_a_usable_inconclusive_band() -> None:
    import numpy as np

    from training.text.calibration import band_thresholds

    rng = np.random.default_rng(0)
    legit, scam = rng.normal(-3.0, 1.5, 5000), rng.normal(2.0, 1.5, 800)
    bands = band_thresholds(legit, scam)
    assert np.mean(legit >= bands["likely_scam"]) <= 0.02
    assert np.mean(legit >= bands["scam"]) <= 0.005
    assert bands["likely_scam"] - bands["inconclusive"] >= 1.0
    assert bands["inconclusive"] <= bands["likely_scam"] <= bands["scam"]
