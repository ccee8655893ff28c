"""The n-gram half of a text model (training.text.ngram): scikit-learn's TF-IDF exactly, and a graph that agrees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfTransformer

from service.card import Calibration, NgramSpec
from service.errors import ModelError
from service.text.ngram_model import NgramModel
from training.text.ngram import count_matrix, fit_ngram, write_onnx

TRAIN = [
    ("Hi grandma it's me, I'm in trouble and need $500 now, don't tell dad", 1),
    ("Call 0800 123 456 now to claim your £2,500 prize", 1),
    ("Reply with your sort code and account number to receive your refund", 1),
    ("FR33 b1tcoin profits, guaranteed 10% a week!!!", 1),
    ("Your order has shipped, track it at postnl.nl", 0),
    ("Dinner at 7? I'll bring the wine", 0),
    ("Police warn: 'call 0800 to claim your prize' texts are fake, never reply", 0),
    ("Your one-time code is 381004. Never share it, not even with us.", 0),
]
BUCKETS = 512


@pytest.fixture(scope="module")
def fitted():  # type: ignore[no-untyped-def]
    texts, labels = zip(*TRAIN, strict=True)
    return fit_ngram(list(texts), list(labels), buckets=BUCKETS)


def test_features_are_scikit_learns_tfidf_per_analyzer(fitted) -> None:  # type: ignore[no-untyped-def]
    counts = count_matrix([t for t, _ in TRAIN], BUCKETS)
    ours = fitted.features(counts).toarray()
    for block in (slice(0, BUCKETS), slice(BUCKETS, 2 * BUCKETS)):
        theirs = TfidfTransformer(sublinear_tf=True).fit_transform(counts[:, block]).toarray()
        np.testing.assert_allclose(ours[:, block], theirs, atol=1e-12)


def test_scams_score_above_legit_texts_on_training_data(fitted) -> None:  # type: ignore[no-untyped-def]
    scores = fitted.decision([t for t, _ in TRAIN])
    labels = np.asarray([y for _, y in TRAIN])
    assert scores[labels == 1].min() > scores[labels == 0].max()


def test_onnx_graph_matches_scikit_learn_with_padding(fitted, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ngram.onnx"
    write_onnx(fitted, path)
    spec = NgramSpec(file="ngram.onnx", sha256="0" * 64, buckets=BUCKETS, weight=0.5,
                     calibration=Calibration(scale=1.0, bias=0.0))
    model = NgramModel(path, spec)
    # unseen words, an empty text (no n-grams: the intercept alone) and lengths that force padding in one batch
    texts = [t for t, _ in TRAIN] + ["completely unseen words 12345", "", "ok"]
    np.testing.assert_allclose(model.llr(texts), fitted.decision(texts), atol=1e-5)
    np.testing.assert_allclose(model.offsets(texts), 0.5 * fitted.decision(texts), atol=1e-5)
    assert model.llr([]).shape == (0,)


def test_a_graph_with_other_inputs_is_refused(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["logits"])], "wrong",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 2])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", 2])])
    path = tmp_path / "wrong.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    spec = NgramSpec(file="wrong.onnx", sha256="0" * 64, buckets=BUCKETS, weight=1.0,
                     calibration=Calibration(scale=1.0, bias=0.0))
    with pytest.raises(ModelError, match="text_ngram model takes inputs"):
        NgramModel(path, spec)


def test_fitting_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="both classes"):
        fit_ngram(["a scam", "another scam"], [1, 1], buckets=BUCKETS)
