"""Text corpora for the scam detector, read into one row type with a train/dev/test split fixed per row.

Splits are made over groups that could leak into each other, never over single texts:

- the seed corpus (`datasets/text_seed/*.jsonl`, written from templates) is split by template *family*, so a
  model is tested on phrasings it never saw, stratified by (language, label) so every split holds both
  languages and both classes;
- SMS sets are split by a hash of the normalised text, so a message and its near-copies (other numbers, other
  links, other punctuation) always land in the same split. The hash depends on the text only, so the grouping
  holds *across* sets: the Mishra-Soni set reuses about 5000 UCI messages, and each lands in the split its UCI
  twin is in.

Exact duplicates (same normalised text, same label) are dropped by `load_corpora`, keeping the first. UCI is
read before Mishra-Soni, so each message counts once, under the corpus it comes from: `uci_sms` holds the UCI
messages and `mishra_soni` what that set adds (mostly Indian bank and payment smishing). The price is that the
smishing/spam distinction Mishra-Soni draws is kept only for its own messages.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LABELS = ("legit", "scam")  # index 1 = scam, as in the model's logits
SPLITS = ("train", "dev", "test")
SEED_FRACTIONS = (0.70, 0.15, 0.15)
SMS_FRACTIONS = (0.80, 0.10, 0.10)


@dataclass(frozen=True)
class TextRow:
    text: str
    label: str  # "scam" or "legit"
    kind: str  # e.g. "safe_account_transfer", "sms_spam", "smishing", "ham"
    lang: str
    channel: str
    family: str  # the group a split never cuts: a seed template family or an SMS near-duplicate group
    source: str  # the corpus: "seed", "uci_sms", "mishra_soni", or a table's name
    split: str = ""

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"label must be one of {LABELS}, got {self.label!r}")
        if self.split not in (*SPLITS, ""):
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")

    @property
    def y(self) -> int:
        return LABELS.index(self.label)


# ---------------------------------------------------------------- normalisation and split hashing

_URL = re.compile(
    r"(?:https?://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|info|biz|co\.uk|uk|in|ly|me|nl|be|io)\b(?:/\S*)?",
    re.IGNORECASE,
)


def repair_text(text: str) -> str:
    """Undo the encoding damage found in the public SMS sets, leaving everything else as written.

    Both sets carry HTML entities (`&lt;#&gt;` placeholders, `&amp;`) and Windows-1252 punctuation stored as
    C1 control characters (U+0092 for a right quote). The service sees real characters, so training should too.
    """
    text = html.unescape(text)
    return "".join(
        ch.encode("latin-1").decode("cp1252", errors="replace") if 0x80 <= ord(ch) <= 0x9F else ch for ch in text
    )


def normalise(text: str) -> str:
    """The near-duplicate key: lower case, links as one token, digits as 0, punctuation and space collapsed.

    Two messages that differ only in a phone number, an amount, a link or punctuation (including characters the
    Mishra-Soni set lost to U+FFFD) get the same key.
    """
    text = _URL.sub(" URL ", repair_text(text).lower())
    text = re.sub(r"\d", "0", text)
    text = re.sub(r"[^\w]+", " ", text)
    return " ".join(text.split())


def _unit_hash(key: str, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def hash_split(key: str, fractions: tuple[float, float, float] = SMS_FRACTIONS, salt: str = "nepcheck-text") -> str:
    """train/dev/test from a hash of the key: deterministic, and the same key always gets the same split."""
    u = _unit_hash(key, salt)
    if u < fractions[0]:
        return "train"
    return "dev" if u < fractions[0] + fractions[1] else "test"


def sms_group(text: str) -> str:
    return "sms:" + hashlib.sha1(normalise(text).encode()).hexdigest()[:12]


# ---------------------------------------------------------------- the seed corpus

_SEED_FIELDS = ("text", "label", "kind", "lang", "channel", "family")


def load_seed(folder: Path, *, salt: str = "nepcheck-seed") -> list[TextRow]:
    """Every `*.jsonl` in `folder` (fields id, text, label, kind, lang, channel, family), split by family."""
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"{folder}: no *.jsonl seed files")
    rows: list[TextRow] = []
    for path in files:
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    missing = [k for k in _SEED_FIELDS if not isinstance(record.get(k), str)]
                    if missing:
                        raise ValueError(f"missing or non-text fields {missing}")
                    rows.append(TextRow(text=record["text"], label=record["label"], kind=record["kind"],
                                        lang=record["lang"], channel=record["channel"],
                                        family=record["family"], source=record.get("source") or "seed"))
                except ValueError as exc:  # json.JSONDecodeError is a ValueError too
                    raise ValueError(f"{path}:{number}: {exc}") from exc
    splits = split_families(rows, salt=salt)
    return [replace(r, split=splits[r.family]) for r in rows]


def split_families(
    rows: Sequence[TextRow], *, fractions: tuple[float, float, float] = SEED_FRACTIONS, salt: str = "nepcheck-seed"
) -> dict[str, str]:
    """Family -> split, about `fractions` of the families of each (lang, label) stratum in each split.

    A family belongs to the stratum most of its rows are in. Within a stratum families are ordered by a salted
    hash (deterministic, independent of file order) and cut by the fractions; any stratum of three or more
    families gives at least one to dev and one to test, so every split sees both languages and classes.
    """
    counts: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    for row in rows:
        counts[row.family][(row.lang, row.label)] += 1
    strata: dict[tuple[str, str], list[str]] = defaultdict(list)
    for family, counter in counts.items():
        stratum = min(counter, key=lambda s: (-counter[s], s))
        strata[stratum].append(family)
    assignment: dict[str, str] = {}
    for families in strata.values():
        families.sort(key=lambda fam: _unit_hash(fam, salt))
        n = len(families)
        n_dev = max(1, round(fractions[1] * n)) if n >= 3 else 0
        n_test = max(1, round(fractions[2] * n)) if n >= 2 else 0
        for i, family in enumerate(families):
            assignment[family] = "train" if i < n - n_dev - n_test else ("dev" if i < n - n_test else "test")
    return assignment


# ---------------------------------------------------------------- the public SMS sets


def _sms_row(text: str, label: str, kind: str, source: str) -> TextRow:
    return TextRow(text=text, label=label, kind=kind, lang="en", channel="sms", family=sms_group(text),
                   source=source, split=hash_split(normalise(text)))


def load_uci_sms(path: Path) -> list[TextRow]:
    """The UCI SMS Spam Collection as a `Label<TAB>SMS` file with a header line (ham/spam)."""
    rows = []
    with path.open(encoding="utf-8", newline="") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line or (number == 1 and line.lower().startswith("label\t")):
                continue
            tag, sep, text = line.partition("\t")
            if not sep or tag not in ("ham", "spam"):
                raise ValueError(f"{path}:{number}: expected 'ham' or 'spam', a tab and the message")
            text = repair_text(text)
            scam = tag == "spam"
            rows.append(_sms_row(text, "scam" if scam else "legit", "sms_spam" if scam else "ham", "uci_sms"))
    return rows


_MISHRA_KINDS = {"ham": ("legit", "ham"), "spam": ("scam", "sms_spam"), "smishing": ("scam", "smishing")}
_PHONE = re.compile(r"\d{7,}|\d{3,5}[ -]\d{3,}")


def _flags_agreement(records: list[dict[str, str]], offset: int) -> float:
    """How well the URL and PHONE flags of record i - offset describe the text of record i."""
    agree = total = 0
    for i in range(offset, len(records)):
        flags, text = records[i - offset], records[i]["TEXT"]
        for column, present in (("URL", bool(_URL.search(text))), ("PHONE", bool(_PHONE.search(text)))):
            value = flags.get(column, "").strip().lower()
            if value in ("yes", "no"):
                total += 1
                agree += (value == "yes") == present
    return agree / total if total else 0.0


def load_mishra_soni(path: Path) -> list[TextRow]:
    """The SMS phishing set of Mishra and Soni (CSV: LABEL,TEXT,URL,EMAIL,PHONE; ham/spam/smishing, any case).

    The copy checked for this loader has its TEXT column one row below the other columns (labels then score
    an AUC of 0.5 against a UCI-trained classifier, and the label of row i-1 matches the UCI label of text i in
    every one of the 5000 shared messages). The loader detects that from the file's own URL and PHONE flags,
    which describe a text only when aligned with it, and realigns with a warning; an aligned file is read as is.
    """
    with path.open(encoding="utf-8", newline="") as f:
        records = list(csv.DictReader(f))
    if not records or not {"LABEL", "TEXT"} <= set(records[0]):
        raise ValueError(f"{path}: expected a CSV with columns LABEL,TEXT,URL,EMAIL,PHONE")
    offset = 1 if _flags_agreement(records, 1) > _flags_agreement(records, 0) + 0.05 else 0
    if offset:
        log.warning("%s: TEXT is one row below LABEL/URL/EMAIL/PHONE; realigning (first text and last label "
                    "dropped)", path)
    rows, skipped = [], 0
    for i in range(offset, len(records)):
        tag = (records[i - offset]["LABEL"] or "").strip().lower()
        text = repair_text(records[i]["TEXT"] or "").strip()
        if tag not in _MISHRA_KINDS or not text:
            skipped += 1
            continue
        label, kind = _MISHRA_KINDS[tag]
        rows.append(_sms_row(text, label, kind, "mishra_soni"))
    if skipped:
        log.warning("%s: skipped %d rows without a known label or text", path, skipped)
    return rows


# ---------------------------------------------------------------- combining


def dedupe(rows: Iterable[TextRow]) -> list[TextRow]:
    """Drop a row when an earlier one has the same normalised text and label (the first one's split stays)."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for row in rows:
        key = (normalise(row.text), row.label)
        if key not in seen:
            seen.add(key)
            kept.append(row)
    return kept


def load_extra(folder: Path) -> list[TextRow]:
    """The `*.jsonl` of `folder`, then those of each subfolder (in name order), every group split by its own families.

    Splitting cuts each (language, label) stratum's families in hash order, so adding families to a group moves
    the cut and sends some earlier families to another split. A round of new texts in its own subfolder leaves
    every earlier round's split as it was."""
    groups = [(folder, "nepcheck-extra")] + [(sub, f"nepcheck-extra-{sub.name}")
                                              for sub in sorted(p for p in folder.iterdir() if p.is_dir())]
    rows: list[TextRow] = []
    for path, salt in groups:
        if any(path.glob("*.jsonl")):
            rows += load_seed(path, salt=salt)
    if not rows:
        raise FileNotFoundError(f"{folder}: no *.jsonl seed files, neither in it nor in its subfolders")
    return rows


def load_corpora(
    *, seed_dir: Path | None = None, uci_path: Path | None = None, mishra_path: Path | None = None,
    public_dir: Path | None = None,
    pairs_dir: Path | None = None,
    extra_dir: Path | None = None,
) -> list[TextRow]:
    """The named corpora, deduplicated; at least one must be given. `public_dir` holds collected public texts in
    the seed corpus's JSONL format (datasets/text_public), each file's rows keeping their own `source`.

    `extra_dir` (datasets/text_seed/extra) holds texts added after a model shipped. It is split on its own, by its
    own families, so adding it leaves every earlier corpus's split exactly as it was: a new model and the one it
    replaces are then compared on the same held-out texts. Each later round goes into a subfolder of it, split on
    its own in turn (`load_extra`)."""
    rows: list[TextRow] = []
    if seed_dir is not None:
        rows += load_seed(seed_dir)
    if public_dir is not None:
        rows += load_seed(public_dir, salt="nepcheck-public")
    if pairs_dir is not None:  # scam/warning pairs (datasets/text_pairs): a pair's two texts share a family
        rows += load_seed(pairs_dir, salt="nepcheck-pairs")
    if extra_dir is not None:
        rows += load_extra(extra_dir)
    if uci_path is not None:
        rows += load_uci_sms(uci_path)
    if mishra_path is not None:
        rows += load_mishra_soni(mishra_path)
    if not rows:
        raise ValueError("no text corpus given: name a seed or public folder, the UCI SMS file or the Mishra-Soni CSV")
    kept = dedupe(rows)
    log.info("loaded %d texts (%d exact duplicates dropped)", len(kept), len(rows) - len(kept))
    return kept


def select(rows: Iterable[TextRow], split: str) -> list[TextRow]:
    return [r for r in rows if r.split == split]


def summarise(rows: Sequence[TextRow]) -> dict[str, Any]:
    """Sizes per split, language, label and source: what the model card records as its training data."""
    out: dict[str, Any] = {"total": len(rows)}
    for split in SPLITS:
        part = [r for r in rows if r.split == split]
        out[split] = {
            "total": len(part),
            "by_lang_label": {f"{lang}/{label}": n for (lang, label), n in
                              sorted(Counter((r.lang, r.label) for r in part).items())},
            "by_source": dict(sorted(Counter(r.source for r in part).items())),
        }
    return out
