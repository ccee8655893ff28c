"""The n-gram half of a text model: a TF-IDF logistic regression over hashed n-grams, written as a small ONNX graph.

Why a second model: the fine-tuned transformer and the TF-IDF baseline make different mistakes. On 1.4.0's test
split the transformer missed link-less call-back phishing and real SMS spam that the baseline caught by their
exact wording, while the baseline flagged warnings that quote a scam, which the transformer reads correctly.
Adding half of the baseline's LLR to the transformer's score (`training/text/fusion.py` measured the options)
raised English recall at the same false-positive rate without flagging more warnings; a full-weight fusion
flagged several times as many. The weight is a recipe choice (`nepcheck export text --ngram-weight`).

Features are `service.text.ngrams` (the service's own code), on normalised text; the model is scikit-learn's
TF-IDF (sublinear tf, smoothed idf, L2 norm per analyzer, as the baseline's FeatureUnion does) and a
class-balanced logistic regression. The ONNX graph recomputes exactly that from ids and counts; `decision`
gives the scikit-learn value it must match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from service.text.ngrams import ngram_counts

DEFAULT_BUCKETS = 1 << 16  # per analyzer; the hashed baseline matched the vocabulary one at 2^16 and 2^18
NGRAM_FILE = "ngram.onnx"
NGRAM_OPSET = 18


def count_matrix(normalized_texts: Sequence[str], buckets: int) -> sp.csr_matrix:
    """Raw n-gram counts [texts, 2 * buckets]: word n-grams in the first `buckets` columns, characters after."""
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    for index, text in enumerate(normalized_texts):
        counts = ngram_counts(text, buckets=buckets)
        rows.append(np.full(counts.ids.size, index, dtype=np.int64))
        cols.append(counts.ids)
        vals.append(counts.counts.astype(np.float64))
    if not rows:
        return sp.csr_matrix((0, 2 * buckets))
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(len(normalized_texts), 2 * buckets))


@dataclass(frozen=True)
class NgramFit:
    buckets: int
    idf: np.ndarray  # float64 [2 * buckets]
    coef: np.ndarray  # float64 [2 * buckets]
    intercept: float

    def features(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """Sublinear tf x idf, L2-normalised separately over the word and the character columns."""
        x = counts.tocsr(copy=True).astype(np.float64)
        x.data = 1.0 + np.log(x.data)
        x = x.multiply(self.idf[np.newaxis, :]).tocsr()
        parts = []
        for block in (x[:, : self.buckets], x[:, self.buckets :]):
            norms = np.sqrt(np.asarray(block.multiply(block).sum(axis=1)).ravel())
            norms[norms == 0] = 1.0
            parts.append(sp.diags(1.0 / norms) @ block)
        return sp.hstack(parts).tocsr()

    def decision(self, normalized_texts: Sequence[str]) -> np.ndarray:
        """Log-odds of scam, per text (what the ONNX graph must reproduce)."""
        x = self.features(count_matrix(normalized_texts, self.buckets))
        return np.asarray(x @ self.coef + self.intercept, dtype=np.float64).ravel()


def fit_ngram(normalized_texts: Sequence[str], labels: Sequence[int], *, buckets: int = DEFAULT_BUCKETS,
              c: float = 4.0) -> NgramFit:
    """TF-IDF and a class-balanced logistic regression (the TF-IDF baseline's settings, C = 4) on hashed n-grams."""
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(labels, dtype=np.int64)
    if set(y.tolist()) != {0, 1}:
        raise ValueError("the n-gram model needs training texts of both classes")
    counts = count_matrix(normalized_texts, buckets)
    idf = np.concatenate([
        TfidfTransformer(sublinear_tf=True).fit(counts[:, :buckets]).idf_,
        TfidfTransformer(sublinear_tf=True).fit(counts[:, buckets:]).idf_,
    ])
    unfitted = NgramFit(buckets=buckets, idf=idf, coef=np.zeros(2 * buckets), intercept=0.0)
    classifier = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
    classifier.fit(unfitted.features(counts), y)
    return NgramFit(buckets=buckets, idf=idf, coef=np.asarray(classifier.coef_[0], dtype=np.float64),
                    intercept=float(classifier.intercept_[0]))


def write_onnx(fit: NgramFit, path: Path) -> None:
    """The graph: ids int64 [batch, k], counts float [batch, k] (0 = padding) -> logits [batch, 2] = [0, log-odds]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def const(name: str, value: np.ndarray) -> onnx.TensorProto:
        return numpy_helper.from_array(value, name)

    initializers = [
        const("idf", fit.idf.astype(np.float32)),
        const("coef", fit.coef.astype(np.float32)),
        const("buckets", np.asarray(fit.buckets, dtype=np.int64)),
        const("one", np.asarray(1.0, dtype=np.float32)),
        const("zero", np.asarray(0.0, dtype=np.float32)),
        const("tiny", np.asarray(1e-12, dtype=np.float32)),
        const("intercept", np.asarray(fit.intercept, dtype=np.float32)),
        const("axis1", np.asarray([1], dtype=np.int64)),
    ]
    node = helper.make_node
    nodes = [
        # sublinear tf: 1 + log(count) where count > 0, else 0 (padding)
        node("Greater", ["counts", "zero"], ["present"]),
        node("Max", ["counts", "one"], ["safe_counts"]),
        node("Log", ["safe_counts"], ["log_counts"]),
        node("Add", ["log_counts", "one"], ["tf_all"]),
        node("Where", ["present", "tf_all", "zero"], ["tf"]),
        node("Gather", ["idf", "ids"], ["idf_of_ids"]),
        node("Mul", ["tf", "idf_of_ids"], ["tfidf"]),
        # word ids are below `buckets`, character ids at or above: each analyzer has its own L2 norm
        node("GreaterOrEqual", ["ids", "buckets"], ["is_char_bool"]),
        node("Cast", ["is_char_bool"], ["is_char"], to=TensorProto.FLOAT),
        node("Sub", ["one", "is_char"], ["is_word"]),
        node("Mul", ["tfidf", "tfidf"], ["squares"]),
        node("Gather", ["coef", "ids"], ["coef_of_ids"]),
        node("Mul", ["tfidf", "coef_of_ids"], ["weighted"]),
    ]
    for part in ("word", "char"):
        nodes += [
            node("Mul", ["squares", f"is_{part}"], [f"{part}_squares"]),
            node("ReduceSum", [f"{part}_squares", "axis1"], [f"{part}_norm2"], keepdims=0),
            node("Sqrt", [f"{part}_norm2"], [f"{part}_norm_raw"]),
            node("Max", [f"{part}_norm_raw", "tiny"], [f"{part}_norm"]),
            node("Mul", ["weighted", f"is_{part}"], [f"{part}_weighted"]),
            node("ReduceSum", [f"{part}_weighted", "axis1"], [f"{part}_dot"], keepdims=0),
            node("Div", [f"{part}_dot", f"{part}_norm"], [f"{part}_score"]),
        ]
    nodes += [
        node("Add", ["word_score", "char_score"], ["both"]),
        node("Add", ["both", "intercept"], ["score"]),
        node("Mul", ["score", "zero"], ["zeros"]),
        node("Unsqueeze", ["zeros", "axis1"], ["col0"]),
        node("Unsqueeze", ["score", "axis1"], ["col1"]),
        node("Concat", ["col0", "col1"], ["logits"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "nepcheck_text_ngram",
        inputs=[helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "k"]),
                helper.make_tensor_value_info("counts", TensorProto.FLOAT, ["batch", "k"])],
        outputs=[helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", NGRAM_OPSET)],
                              producer_name="nepcheck training.text.ngram")
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
