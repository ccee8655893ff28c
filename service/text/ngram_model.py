"""The n-gram half of a text model: hashed n-gram counts in, the term added to each window's score out.

A card with an `ngram` section (service.card.NgramSpec) ships a second, small ONNX graph beside the transformer:
TF-IDF (sublinear term frequency, IDF, L2 norm per analyzer) and a logistic regression over the hashed word and
character n-grams of `service.text.ngrams`. Its calibrated LLR for the whole text, times the card's weight, is
added to the logit difference of every token window, and the card's calibration and thresholds apply to that
sum. Training and export score texts through this same class (training.text.onnx_scoring), so what the
thresholds were fitted on is what the service computes.

The graph is a few gathers and sums over at most a few thousand ids per text: it always runs on the CPU, in the
request's preparation thread, and never waits in the transformer's micro-batcher.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from service import engine
from service.calibration import logits_to_llr
from service.card import NgramSpec
from service.registry import Artifact
from service.text.ngrams import ngram_counts, pad_batch

__all__ = ["NgramModel"]


class NgramModel:
    def __init__(self, path: Path, spec: NgramSpec, *, intra_op_threads: int = 1) -> None:
        self.spec = spec
        self.session = engine.create_session(path, providers=("cpu",), intra_op_threads=intra_op_threads)
        engine.check_io(self.session, "text_ngram", path)

    @classmethod
    def of(cls, artifact: Artifact) -> NgramModel | None:
        """The artifact's n-gram half (hash-checked by `load_artifact`), or None when its card names none."""
        path = artifact.ngram_path
        return cls(path, artifact.card.ngram) if path is not None and artifact.card.ngram is not None else None

    def llr(self, normalized_texts: Sequence[str]) -> np.ndarray:
        """Calibrated n-gram LLR per text; the texts are already normalised (`service.text.normalize`)."""
        if not normalized_texts:
            return np.zeros(0)
        feeds = pad_batch([ngram_counts(text, buckets=self.spec.buckets) for text in normalized_texts])
        return logits_to_llr(engine.run_logits(self.session, feeds), self.spec.calibration)

    def offsets(self, normalized_texts: Sequence[str]) -> np.ndarray:
        """What is added to the logit difference of each of a text's windows: weight x n-gram LLR."""
        return self.spec.weight * self.llr(normalized_texts)
