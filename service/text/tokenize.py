"""Text to model inputs with the `tokenizers` library and the tokenizer saved beside the model.

Every text is normalised first (`service.text.normalize`: invisible characters, NFKC, look-alike letters,
letter spacing, shouting, whitespace), here and therefore in training, which cuts its texts with this class
too. Window spans are reported in the ORIGINAL text's character offsets.

Long texts are split into overlapping token windows (`max_length` tokens, `stride` tokens of overlap) instead
of being cut, so a scam sentence at the end of a long ad is still read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from service.errors import ModelError
from service.text.normalize import NormalizedText, normalize, warm_up


@dataclass(frozen=True)
class TokenWindow:
    input_ids: np.ndarray  # int64 [seq]
    char_start: int  # span of the window in the original (not normalised) text
    char_end: int


class TextEncoder:
    def __init__(self, tokenizer_path: Path, *, max_length: int, stride: int) -> None:
        try:
            self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:  # tokenizers raises a bare Exception for unreadable files
            raise ModelError(f"{tokenizer_path}: cannot load the tokenizer: {exc}") from exc
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=max_length, stride=stride)
        padding = self._tokenizer.padding
        self.pad_id = int(padding["pad_id"]) if padding else (self._tokenizer.token_to_id("[PAD]") or 0)
        self.max_length = max_length
        warm_up()  # the first request with non-Latin letters should not pay for loading the confusables table

    def windows(self, text: str, *, normalized: NormalizedText | None = None) -> list[TokenWindow]:
        """The token windows of `normalize(text)`, with character spans in `text`. Pass `normalized` when the
        caller has normalised `text` already (the service does, for the cues)."""
        if normalized is None:
            normalized = normalize(text)
        elif normalized.original != text:
            raise ValueError("normalized was made from another text")
        encoding = self._tokenizer.encode(normalized.text)
        windows = []
        for enc in [encoding, *encoding.overflowing]:
            spans = [(s, e) for s, e in enc.offsets if e > s]
            start, end = normalized.to_original(spans[0][0], spans[-1][1]) if spans else (0, 0)
            windows.append(TokenWindow(np.asarray(enc.ids, dtype=np.int64), start, end))
        return windows

    def collate(self, windows: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Pad a batch to its longest member; the mask keeps padding out of the model's view."""
        longest = max(w.size for w in windows)
        ids = np.full((len(windows), longest), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(windows), longest), dtype=np.int64)
        for row, w in enumerate(windows):
            ids[row, : w.size] = w
            mask[row, : w.size] = 1
        return {"input_ids": ids, "attention_mask": mask}
