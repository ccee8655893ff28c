"""A TF-IDF + logistic-regression baseline, reported beside the transformer on the same splits.

If a fine-tuned transformer cannot beat word and character n-grams on a corpus, the corpus is too easy (or the
transformer is broken); the report shows both so that neither goes unnoticed. Character n-grams within word
boundaries also catch the obfuscated spellings ("FR33", "T0DAY") that scam texts use.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline


class TfidfBaseline:
    """Word 1-2 grams and char_wb 2-5 grams, sublinear TF-IDF, class-balanced logistic regression."""

    def __init__(self, *, c: float = 4.0, max_char_features: int = 300_000) -> None:
        features = FeatureUnion([
            ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, lowercase=True)),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, lowercase=True,
                                     max_features=max_char_features)),
        ])
        classifier = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
        self.pipeline = Pipeline([("features", features), ("classifier", classifier)])

    def fit(self, texts: Sequence[str], labels: Sequence[int]) -> TfidfBaseline:
        """Labels are 1 for scam, 0 for legit; both must occur."""
        if len(set(labels)) != 2:
            raise ValueError("the baseline needs training texts of both classes")
        self.pipeline.fit(list(texts), np.asarray(labels, dtype=np.int64))
        return self

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Log-odds of scam (higher = more likely scam), one per text."""
        return np.asarray(self.pipeline.decision_function(list(texts)), dtype=np.float64)
