"""Hashed word and character n-gram counts: the input of the text detector's n-gram model.

The fine-tuned transformer and a TF-IDF model over words and characters make different mistakes: the n-gram
model remembers the exact wording of real SMS spam and phishing (sort codes, call-back lines, "claim your
prize"), the transformer reads intent (a warning that quotes a scam is not a scam). The shipped text model adds
a fraction of the n-gram model's score to the transformer's (see `service.scoring`), and this module is the one
place where text becomes n-gram features, for training and serving alike.

Features follow scikit-learn's analyzers, lowercased: words are runs of two or more word characters, taken
singly and in pairs (`word`, n = 1-2); character n-grams of 2 to 5 characters are taken inside each
whitespace-separated word padded with one space on each side (`char_wb`), which catches spellings such as
"FR33" and "b1tcoin" that the word vocabulary has never seen. Each n-gram is hashed with CRC-32 into `buckets`
slots (words in the first half of the id space, characters in the second), so the model needs no vocabulary
file and the same text always gives the same ids, in every process and Python version.

The text given here is the normalised one (`service.text.normalize`), as for the transformer.
"""

from __future__ import annotations

import re
import zlib
from functools import lru_cache

import numpy as np

__all__ = ["CHAR_NGRAMS", "NgramCounts", "ngram_counts", "pad_batch"]

CHAR_NGRAMS = (2, 5)
_WORD = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern


class NgramCounts:
    """The distinct hashed ids of one text and how often each occurs; ids < buckets are word n-grams."""

    __slots__ = ("ids", "counts")

    def __init__(self, ids: np.ndarray, counts: np.ndarray) -> None:
        self.ids = ids  # int64 [k], sorted, unique
        self.counts = counts  # float32 [k], >= 1


def _hash(kind: bytes, gram: str, buckets: int) -> int:
    return zlib.crc32(kind + gram.encode("utf-8")) % buckets


def _word_grams(text: str) -> list[str]:
    tokens = _WORD.findall(text)
    grams = list(tokens)
    grams += [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]
    return grams


def _padded_char_grams(word: str) -> list[str]:
    lo, hi = CHAR_NGRAMS
    padded = f" {word} "
    return [padded[i : i + n] for n in range(lo, min(hi, len(padded)) + 1) for i in range(len(padded) - n + 1)]


@lru_cache(maxsize=16384)
def _word_char_ids(word: str, buckets: int) -> np.ndarray:
    """The hashed character n-gram ids of one word. Cached: words repeat (Zipf), and hashing every character
    n-gram of every text cost a fifth of the text endpoint's throughput under load on 2 cores. About 5 MB full."""
    ids = np.fromiter((buckets + _hash(b"c", g, buckets) for g in _padded_char_grams(word)), dtype=np.int64)
    ids.flags.writeable = False
    return ids


def ngram_counts(text: str, *, buckets: int) -> NgramCounts:
    """Hashed word 1-2 gram and char_wb 2-5 gram counts of `text` (lower-cased here); ids in [0, 2 * buckets)."""
    if buckets < 1:
        raise ValueError("buckets must be positive")
    lowered = text.lower()
    parts = [np.fromiter((_hash(b"w", g, buckets) for g in _word_grams(lowered)), dtype=np.int64)]
    parts += [_word_char_ids(word, buckets) for word in lowered.split()]
    ids, counts = np.unique(np.concatenate(parts), return_counts=True)
    return NgramCounts(ids.astype(np.int64, copy=False), counts.astype(np.float32))


def pad_batch(items: list[NgramCounts]) -> dict[str, np.ndarray]:
    """The n-gram model's inputs for a batch: `ids` int64 and `counts` float32, both [batch, longest]; padding
    has count 0, which the model ignores."""
    longest = max(1, max((item.ids.size for item in items), default=1))
    ids = np.zeros((len(items), longest), dtype=np.int64)
    counts = np.zeros((len(items), longest), dtype=np.float32)
    for row, item in enumerate(items):
        ids[row, : item.ids.size] = item.ids
        counts[row, : item.ids.size] = item.counts
    return {"ids": ids, "counts": counts}
