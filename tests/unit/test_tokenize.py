from pathlib import Path

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
