"""Scoring texts with an exported ONNX model exactly as the service does: token windows, logits, Platt-scaled
logit difference, worst window per text (`service.scoring.score_text`). The voice detector's counterpart is
`training.voice.onnx_scoring`.

Export calibrates on these scores and evaluation reports them, so what the card's thresholds and metrics
describe is what a caller of `/v1/text/score` gets, windowing of long texts included.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from service import engine
from service.calibration import logits_to_llr
from service.card import Calibration, TextInput
from service.registry import load_artifact
from service.text.ngram_model import NgramModel
from service.text.normalize import normalize
from service.text.tokenize import TextEncoder
from training.helpers import open_session

# Scale 1, bias 0: the raw logit difference, which is what Platt scaling is fitted on.
IDENTITY = Calibration(scale=1.0, bias=0.0)


def window_logits(
    session: ort.InferenceSession, encoder: TextEncoder, texts: Sequence[str], *, batch_size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Logits [n_windows, 2] of every token window of every text, and the index of the text each belongs to.

    Windows are batched in order of length so that little padding is computed; the mask keeps padding out of
    the result, as in the service's batches of mixed requests.
    """
    windows: list[np.ndarray] = []
    owners: list[int] = []
    for index, text in enumerate(texts):
        for window in encoder.windows(text):
            windows.append(window.input_ids)
            owners.append(index)
    order = np.argsort([w.size for w in windows], kind="stable")
    logits = np.zeros((len(windows), 2), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        logits[chunk] = engine.run_logits(session, encoder.collate([windows[i] for i in chunk]))
    return logits, np.asarray(owners, dtype=np.int64)


def max_window_llr(
    session: ort.InferenceSession,
    encoder: TextEncoder,
    texts: Sequence[str],
    calibration: Calibration = IDENTITY,
    *,
    offsets: np.ndarray | None = None,
    batch_size: int = 32,
) -> np.ndarray:
    """One LLR per text: the highest over its windows (with IDENTITY, the highest raw logit difference).
    `offsets` (one per text, `ngram_offsets`) are added to each window's logit difference, as the service does."""
    logits, owners = window_logits(session, encoder, texts, batch_size=batch_size)
    llrs = logits_to_llr(logits, calibration, 0.0 if offsets is None else np.asarray(offsets)[owners])
    scores = np.full(len(texts), -np.inf)
    np.maximum.at(scores, owners, llrs)
    return scores


def ngram_offsets(model: NgramModel | None, texts: Sequence[str], *, chunk: int = 256) -> np.ndarray | None:
    """The n-gram term of each text (None without an n-gram model), from the normalised text as in the service."""
    if model is None:
        return None
    normalized = [normalize(text).text for text in texts]
    parts = [model.offsets(normalized[i : i + chunk]) for i in range(0, len(normalized), chunk)]
    return np.concatenate(parts) if parts else np.zeros(0)


def score_artifact(
    directory: Path, texts: Sequence[str], *, variant: str = "default", providers: Sequence[str] = ("cpu",),
    transformer_only: bool = False,
) -> np.ndarray:
    """Calibrated LLRs of `texts` from an exported model folder, loaded and hash-checked like the service does.

    `transformer_only`: the highest raw window logit difference, without the card's calibration or an n-gram
    term (to measure what a model's n-gram half adds; `evaluate.evaluate_text`)."""
    artifact = load_artifact(directory, variant=variant, task="text")
    spec = artifact.card.input
    assert isinstance(spec, TextInput)
    encoder = TextEncoder(directory / spec.tokenizer, max_length=spec.max_length, stride=spec.stride)
    session = open_session(artifact.onnx_path, "text", providers=providers)
    # scored as the service scores them: a dynamically quantised variant one window per call
    batch_size = 1 if engine.runs_per_item(artifact.card.variants[artifact.variant].precision) else 32
    if transformer_only:
        return max_window_llr(session, encoder, texts, batch_size=batch_size)
    return max_window_llr(session, encoder, texts, artifact.card.calibration,
                          offsets=ngram_offsets(NgramModel.of(artifact), texts), batch_size=batch_size)
