from pathlib import Path

import pytest

from service.text.tokenize import TextEncoder
from tests.modelkit import build_tokenizer


def encoder(tmp_path: Path, max_length: int = 8, stride: int = 2) -> TextEncoder:
    path = tmp_path / "tokenizer.json"
    build_tokenizer().save(str(path))
    return TextEncoder(path, max_length=max_length, stride=stride)


def test_long_text_is_windowed_with_overlap_not_cut(tmp_path: Path) -> None:
    enc = encoder(tmp_path)
    words = [f"w{i}" for i in range(30)] + ["bitcoin"]
    text = " ".join(words)
    windows = enc.windows(text)
    assert len(windows) > 3
    assert all(w.input_ids.size <= 8 for w in windows)
    assert windows[0].char_start == 0 and windows[-1].char_end == len(text)
    assert text[windows[-1].char_start : windows[-1].char_end].endswith("bitcoin")
    assert all(b.char_start < a.char_end for a, b in zip(windows, windows[1:], strict=False))  # overlap


def test_short_text_is_one_window_with_special_tokens(tmp_path: Path) -> None:
    enc = encoder(tmp_path, max_length=16, stride=2)
    (window,) = enc.windows("Guaranteed returns")
    assert window.input_ids.tolist()[0] == 2 and window.input_ids.tolist()[-1] == 3  # [CLS] ... [SEP]
    assert (window.char_start, window.char_end) == (0, 18)


def test_collate_pads_and_masks(tmp_path: Path) -> None:
    enc = encoder(tmp_path)
    a, b = enc.windows("hello")[0].input_ids, enc.windows("hello dinner tonight")[0].input_ids
    batch = enc.collate([a, b])
    assert batch["input_ids"].shape == (2, b.size) and batch["input_ids"].dtype.name == "int64"
    assert batch["attention_mask"].sum(axis=1).tolist() == [a.size, b.size]
    assert batch["input_ids"][0, a.size :].tolist() == [0] * (b.size - a.size)


# ---- normalisation before the tokenizer -------------------------------------------------------------------------


def test_obfuscated_text_gives_the_plain_texts_tokens(tmp_path: Path) -> None:
    enc = encoder(tmp_path, max_length=16, stride=2)
    plain = enc.windows("Guaranteed bitcoin returns")[0].input_ids.tolist()
    assert 1 not in plain  # no [UNK]: every word is in the tiny vocabulary
    for obfuscated in [
        "Guaran\u200bteed bit\u200dcoin re\u2060turns",  # zero-width characters
        "G u a r a n t e e d  b.i.t.c.o.i.n  r-e-t-u-r-n-s",  # letter spacing
        "Guаrаntееd bіtсоіn rеturns",  # Cyrillic look-alikes
        "Ｇｕａｒａｎｔｅｅｄ　ｂｉｔｃｏｉｎ　ｒｅｔｕｒｎｓ",  # fullwidth
        "\u202eGuaranteed\u202c \u2066bitcoin\u2069 returns\u200f",  # bidi controls
    ]:
        (window,) = enc.windows(obfuscated)
        assert window.input_ids.tolist() == plain, obfuscated
        letters = [i for i, ch in enumerate(obfuscated) if ch.isalpha()]
        assert (window.char_start, window.char_end) == (letters[0], letters[-1] + 1), obfuscated


def test_window_spans_point_into_the_original_text(tmp_path: Path) -> None:
    enc = encoder(tmp_path)
    words = [f"w{i}" for i in range(30)]
    text = "  " + "\u200b ".join(words) + "   g u a r a n t e e d  b\u0456t\u0441o\u0456n  "
    windows = enc.windows(text)
    assert len(windows) > 3
    assert windows[0].char_start == 2  # the leading spaces are not part of any token
    last = windows[-1]
    assert text[last.char_start : last.char_end].endswith("g u a r a n t e e d  b\u0456t\u0441o\u0456n")
    for window in windows:
        assert 0 <= window.char_start < window.char_end <= len(text)
        assert text[window.char_start] not in " \u200b"  # each span starts on a token's first character
    assert all(b.char_start < a.char_end for a, b in zip(windows, windows[1:], strict=False))  # overlap


def test_a_given_normalisation_must_be_of_the_same_text(tmp_path: Path) -> None:
    from service.text.normalize import normalize

    enc = encoder(tmp_path, max_length=16)
    text = "HELLO DINNER TONIGHT WITH THE WEATHER"
    given = enc.windows(text, normalized=normalize(text))
    assert given[0].input_ids.tolist() == enc.windows(text)[0].input_ids.tolist()
    with pytest.raises(ValueError):
        enc.windows(text, normalized=normalize("something else"))
