"""Hashed n-gram features (service.text.ngrams): scikit-learn's analyzers, stable ids, padding the model ignores."""

from __future__ import annotations

import zlib
from collections import Counter

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from service.text.ngrams import _padded_char_grams, _word_grams, ngram_counts, pad_batch


def _char_grams(text: str) -> list[str]:
    return [gram for word in text.split() for gram in _padded_char_grams(word)]


TEXTS = [
    "Hi grandma, it's your grandson. I'm in trouble and need $500!",
    "a b cc ddd  FR33 b1tcoin 😀 café\tnaïve",
    "x",
    "Uw rekening is geblokkeerd: bel 0800-1234 of ga naar ing.nl",
]


@pytest.mark.parametrize("text", TEXTS)
def test_ngrams_are_scikit_learns_word_and_char_wb_analyzers(text: str) -> None:
    lowered = text.lower()
    words = CountVectorizer(analyzer="word", ngram_range=(1, 2)).build_analyzer()
    chars = CountVectorizer(analyzer="char_wb", ngram_range=(2, 5)).build_analyzer()
    assert Counter(_word_grams(lowered)) == Counter(words(lowered))
    assert Counter(_char_grams(lowered)) == Counter(chars(lowered))


def test_ids_are_sorted_unique_and_split_by_analyzer() -> None:
    counts = ngram_counts(TEXTS[0], buckets=1024)
    assert counts.ids.tolist() == sorted(set(counts.ids.tolist()))
    assert counts.ids.min() >= 0 and counts.ids.max() < 2048
    assert (counts.ids < 1024).any() and (counts.ids >= 1024).any()  # words and characters
    assert ngram_counts("Bitcoin", buckets=1024).ids.tolist() == ngram_counts("bitcoin", buckets=1024).ids.tolist()
    # the word "bitcoin" is CRC-32 of b"w" + its UTF-8 bytes, modulo the buckets: a shipped model depends on it
    assert zlib.crc32(b"wbitcoin") % 4096 in ngram_counts("bitcoin", buckets=4096).ids.tolist()
    assert 4096 + zlib.crc32(b"c bi") % 4096 in ngram_counts("bitcoin", buckets=4096).ids.tolist()
    # counts add up to the number of n-grams
    grams = len(_word_grams("bitcoin bitcoin")) + len(_char_grams("bitcoin bitcoin"))
    assert ngram_counts("bitcoin bitcoin", buckets=1 << 20).counts.sum() == grams


def test_ids_do_not_depend_on_the_process() -> None:
    import subprocess
    import sys

    code = ("from service.text.ngrams import ngram_counts; "
            "print(ngram_counts('veilige rekening', buckets=4096).ids.tolist())")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)}
    assert len(runs) == 1
    assert runs.pop().strip() == str(ngram_counts("veilige rekening", buckets=4096).ids.tolist())


def test_empty_and_symbol_only_texts_have_no_word_ngrams() -> None:
    assert ngram_counts("", buckets=64).ids.size == 0
    only_chars = ngram_counts("!!! 😀", buckets=64)
    assert only_chars.ids.size > 0 and (only_chars.ids >= 64).all()


def test_pad_batch_pads_with_zero_counts() -> None:
    items = [ngram_counts(t, buckets=256) for t in ("one two three", "x")]
    feeds = pad_batch(items)
    assert feeds["ids"].dtype == np.int64 and feeds["counts"].dtype == np.float32
    assert feeds["ids"].shape == feeds["counts"].shape == (2, items[0].ids.size)
    assert feeds["counts"][1, items[1].ids.size :].sum() == 0
    assert pad_batch([ngram_counts("", buckets=8)])["ids"].shape == (1, 1)


def test_buckets_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ngram_counts("text", buckets=0)
