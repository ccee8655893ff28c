"""Text normalisation (service/text/normalize.py): each obfuscation trick on Dutch and English scams and on
legit texts, the offset map back to the original, and what must never change."""

from __future__ import annotations

import difflib
import random
import time
import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.text.normalize import NormalizedText, normalize
from service.text.segment import Budget, split_words

NL_SCAM = ("Uw rekening wordt vandaag geblokkeerd. Maak uw spaargeld direct over naar een veilige rekening en "
           "geef ons de code uit de sms.")
EN_SCAM = ("Your account is blocked. Transfer your savings to a safe account today and read us the code from "
           "the text message.")
NL_LEGIT = "Hoi, zullen we vanavond om zes uur samen eten? Ik neem brood mee van de bakker."
EN_LEGIT = "Thanks for dinner. The meeting is moved to next week, see you there."
TEXTS = {"nl_scam": NL_SCAM, "en_scam": EN_SCAM, "nl_legit": NL_LEGIT, "en_legit": EN_LEGIT}

# Test data only (the code under test folds with Unicode's confusables table, not with this list).
CYRILLIC = str.maketrans({"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "i": "і",
                          "A": "А", "E": "Е", "O": "О", "P": "Р", "C": "С", "T": "Т", "H": "Н", "M": "М",
                          "K": "К", "B": "В"})
LATIN_OF = {ord(cyr): chr(lat) for lat, cyr in CYRILLIC.items()}  # the inverse, for the offset checks


def zero_width(text: str) -> str:
    """A zero-width space, joiner, non-joiner, word joiner or BOM between the letters of every word."""
    marks = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
    return " ".join(
        "".join(ch + (marks[i % len(marks)] if i < len(word) - 1 else "") for i, ch in enumerate(word))
        for word in text.split(" ")
    )


def bidi(text: str) -> str:
    """Bidi embeddings, overrides, isolates and marks around and inside words."""
    words = text.split(" ")
    out = []
    for i, word in enumerate(words):
        middle = len(word) // 2
        control = "\u202a\u202b\u202d\u202e\u2066\u2067\u2068"[i % 7]
        closing = "\u2069" if control >= "\u2066" else "\u202c"
        out.append(control + word[:middle] + "\u200e" + word[middle:] + "\u200f" + closing)
    return " ".join(out)


def letter_spaced(text: str) -> str:
    """Every word of four or more letters spelled out with spaces, two spaces around it; trailing punctuation
    stays attached. (With one space between, neighbouring spaced words or a one-letter word run together.)"""
    out = []
    for word in text.split(" "):
        core = word.rstrip(".,?!")
        if len(core) >= 4 and core.isalpha():
            word = " " + " ".join(core) + word[len(core):] + " "
        out.append(word)
    return " ".join(out)


def cyrillic(text: str) -> str:
    return text.translate(CYRILLIC)


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in text)


def mathematical(text: str) -> str:
    """Mathematical bold letters (U+1D400...)."""
    def bold(c: str) -> str:
        if "A" <= c <= "Z":
            return chr(0x1D400 + ord(c) - ord("A"))
        if "a" <= c <= "z":
            return chr(0x1D41A + ord(c) - ord("a"))
        return c
    return "".join(bold(c) for c in text)


def upper(text: str) -> str:
    return text.upper()


def mixed(text: str) -> str:
    """A different trick on each word, extra whitespace between them, all of it SHOUTED."""
    tricks: list[Callable[[str], str]] = [zero_width, cyrillic, fullwidth, bidi, mathematical]
    return " \t ".join(tricks[i % len(tricks)](word.upper()) for i, word in enumerate(text.split(" ")))


TRICKS: dict[str, Callable[[str], str]] = {
    "zero_width": zero_width, "bidi": bidi, "letter_spaced": letter_spaced, "cyrillic": cyrillic,
    "fullwidth": fullwidth, "mathematical": mathematical, "uppercase": upper, "mixed": mixed,
}


def skeleton(text: str) -> str:
    """Letters and digits only, NFKC, look-alikes of the test's Cyrillic list undone, case folded."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text.translate(LATIN_OF)).casefold() if ch.isalnum())


def assert_map_is_exact(original: str, result: NormalizedText, *, samples: int = 300, seed: int = 0) -> None:
    """Random spans of the normalised text map back to spans of the original with the same letters, and the
    per-character map is monotone and within bounds."""
    text = result.text
    assert result.original == original
    previous = (0, 0)
    for i in range(len(text)):
        start, end = result.to_original(i, i + 1)
        assert 0 <= start < end <= len(original)
        assert start >= previous[0] and end >= previous[1]
        previous = (start, end)
    rng = random.Random(seed)
    for _ in range(samples):
        s = rng.randrange(len(text) + 1)
        e = rng.randrange(s, len(text) + 1)
        a, b = result.to_original(s, e)
        assert 0 <= a <= b <= len(original)
        assert skeleton(original[a:b]) == skeleton(text[s:e]), (text[s:e], original[a:b])


# ---- each trick on scam and legit texts, Dutch and English ---------------------------------------------------


@pytest.mark.parametrize("name", TEXTS)
def test_plain_texts_are_left_as_they_are(name: str) -> None:
    result = normalize(TEXTS[name])
    assert result.text == TEXTS[name] and not result.changed
    assert result.to_original(3, 9) == (3, 9)


@pytest.mark.parametrize("trick", TRICKS)
@pytest.mark.parametrize("name", TEXTS)
def test_each_trick_is_undone(name: str, trick: str) -> None:
    original = TRICKS[trick](TEXTS[name])
    assert original != TEXTS[name]
    result = normalize(original)
    assert result.text == TEXTS[name], trick
    assert_map_is_exact(original, result)


def test_letter_spacing_of_every_word_joins_the_long_words() -> None:
    # Two-letter words ("Uw", "ik") stay apart: "a b" is too short to tell from ordinary text.
    original = "  ".join(" ".join(word) for word in ["Uw", "rekening", "wordt", "geblokkeerd"])
    assert normalize(original).text == "U w rekening wordt geblokkeerd"


def flat_letter_spaced(text: str) -> str:
    """Every character of every word spaced out, and only one space between words too: the word breaks are gone."""
    return " ".join(" ".join(word) for word in text.split())


@pytest.mark.parametrize("name", TEXTS)
def test_text_spaced_letter_by_letter_gets_its_word_breaks_back(name: str) -> None:
    original = flat_letter_spaced(TEXTS[name])
    result = normalize(original)
    # The words and their punctuation come back, all but the truly ambiguous: "veilige rekening en geef" comes
    # back as "veilige rekeningen geef".
    expected = TEXTS[name].split()
    matcher = difflib.SequenceMatcher(a=expected, b=result.text.split(), autojunk=False)
    recovered = sum(block.size for block in matcher.get_matching_blocks())
    assert recovered >= 0.9 * len(expected), result.text
    assert_map_is_exact(original, result)


def test_word_breaks_come_back_around_numbers() -> None:
    original = flat_letter_spaced("Verdien 500euro per dag met deze bitcoin robot")
    assert normalize(original).text == "Verdien 500 euro per dag met deze bitcoin robot"
    assert normalize("g e l d n u").text == "geld nu"
    assert normalize("H a l l o , h o e g a a t h e t ?").text == "Hallo, hoe gaat het?"
    assert normalize("Hallo , hoe gaat het ?").text == "Hallo , hoe gaat het ?"  # only after spaced letters


def test_runs_without_a_confident_split_stay_joined() -> None:
    # Leetspeak and single spelled-out words are one word, as before; dots and hyphens never become spaces.
    for original, expected in [
        ("b 1 t c 0 1 n", "b1tc01n"),
        ("G e g a r a n d e e r d", "Gegarandeerd"),
        ("x q z v t k", "xqzvtk"),
        ("g.e.l.d.n.u", "geldnu"),
    ]:
        assert normalize(original).text == expected, original


def test_segmenting_is_bounded_per_text() -> None:
    # Past the letter budget, runs are joined whole rather than segmented: adversarial input stays cheap.
    sentence = flat_letter_spaced("wij bellen u morgen over uw rekening")
    original = "  ".join([sentence] * 40)
    result = normalize(original)
    assert result.text.startswith("wij bellen u morgen over uw rekening wij bellen")
    assert result.text.endswith(" wijbellenumorgenoveruwrekening")
    assert_map_is_exact(original, result, samples=50)


def test_split_words_gives_word_starts() -> None:
    assert split_words("geldnu", Budget()) == [4]
    assert split_words("abc", Budget()) is None  # too short to tell
    assert split_words("geldnu", Budget(letters=3)) is None  # budget spent


def test_words_spelled_with_dots_hyphens_and_underscores_are_joined() -> None:
    for original, expected in [
        ("Koop b.i.t.c.o.i.n vandaag", "Koop bitcoin vandaag"),
        ("Buy c-r-y-p-t-o now", "Buy crypto now"),
        ("Geef uw p_i_n", "Geef uw pin"),
        ("G E G A R A N D E E R D  R E N D E M E N T", "Gegarandeerd rendement"),
        ("b 1 t c 0 1 n", "b1tc01n"),
    ]:
        result = normalize(original)
        assert result.text == expected, original
        assert_map_is_exact(original, result, samples=50)


def test_spaced_word_maps_back_to_the_whole_spaced_span() -> None:
    original = "Nu: G e g a r a n d e e r d rendement"
    result = normalize(original)
    assert result.text == "Nu: Gegarandeerd rendement"
    start, end = result.to_original(4, 16)
    assert original[start:end] == "G e g a r a n d e e r d"


def test_zero_width_word_maps_back_over_the_invisible_characters() -> None:
    original = "Koop bit\u200bco\u200din nu"
    result = normalize(original)
    assert result.text == "Koop bitcoin nu"
    assert result.to_original(5, 12) == (5, 14)


def test_cyrillic_look_alikes_in_a_dutch_helpdesk_script() -> None:
    original = "U spreekt met de fraudeafdeling van uw bank. Maak uw geld over naar een vеіlіgе rеkеnіng."
    result = normalize(original)
    assert result.text == original.translate(LATIN_OF)
    assert "veilige rekening" in result.text
    # One character for one character: spans are unchanged.
    assert result.to_original(61, 77) == (61, 77)


def test_words_of_only_look_alikes_fold_in_latin_surroundings() -> None:
    assert normalize("Please рау now and send the соdе").text == "Please pay now and send the code"


def test_greek_and_other_script_look_alikes_fold_too() -> None:
    # Greek omicron, alpha and capital iota, Armenian oh: all in Unicode's confusables table.
    assert normalize("Βitcοin gαrantie, Ιnvest, bօnus").text == "Bitcoin garantie, Invest, bonus"


def test_nfkc_ligatures_and_decomposed_accents() -> None:
    original = "\ufb01nanci\u00eble vrijheid, e\u0301e\u0301n keer, \u2460 2\u00b3"
    result = normalize(original)
    assert result.text == "financiële vrijheid, één keer, 1 23"
    # The "fi" of the ligature maps back to the one ligature character.
    assert result.to_original(0, 2) == (0, 1) and result.to_original(1, 2) == (0, 1)
    # A composed "é" maps back to the letter and its combining accent.
    start = result.text.index("één")
    assert original[slice(*result.to_original(start, start + 3))] == "e\u0301e\u0301n"


# ---- what must never change -----------------------------------------------------------------------------------


def test_dutch_and_other_accented_latin_words_are_untouched() -> None:
    text = ("Café René: één geïnvesteerde euro, ruïne, coördinatie, Curaçao, überhaupt, naïef, "
            "Tiësto, Zoë, reünie, façade, Ærø, Søren, Łódź, İstanbul")
    assert normalize(text).text == text


def test_the_dutch_ij_ligature_becomes_ij_as_nfkc_says() -> None:
    assert normalize("\u0133s en \u0132sland").text == "ijs en IJsland"


@pytest.mark.parametrize("text", [
    "Москва — столица России. Он сказал: а я? Сор и рой.",
    "Ο Κώστας αγαπά τη Μαρία. Και η Ελένη ήρθε στο σπίτι.",
    "Привет! Как дела? Всё хорошо, спасибо.",
    "Բարի լույս, ինչպե՞ս ես։",
    "Hij zei 'спасибо' en ging naar huis.",
    "Het Griekse woord 'φιλοσοφία' betekent liefde voor wijsheid.",
])
def test_genuine_cyrillic_greek_and_armenian_text_is_untouched(text: str) -> None:
    assert normalize(text).text == text


def test_phone_numbers_and_ibans_keep_their_digits() -> None:
    text = "Bel 06 12 34 56 78 of +31 6 1234 5678. IBAN: NL91 ABNA 0417 1643 00, BIC ABNANL2A. Code 1 2 3 4."
    assert normalize(text).text == text


def test_shouted_text_keeps_the_iban_and_its_digits() -> None:
    result = normalize("BEL 06 12 34 56 78 EN MAAK HET BEDRAG OVER NAAR NL91 ABNA 0417 1643 00 VANDAAG")
    assert result.text == "Bel 06 12 34 56 78 en maak het bedrag over naar NL91 ABNA 0417 1643 00 vandaag"


def test_emoji_stay() -> None:
    text = "Top deal 🚀🚀💰 ❤️ 👍🏽 👨\u200d👩\u200d👧 👩🏾\u200d💻 🇳🇱 1️⃣"
    assert normalize(text).text == text


def test_zero_width_joiners_stay_inside_non_latin_words() -> None:
    persian = "می\u200cخواهم"
    assert normalize(persian).text == persian
    assert normalize("bit\u200ccoin").text == "bitcoin"


def test_acronyms_and_names_in_normal_text_stay() -> None:
    for text in [
        "Bel de ING of ABN AMRO, of log in met DigiD.",
        "Uw ING rekening en uw SNS pas zijn veilig.",
        "I think so, and the NHS and the BBC agree.",
        "Plan A of B? Ik ga naar de UWV en de DUO.",
    ]:
        assert normalize(text).text == text


def test_a_shouted_run_inside_normal_text_is_lowered() -> None:
    text = "Beste klant, UW REKENING WORDT VANDAAG GEBLOKKEERD tenzij u belt."
    assert normalize(text).text == "Beste klant, uw rekening wordt vandaag geblokkeerd tenzij u belt."


def test_shouting_capitalises_sentence_starts_and_the_english_i() -> None:
    text = "LET OP! I AM FROM YOUR BANK. \"MAAK HET GELD OVER.\"\nNU DIRECT"
    assert normalize(text).text == "Let op! I am from your bank. \"Maak het geld over.\" Nu direct"


def test_ordinary_short_words_are_not_joined() -> None:
    for text in ["ik ga", "a b", "Ik zag u a", "e.g. this", "o.a. bij de bank", "A, B en C", "vitamine A en B"]:
        assert normalize(text).text == text


def test_whitespace_is_collapsed_and_mapped() -> None:
    original = "  hallo \n\n  wereld\t!\u00a0\u2003ok  "
    result = normalize(original)
    assert result.text == "hallo wereld ! ok"
    start, end = result.to_original(6, 12)
    assert original[start:end] == "wereld"
    assert result.to_original(5, 6) == (7, 12)  # the one space stands for the whole gap


# ---- the map ----------------------------------------------------------------------------------------------------


def test_empty_spans_and_out_of_range_spans() -> None:
    result = normalize("  a\u200bb  ")
    assert result.text == "ab"
    assert result.to_original(0, 0) == (2, 2)
    assert result.to_original(2, 2) == (5, 5)
    with pytest.raises(ValueError):
        result.to_original(1, 3)
    with pytest.raises(ValueError):
        result.to_original(2, 1)
    assert normalize("").text == "" and normalize("").to_original(0, 0) == (0, 0)
    assert normalize(" \u200b\n").text == "" and normalize(" \u200b\n").to_original(0, 0) == (0, 0)


def test_non_string_is_rejected() -> None:
    with pytest.raises(TypeError):
        normalize(None)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_any_text_gives_a_monotone_map_within_bounds(text: str) -> None:
    result = normalize(text)
    previous = (0, 0)
    for i in range(len(result.text)):
        start, end = result.to_original(i, i + 1)
        assert 0 <= start < end <= len(text)
        assert start >= previous[0] and end >= previous[1]
        previous = (start, end)
    assert "  " not in result.text and result.text == result.text.strip()
    assert not any(unicodedata.category(ch) == "Cf" for ch in result.text if ch not in "\u200c\u200d")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from("ab AB.-_1\u200b\u0435\u0430\n"), max_size=120))
def test_tricky_alphabet_maps_letters_exactly(text: str) -> None:
    assert_map_is_exact(text, normalize(text), samples=30)


# ---- speed ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("trick", ["plain", *TRICKS])
def test_fifty_thousand_characters_are_fast(trick: str) -> None:
    base = " ".join(TEXTS.values())
    text = base if trick == "plain" else TRICKS[trick](base)
    text = ((text + " ") * (50_000 // len(text) + 1))[:50_000]
    normalize(text)  # the confusables table is built on first use
    best = min(_timed(normalize, text) for _ in range(3))
    # Typically 5-40 ms; the bound leaves room for a loaded CI machine.
    assert best < 0.25, f"{best * 1000:.0f} ms"


def _timed(fn: Callable[[str], object], text: str) -> float:
    start = time.perf_counter()
    fn(text)
    return time.perf_counter() - start
