"""Text normalisation before the model, the same in training and in the service.

Scam senders dodge filters with tricks a reader does not see or reads straight through: zero-width
characters inside words ("bit\\u200bcoin"), letter spacing ("G e g a r a n d e e r d"), Cyrillic or Greek
look-alike letters ("rеkеning" with Cyrillic "е"), fullwidth or "mathematical bold" letters, SHOUTING and bidi
controls. A subword model sees each as a different string and scored such texts as legit. `normalize` undoes
them, step by step, and keeps a map from every character it outputs back to the characters of the input it
came from, so window spans and cue spans still point into the text the caller sent.

The steps, in order (each a small function below, each saying why):

1. `_drop_invisible`: zero-width, bidi and other format (Cf) characters are removed, and a few invisible
   "filler" characters; a ZWJ inside an emoji sequence and ZWJ/ZWNJ between two non-Latin letters stay.
2. `_nfkc`: Unicode NFKC per character cluster (fullwidth, mathematical alphanumerics, ligatures, compatibility
   spaces), so a span can always be mapped back.
3. `_fold_confusables`: letters of other scripts that Unicode's confusables table (through the
   confusable-homoglyphs package) says look like a Latin letter become that letter, only inside words that are
   mostly Latin (or have only look-alike letters in Latin surroundings). Genuine Russian or Greek text and
   accented Latin letters (é, ë, ü) are never changed.
4. `_join_letter_spacing`: runs of at least three single letters separated by one and the same space, dot,
   hyphen or underscore become one word ("b.i.t.c.o.i.n" -> "bitcoin"), or several where a whole text was
   spaced letter by letter and word frequencies say where its words were (`segment.split_words`). Digits alone
   never start or end a run, so phone numbers and IBANs are untouched.
5. `_unshout`: a text that is mostly UPPERCASE, a run of at least four UPPERCASE words or an UPPERCASE word of
   seven or more letters is lower-cased with sentence starts capitalised; acronyms in normal text ("ING",
   "DigiD", "ABN AMRO") stay.
6. `_collapse_whitespace`: every run of whitespace becomes one space, and leading and trailing space goes.

Pure Python and the standard library plus the confusables data: 50,000 characters take about 10 ms as plain
text and 20-40 ms full of obfuscation (one busy CPU core); every regex is bounded, so adversarial input stays
linear. Not idempotent in rare cases (a tab between single letters becomes a space only in step 6).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache

from service.text.segment import Budget, split_words
from service.text.segment import warm_up as _load_word_frequencies

__all__ = ["NormalizedText", "normalize", "warm_up"]


# --------------------------------------------------------------------------------------------------------
# The result and its offset map
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NormalizedText:
    """`text` is what the tokenizer and the cue patterns see; `to_original` maps its spans back to `original`.

    Character i of `text` came from `original[starts[i]:ends[i]]` (one character, or a cluster such as a
    ligature or a letter with its combining accent). Removed characters (zero-width, separators of
    letter-spaced words, collapsed whitespace) belong to no output character; a span that covers their
    neighbours covers them too. `starts`/`ends` are None when the map is the identity (nothing moved).
    """

    original: str
    text: str
    starts: list[int] | None = field(default=None, repr=False, compare=False)
    ends: list[int] | None = field(default=None, repr=False, compare=False)

    @property
    def changed(self) -> bool:
        return self.text != self.original

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """The span of `original` that `text[start:end]` came from (an empty span maps to an empty span)."""
        n = len(self.text)
        if not 0 <= start <= end <= n:
            raise ValueError(f"span [{start}, {end}) is outside the normalised text of length {n}")
        if self.starts is None or self.ends is None:
            return start, end
        if end > start:
            return self.starts[start], self.ends[end - 1]
        if start < n:
            return self.starts[start], self.starts[start]
        position = self.ends[-1] if n else 0
        return position, position


class _Builder:
    """The text being normalised and, per character, the span of the original it came from."""

    def __init__(self, text: str) -> None:
        self.original = text
        self.text = text
        self.starts: list[int] | None = None  # None: identity, built on the first edit that moves characters
        self.ends: list[int] | None = None

    def substitute(self, text: str) -> None:
        """Replace the text by one of the same length, character for character (the map stays)."""
        assert len(text) == len(self.text)
        self.text = text

    def edit(self, edits: Iterable[tuple[int, int, str]]) -> None:
        """Apply (start, end, replacement) edits, sorted and non-overlapping, to the current text. Each
        replacement character maps to the whole replaced span; an empty replacement deletes."""
        text = self.text
        starts = self.starts if self.starts is not None else list(range(len(text)))
        ends = self.ends if self.ends is not None else list(range(1, len(text) + 1))
        pieces: list[str] = []
        new_starts: list[int] = []
        new_ends: list[int] = []
        last = 0
        touched = False
        for start, end, replacement in edits:
            touched = True
            pieces.append(text[last:start])
            new_starts += starts[last:start]
            new_ends += ends[last:start]
            if replacement:
                pieces.append(replacement)
                # end > start for every edit these steps make; the span is that of the replaced characters
                new_starts += [starts[start]] * len(replacement)
                new_ends += [ends[end - 1]] * len(replacement)
            last = end
        if not touched:
            return
        pieces.append(text[last:])
        new_starts += starts[last:]
        new_ends += ends[last:]
        self.text = "".join(pieces)
        self.starts, self.ends = new_starts, new_ends

    def result(self) -> NormalizedText:
        return NormalizedText(self.original, self.text, self.starts, self.ends)


# --------------------------------------------------------------------------------------------------------
# 1. Invisible characters
# --------------------------------------------------------------------------------------------------------

_ZWNJ, _ZWJ = "\u200c", "\u200d"
# Default-ignorable characters outside category Cf that render as nothing: combining grapheme joiner, Hangul
# fillers, Khmer inherent vowels. (Cf itself is found per text with unicodedata, so it follows Python's Unicode.)
_INVISIBLE_EXTRA = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0")
# Variation selectors choose a glyph style (emoji "❤️", keycap "1️⃣"); after a letter they are only noise.
_VARIATION_SELECTORS = re.compile(r"(?<=[^\W\d_])[\ufe00-\ufe0f\U000e0100-\U000e01ef]+")


@lru_cache(maxsize=8192)
def _is_invisible(ch: str) -> bool:
    return ch in _INVISIBLE_EXTRA or unicodedata.category(ch) == "Cf"


def _is_emoji_part(ch: str) -> bool:
    """Emoji, their skin-tone modifiers and the emoji presentation selector."""
    return ch == "\ufe0f" or unicodedata.category(ch) in ("So", "Sk")


def _keeps_joiner(text: str, i: int) -> bool:
    """ZWJ between emoji keeps a family or profession emoji whole; ZWJ/ZWNJ between two non-Latin letters is
    spelling in Persian, Arabic and Indic scripts. Between Latin letters either one is only a filter dodge."""
    if i == 0 or i + 1 >= len(text):
        return False
    before, after = text[i - 1], text[i + 1]
    if text[i] == _ZWJ and _is_emoji_part(before) and unicodedata.category(after) == "So":
        return True
    return before.isalpha() and after.isalpha() and not _is_latin(before) and not _is_latin(after)


def _drop_invisible(b: _Builder) -> None:
    """Remove zero-width characters (U+200B-U+200D, U+2060, U+FEFF, soft hyphen U+00AD), bidi controls
    (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F) and every other format (Cf) character, plus a few invisible
    fillers. Readers do not see them, so a text means the same without them, but inside a word they split it
    into pieces the model has never seen ("bit\\u200bcoin"). Decision: all are dropped except a ZWJ that joins
    emoji (a family emoji stays one emoji) and ZWJ/ZWNJ between two non-Latin letters (real spelling).
    Emoji tag sequences (subdivision flags) lose their tags and show as a plain flag.
    """
    text = b.text
    if text.isascii():
        return
    invisible = {ch for ch in set(text) if ch >= "\x80" and _is_invisible(ch)}
    edits: list[tuple[int, int, str]] = []
    if invisible:
        pattern = re.compile("[" + "".join(re.escape(ch) for ch in sorted(invisible)) + "]")
        for m in pattern.finditer(text):
            i = m.start()
            if text[i] in (_ZWJ, _ZWNJ) and _keeps_joiner(text, i):
                continue
            edits.append((i, i + 1, ""))
    if any("\ufe00" <= ch <= "\ufe0f" or "\U000e0100" <= ch <= "\U000e01ef" for ch in set(text)):
        edits += [(m.start(), m.end(), "") for m in _VARIATION_SELECTORS.finditer(text)]
        edits.sort()
    b.edit(edits)


# --------------------------------------------------------------------------------------------------------
# 2. NFKC
# --------------------------------------------------------------------------------------------------------

_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


@lru_cache(maxsize=8192)
def _starts_cluster(ch: str) -> bool:
    return unicodedata.combining(ch) == 0 and not unicodedata.category(ch).startswith("M")


@lru_cache(maxsize=8192)
def _nfkc_char(ch: str) -> str:
    return unicodedata.normalize("NFKC", ch)


def _nfkc(b: _Builder) -> None:
    """Unicode NFKC: fullwidth "Ｂｉｔｃｏｉｎ", mathematical "𝐁𝐢𝐭𝐜𝐨𝐢𝐧", ligatures "ﬁ", compatibility spaces and
    decomposed accents become the ordinary characters a tokenizer knows. Applied per cluster (a character and
    the combining marks after it) so that every output character maps to the cluster it came from. Note that
    NFKC writes the Dutch ligature "ĳ" as "ij", which is how nearly everyone types it (the tokenizer's own
    normaliser does the same).
    """
    text = b.text
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        return
    unique = {ch for ch in set(text) if ch >= "\x80"}
    if all(_starts_cluster(ch) for ch in unique):
        # No combining marks: character by character. One-to-one changes keep the map; the others are edits.
        changed = {ch: out for ch in unique if (out := _nfkc_char(ch)) != ch}
        multi = [ch for ch, out in changed.items() if len(out) != 1]
        if multi:
            pattern = re.compile("[" + "".join(re.escape(ch) for ch in multi) + "]")
            b.edit((m.start(), m.end(), changed[m.group()]) for m in pattern.finditer(text))
        b.substitute(b.text.translate({ord(ch): out for ch, out in changed.items() if len(out) == 1}))
        return
    edits: list[tuple[int, int, str]] = []
    for m in _NON_ASCII_RUN.finditer(text):
        # One character before the run may be the base of a combining mark in it ("e" + U+0301).
        start = m.start() - 1 if m.start() > 0 else 0
        if unicodedata.is_normalized("NFKC", text[start : m.end()]):
            continue
        cluster_start = start
        for i in range(start + 1, m.end() + 1):
            if i == m.end() or _starts_cluster(text[i]):
                cluster = text[cluster_start:i]
                normalized = unicodedata.normalize("NFKC", cluster)
                if normalized != cluster:
                    edits.append((cluster_start, i, normalized))
                cluster_start = i
    # Runs are maximal, so the ASCII character borrowed before a run is never part of the run before it.
    b.edit(edits)


# --------------------------------------------------------------------------------------------------------
# 3. Confusable look-alike letters
# --------------------------------------------------------------------------------------------------------

# How far around a word of only look-alike letters to look for the script of its surroundings (at least this
# far, in blocks of this size).
_CONTEXT_CHARS = 100


@dataclass(frozen=True)
class _Confusables:
    table: dict[str, str]  # non-Latin letter -> the Latin letter it looks like
    translation: dict[int, str]  # the same for str.translate
    latin: re.Pattern[str]  # one Latin letter
    foldable: re.Pattern[str]  # one letter in `table`


@cache
def _confusables() -> _Confusables:
    """Unicode's confusables table as shipped by confusable-homoglyphs, narrowed to letters of other scripts
    that look like one ASCII letter. Built on first use (the package reads ~1 MB of JSON)."""
    from confusable_homoglyphs import categories, confusables

    script_data = categories.categories_data
    scripts = script_data["iso_15924_aliases"]
    kinds = script_data["categories"]
    latin_ranges = [
        (lo, hi) for lo, hi, script, kind in script_data["code_points_ranges"]
        if scripts[script] == "LATIN" and kinds[kind].startswith("L")
    ]
    table: dict[str, str] = {}
    for ch, glyphs in confusables.confusables_data.items():
        if len(ch) != 1 or not unicodedata.category(ch).startswith("L"):
            continue
        if categories.alias(ch) in ("LATIN", "COMMON", "INHERITED"):
            continue
        letters = [g["c"] for g in glyphs if len(g["c"]) == 1 and g["c"].isascii() and g["c"].isalpha()]
        if not letters:
            continue
        same_case = [c for c in letters if c.isupper() == ch.isupper()]
        target = (same_case or letters)[0]
        if ch.isupper() and target == "l":
            target = "I"  # Unicode's prototype for I-shaped letters is "l"; a capital iota reads as "I"
        table[ch] = target
    latin_class = "".join(f"{_class_char(lo)}-{_class_char(hi)}" for lo, hi in latin_ranges)
    fold_class = "".join(re.escape(ch) for ch in sorted(table))
    return _Confusables(
        table=table,
        translation={ord(ch): latin for ch, latin in table.items()},
        latin=re.compile(f"[{latin_class}]"),
        foldable=re.compile(f"[{fold_class}]"),
    )


def _class_char(code_point: int) -> str:
    return re.escape(chr(code_point))


@lru_cache(maxsize=8192)
def _is_latin(ch: str) -> bool:
    return ch.isascii() or _confusables().latin.fullmatch(ch) is not None


_LETTER = re.compile(r"[^\W\d_]")
_WORD = re.compile(r"[^\W\d_]+")


def _fold_confusables(b: _Builder) -> None:
    """Fold letters of other scripts (Cyrillic, Greek, Armenian, Cherokee, Lisu, ...) that look like a Latin
    letter to that letter, using Unicode's confusables table from the confusable-homoglyphs package (a
    maintained table, not a hand list): "rеkеning" with Cyrillic "е" reads, and now tokenises, as "rekening".

    Only where the word is Latin: a word is folded when at least half its letters are Latin, or when all its
    letters are Latin or look-alikes and the text within about 100 characters around it is mostly Latin (an
    all look-alike "рау" in an English sentence). Genuine Russian or Greek text has plenty of letters with no Latin
    look-alike, so its words stay as they are; Latin letters, accented or not (é, ë, ü), are never changed.
    """
    text = b.text
    if text.isascii():
        return
    data = _confusables()
    if not data.foldable.search(text):
        return
    # Whether all-look-alike words sit among Latin letters: decided once for the text when it has letters of
    # only one kind besides the look-alikes, else per word from the blocks of text around it.
    latin, other = _script_counts(text, data)
    if other == 0 and latin > 0:
        # The usual attack: Latin text with look-alikes mixed in, and no other script. Every word qualifies.
        b.substitute(text.translate(data.translation))
        return

    @cache
    def block(i: int) -> tuple[int, int]:
        return _script_counts(text[i * _CONTEXT_CHARS : (i + 1) * _CONTEXT_CHARS], data)

    def latin_surroundings(start: int, end: int) -> bool:
        """More Latin letters than letters of other scripts (look-alikes not counted) around text[start:end]."""
        counts = [block(i) for i in range(max(0, start - _CONTEXT_CHARS) // _CONTEXT_CHARS,
                                           (end + _CONTEXT_CHARS) // _CONTEXT_CHARS + 1)]
        return sum(c[0] for c in counts) > sum(c[1] for c in counts)

    chars = list(text)
    changed = False
    for m in _WORD.finditer(text):
        word = m.group()
        if not data.foldable.search(word):
            continue
        word_latin, word_other = _script_counts(word, data)
        if 2 * word_latin < len(word) and (word_other or latin == 0 or not latin_surroundings(m.start(), m.end())):
            continue
        for f in data.foldable.finditer(word):
            chars[m.start() + f.start()] = data.table[f.group()]
            changed = True
    if changed:
        b.substitute("".join(chars))


def _script_counts(text: str, data: _Confusables) -> tuple[int, int]:
    """(Latin letters, letters of other scripts that are not look-alikes) in `text`, counted in C."""
    letters = _LETTER.subn("", text)[1]
    latin = data.latin.subn("", text)[1]
    return latin, letters - latin - data.foldable.subn("", text)[1]


# --------------------------------------------------------------------------------------------------------
# 4. Letter spacing
# --------------------------------------------------------------------------------------------------------

# A single letter, then the same separator and a single letter or digit, at least twice; no letter or digit
# directly before or after. Bounded to 200 items so an attempt never reads far.
_SPACED = re.compile(r"(?<![^\W_])[^\W\d_](?P<sep>[ ._-])[^\W_](?:(?P=sep)[^\W_]){1,200}(?![^\W_])")


# One punctuation mark spaced out like the letters before it: " ." before a space or the end of the text.
_SPACED_PUNCTUATION = re.compile(r" [.,!?:;](?!\S)")


def _join_letter_spacing(b: _Builder) -> None:
    """Join letter-spaced words: "G e g a r a n d e e r d", "b.i.t.c.o.i.n", "c-r-y-p-t-o" and "p_i_n" become
    one word, because a tokenizer reads them as separate letters with no meaning. A run needs at least three
    single letters separated by one and the same separator, starting and ending with a letter (single digits
    may sit inside: "b 1 t c 0 1 n"). So "ik ga", "a b", phone numbers ("06 12 34 56 78") and IBANs are left
    as they are; dotted abbreviations such as "d.w.z." and "a.u.b." become "dwz" and "aub", forms people write
    anyway. Words spaced with one space, the same as between their letters, lose their boundaries when joined;
    `segment.split_words` puts them back where word frequencies are confident ("g e l d n u" -> "geld nu",
    "V e r d i e n 5 0 0 e u r o" -> "Verdien 500 euro"), by keeping those spaces. A run that has no confident
    split, or was spaced with dots, hyphens or underscores, is joined whole. A punctuation mark spaced out after
    a space-spaced run goes back onto its word ("g e l d ." -> "geld."): a model reads " ." as something else.
    """
    text = b.text
    edits: list[tuple[int, int, str]] = []
    budget = Budget()
    for m in _SPACED.finditer(text):
        start, end = m.start(), m.end()
        while not text[end - 1].isalpha():  # end on a letter: "a b c 1" joins "a b c" only
            end -= 2
        letters = sum(1 for ch in text[start:end:2] if ch.isalpha())
        if letters < 3 or 2 * letters <= (end - start + 1) // 2:  # at least three letters, more letters than digits
            continue
        if m.group("sep") != " ":
            edits += [(i, i + 1, "") for i in range(start + 1, end, 2)]
            continue
        keep = {start + 2 * i - 1 for i in split_words(text[start:end:2], budget) or ()}  # spaces between words
        edits += [(i, i + 1, "") for i in range(start + 1, end, 2) if i not in keep]
        if _SPACED_PUNCTUATION.match(text, end):
            edits.append((end, end + 1, ""))  # "r e k e n i n g ." -> "rekening."
    b.edit(edits)


# --------------------------------------------------------------------------------------------------------
# 5. Shouting
# --------------------------------------------------------------------------------------------------------

# A word of letters only and no ASCII lower-case letter; str.isupper then checks the other letters.
_CAPITAL_WORD = re.compile(r"(?<!\w)[^\W\d_a-z]+(?!\w)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
_MIN_SHOUTED_RUN = 4  # consecutive UPPERCASE words that are shouting, not an acronym or a name
_MIN_SHOUTED_WORD_LETTERS = 7  # an UPPERCASE word this long is shouting on its own ("GEGARANDEERD", not "UNESCO")
_MIN_SHOUTED_TEXT_WORDS = 3  # a whole text in capitals needs at least this many words ("ING" alone is a name)
_SHOUTED_TEXT_SHARE = 0.75  # share of a text's letters in all-capital words that makes the whole text shouting
_SENTENCE_END = ".!?\n\r\u2026"
_BEFORE_SENTENCE = " \t\"'()[]*-\u2022\u201c\u201d\u2018\u2019\u201e\u00ab\u00bb"


def _unshout(b: _Builder) -> None:
    """Lower-case SHOUTED text and capitalise sentence starts, so that "UW REKENING IS GEBLOKKEERD" tokenises
    like "Uw rekening is geblokkeerd": a cased subword model splits capitals into rare pieces and misses the
    scam. A text counts as shouted when at least 75% of its letters are in all-capital words (and it has at
    least three such words); otherwise runs of at least four consecutive all-capital words are, and single
    all-capital words of seven or more letters (acronyms are shorter). Words
    with digits ("NL91", "ABNANL2A") and the letters of an IBAN are never changed and do not break a run; a
    word with a lower-case letter does. So acronyms and names in normal text ("ING", "DigiD", "ABN AMRO")
    stay, and "I" stays "I".
    """
    text = b.text
    capitals = [m for m in _CAPITAL_WORD.finditer(text) if m.group().isupper()]
    if not capitals:
        return
    if ibans := [m.span() for m in _IBAN.finditer(text)]:  # "NL91 ABNA 0417 1643 00": the bank code stays
        capitals = [m for m in capitals if not any(s <= m.start() < e for s, e in ibans)]
        if not capitals:
            return
    shouted: list[tuple[int, int]] = []
    if len(capitals) >= _MIN_SHOUTED_TEXT_WORDS:
        upper_letters = sum(m.end() - m.start() for m in capitals)
        if upper_letters >= _SHOUTED_TEXT_SHARE * _LETTER.subn("", text)[1]:
            shouted = [m.span() for m in capitals]
    if not shouted:
        # Long all-capital words are shouting even alone ("GEGARANDEERD"); acronyms are short.
        shouted = [m.span() for m in capitals if m.end() - m.start() >= _MIN_SHOUTED_WORD_LETTERS]
        run = [capitals[0].span()]
        for m in [*capitals[1:], None]:
            # A run goes on while no lower-case letter stands between two capital words.
            if m is not None and not _has_lower(text[run[-1][1] : m.start()]):
                run.append(m.span())
                continue
            if len(run) >= _MIN_SHOUTED_RUN:
                shouted += run
            if m is not None:
                run = [m.span()]
        shouted = sorted(set(shouted))
    if not shouted:
        return
    chars = list(text)
    for s, e in shouted:
        word = text[s:e]
        if word == "I":
            continue
        lowered = word.lower()
        if len(lowered) != len(word):  # "İ" lower-cases to two characters; keep such letters as they are
            lowered = "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in word)
        if _starts_sentence(text, s) and len(lowered[0].upper()) == 1:
            lowered = lowered[0].upper() + lowered[1:]
        chars[s:e] = lowered
    b.substitute("".join(chars))


def _has_lower(text: str) -> bool:
    return text != text.upper()


def _starts_sentence(text: str, start: int) -> bool:
    before = text[max(0, start - 16) : start].rstrip(_BEFORE_SENTENCE)
    if before:
        return before[-1] in _SENTENCE_END
    return start <= 16  # only spaces, quotes or bullets since the start of the text


# --------------------------------------------------------------------------------------------------------
# 6. Whitespace
# --------------------------------------------------------------------------------------------------------

_SPACE_RUN = re.compile(r"[^\S ]\s*| \s+")  # every run of whitespace but a single space


def _collapse_whitespace(b: _Builder) -> None:
    """Every run of whitespace (spaces, tabs, line breaks; NFKC already made exotic spaces plain) becomes one
    space and the ends are stripped: the tokenizer splits on whitespace anyway, and the earlier steps leave gaps
    where they removed characters."""
    text = b.text
    n = len(text)
    edits: list[tuple[int, int, str]] = []
    for m in _SPACE_RUN.finditer(text):
        start, end = m.start(), m.end()
        edits.append((start, end, "" if start == 0 or end == n else " "))
    if n and text[0] == " " and not (edits and edits[0][0] == 0):
        edits.insert(0, (0, 1, ""))
    if n > 1 and text[-1] == " " and not (edits and edits[-1][1] == n):
        edits.append((n - 1, n, ""))
    b.edit(edits)


# --------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------

STEPS: tuple[Callable[[_Builder], None], ...] = (
    _drop_invisible,
    _nfkc,
    _fold_confusables,
    _join_letter_spacing,
    _unshout,
    _collapse_whitespace,
)


def warm_up() -> None:
    """Load the confusables table and the word frequencies now (about 0.5 s) rather than on the first text that
    needs them."""
    _confusables()
    _load_word_frequencies()


def normalize(text: str) -> NormalizedText:
    """Normalise `text` for the model and the cue patterns; see the module docstring for the steps.

    `result.text` is the normalised text; `result.to_original(start, end)` maps a span of it back to the span
    of `text` it came from, so `text[slice(*result.to_original(s, e))]` is what `result.text[s:e]` was made of.
    """
    if not isinstance(text, str):
        raise TypeError(f"normalize expects str, got {type(text).__name__}")
    b = _Builder(text)
    for step in STEPS:
        step(b)
    return b.result()
