"""A score must not depend on what else was in the batch: the shipped int8 variants are dynamically quantised,
so the service runs them one item per ONNX call (`per_item`); fp32 variants batch, equal up to float rounding."""

from __future__ import annotations

import numpy as np

from service.loaded_models import load_text, load_voice
from service.settings import Settings
from tests.audiokit import speech


def test_a_text_scores_the_same_alone_and_beside_a_longer_one() -> None:
    model = load_text(Settings())
    assert model.per_item  # the shipped default variant is int8
    short = model.encoder.windows("Verdien 500 euro per dag met deze bitcoin robot")[0].input_ids
    long = model.encoder.windows("Het kwartaalverslag beschrijft de omzet en de kosten van dit jaar. " * 8)[0].input_ids
    alone = model._run_batch([short])
    batched = model._run_batch([long, short, long])
    assert batched.shape == (3, 2)
    np.testing.assert_array_equal(batched[1], alone[0])
    # what the variant does when one call holds both: the reason for running items one by one
    # (by 1e-3 of a logit with text 1.5.0 and these two texts; by 0.1 with some pairs: see engine.runs_per_item)
    together = model._run_call([short, long])
    assert np.abs(together[0] - alone[0]).max() > 1e-4


def test_an_fp32_voice_window_is_batched_and_scores_the_same_up_to_summation_order() -> None:
    """fp32 graphs batch normally; a batched GEMM may add in another order, a few 1e-6 of a logit, never more.
    (The int8 one-item-per-call path is the text test's above.)"""
    model = load_voice(Settings())
    assert not model.per_item  # the shipped default voice variant is fp32
    window = model.spec.window_samples
    a = np.resize(speech(4.0, model.spec.sample_rate), window).astype(np.float32)
    loud = (8 * np.resize(speech(4.0, model.spec.sample_rate)[::-1], window)).astype(np.float32)
    np.testing.assert_allclose(model._run_batch([loud, a])[1], model._run_batch([a])[0], rtol=0, atol=1e-4)
