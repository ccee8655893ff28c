"""Text to model inputs with the `tokenizers` library and the tokenizer saved beside the model.

Long texts are split into overlapping token windows (`max_length` tokens, `stride` tokens of overlap) instead
of being cut, so a scam sentence at the end of a long ad is still read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from service.errors import ModelError


@dataclass(frozen=True)
class TokenWindow:
    input_ids: np.ndarray  # int64 [seq]
    char_start: int
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

    def windows(self, text: str) -> list[TokenWindow]:
        encoding = self._tokenizer.encode(text)
        windows = []
        for enc in [encoding, *encoding.overflowing]:
            spans = [(s, e) for s, e in enc.offsets if e > s]
            start = spans[0][0] if spans else 0
            end = spans[-1][1] if spans else 0
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
