"""Put the spaces back into a run of letters that lost them: letter-spaced text with one space everywhere.

"V e r d i e n 5 0 0 e u r o p e r d a g" spaces letters and words alike, so once its letters are joined
(`normalize._join_letter_spacing`) it reads "Verdien500europerdag", a string the model has never seen. Where the
words were, only word frequencies can tell: this is the classic most-probable segmentation (dynamic programming
over the run, each word scored by its log frequency), in Dutch and in English, keeping the likelier. The
frequencies are those of the `wordfreq` package (a maintained lexicon; Apache-2.0 code, CC BY-SA 4.0 data), its
"small" lists: about 4 MB in memory for both languages, where the large ones take 70 MB and split the obfuscation
benchmark's texts no better. It is only consulted for runs that came from letter spacing, so ordinary text never
pays for the lookup.

Work is bounded: a run is at most about 200 letters (the caller's pattern), each piece at most `MAX_WORD`, and a
text gets at most `LETTER_BUDGET` letters segmented (`Budget`); runs past that are joined whole, as before. A
letter-spaced SMS or ad stays within it; the worst case, 50,000 random letters spaced out, costs about 0.15 s more
(one core), against 0.02 s to normalise it otherwise.

A split is only kept when it is confident: at least two pieces, and most letters in words the lexicon knows.
Otherwise the run stays joined, as before (leetspeak such as "b1tc01n" is not split into "b", "1", "tc", ...).
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["Budget", "split_words", "warm_up"]

LANGUAGES = ("nl", "en")
MAX_WORD = 18  # longer pieces are scored as unknown; Dutch compounds longer than this stay unsplit
MIN_ZIPF = 1.5  # below this (about one in 3 billion words) a "word" is noise in the lexicon
ONE_LETTER_WORDS = frozenset("aiu")  # "a", "I" (en) and "u" (nl); other single letters are initials or noise
KNOWN_SHARE = 0.7  # share of the run's letters that known words must cover for a split to be kept
MAX_DIGITS = 12
LETTER_BUDGET = 500  # letters a text may have segmented: a long letter-spaced ad (two to three full runs)


class Budget:
    """How many letters of one text may still be segmented."""

    def __init__(self, letters: int = LETTER_BUDGET) -> None:
        self.letters = letters

    def take(self, letters: int) -> bool:
        if letters > self.letters:
            return False
        self.letters -= letters
        return True


@lru_cache(maxsize=65536)
def _zipf(word: str, lang: str) -> float:
    """Zipf frequency (log10 of occurrences per billion words) of a lower-case word in `lang`; 0 when unknown."""
    from wordfreq import zipf_frequency

    return zipf_frequency(word, lang, wordlist="small")


def _piece_score(piece: str, lang: str) -> tuple[float, bool]:
    """(log10 probability of the piece as a word of `lang`, whether the lexicon knows it)."""
    if piece.isdigit():
        return (-4.0, True) if len(piece) <= MAX_DIGITS else (-(9.0 + len(piece)), False)
    if piece.isalpha() and (len(piece) > 1 or piece in ONE_LETTER_WORDS):
        zipf = _zipf(piece, lang)
        if zipf >= MIN_ZIPF:
            return zipf - 9.0, True
    return -(9.0 + len(piece)), False  # unknown: the longer, the less likely (and one unknown beats many)


def _best_split(lower: str, lang: str) -> tuple[float, list[int]]:
    """The most probable segmentation of `lower` into words of `lang`: (log10 probability, word starts)."""
    n = len(lower)
    best: list[float] = [0.0] + [float("-inf")] * n
    back: list[int] = [0] * (n + 1)
    for end in range(1, n + 1):
        for start in range(max(0, end - MAX_WORD), end):
            score = best[start] + _piece_score(lower[start:end], lang)[0]
            if score > best[end]:
                best[end], back[end] = score, start
    starts: list[int] = []
    end = n
    while end > 0:
        starts.append(back[end])
        end = back[end]
    return best[n], starts[::-1]


def split_words(run: str, budget: Budget) -> list[int] | None:
    """Where words start inside `run` (indices 0 < i < len(run), increasing), or None when no confident split
    (or the text's budget is spent).

    `run` is letters and digits only (a joined letter-spaced run)."""
    lower = run.lower()
    n = len(lower)
    if n < 4 or not budget.take(n):
        return None
    # One language per run: mixing them finds nonsense such as "andrea dus" (en + nl) for "and read us".
    _, starts, lang = max((*_best_split(lower, lang), lang) for lang in LANGUAGES)
    if len(starts) < 2:
        return None
    known = 0
    for start, stop in zip(starts, [*starts[1:], n], strict=True):
        if _piece_score(lower[start:stop], lang)[1]:
            known += sum(ch.isalpha() for ch in lower[start:stop])
    letters = sum(ch.isalpha() for ch in lower)
    if known < KNOWN_SHARE * letters:
        return None
    return starts[1:]


def warm_up() -> None:
    """Load the word lists now (about 0.5 s) rather than on the first letter-spaced text."""
    for lang in LANGUAGES:
        _zipf.__wrapped__("nu", lang)
