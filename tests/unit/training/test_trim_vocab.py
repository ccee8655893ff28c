import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tokenizers = pytest.importorskip("tokenizers")
transformers = pytest.importorskip("transformers")
pytest.importorskip("safetensors")

from training.text.trim_vocab import check_tokenizers, trim_vocabulary  # noqa: E402

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
WORDS = ["uw", "rekening", "is", "geblokkeerd", "bevestig", "gegevens", "via", "de", "link", "your", "account",
         "blocked", "verify", "details", "now", "bank", "belt", "nooit", "reken", "ing", "block", "ed"]
TEXTS = ["uw rekening is geblokkeerd", "bevestig uw gegevens via de link", "your account is blocked",
         "verify your details now", "de bank belt nooit, nooit!"]


def _make_full_model(folder: Path) -> None:
    """A tiny XLM-R-like folder: Unigram pieces (specials 0-3, <mask> last) with Metaspace, TemplateProcessing
    with <s>/</s>, and a one-layer BertModel."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel

    M = "\u2581"
    letters = "abcdefghijklmnopqrstuvwxyz"
    pieces = [(t, 0.0) for t in SPECIALS] + [(M, -3.0)]
    pieces += [(M + w, -5.0) for w in WORDS] + [(w, -6.0) for w in ("reken", "ing", "block", "ed", "ge")]
    pieces += [(c, -9.0) for c in letters] + [(M + c, -9.5) for c in letters] + [(",", -8.0), ("!", -8.0)]
    pieces += [("<mask>", 0.0)]
    tok = Tokenizer(models.Unigram(pieces, unk_id=3, byte_fallback=False))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.add_special_tokens([*SPECIALS, "<mask>"])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    folder.mkdir()
    tok.save(str(folder / "tokenizer.json"))
    assert [tok.token_to_id(t) for t in SPECIALS] == [0, 1, 2, 3] and tok.token_to_id("<mask>") == len(pieces) - 1
    special_map = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
                   "pad_token": "<pad>", "cls_token": "<s>", "mask_token": "<mask>"}
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": 64, **special_map})
    )
    (folder / "special_tokens_map.json").write_text(json.dumps(special_map))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(pieces), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, pad_token_id=1)
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)


def test_trim_keeps_specials_rows_and_segmentation(tmp_path: Path) -> None:
    from tokenizers import Tokenizer
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    full_dir, trim_dir = tmp_path / "full", tmp_path / "trim"
    _make_full_model(full_dir)
    full_tok = Tokenizer.from_file(str(full_dir / "tokenizer.json"))
    train = TEXTS[:3]  # "verify your details now" is held out: spelled from smaller pieces
    max_tokens = 70  # specials + marker (6), 54 single characters, then 10 of the 12 word pieces of `train`
    stats = trim_vocabulary(full_dir, train, trim_dir, max_tokens=max_tokens)
    assert stats["kept_tokens"] <= max_tokens < full_tok.get_vocab_size()

    trim_tok = Tokenizer.from_file(str(trim_dir / "tokenizer.json"))
    tj = json.loads((trim_dir / "tokenizer.json").read_text())
    assert [trim_tok.token_to_id(t) for t in SPECIALS] == [0, 1, 2, 3]
    assert tj["model"]["unk_id"] == 3
    assert trim_tok.token_to_id("<mask>") == stats["kept_tokens"] - 1
    assert tj["post_processor"]["special_tokens"]["</s>"]["ids"] == [2]
    config = json.loads((trim_dir / "config.json").read_text())
    assert config["vocab_size"] == stats["kept_tokens"] == trim_tok.get_vocab_size()
    assert config["pad_token_id"] == trim_tok.token_to_id("<pad>") == 1

    # kept pieces, same segmentation; texts needing dropped pieces decode to the same text
    enc = trim_tok.encode(train[0])
    assert enc.ids[0] == 0 and enc.ids[-1] == 2
    assert enc.tokens == full_tok.encode(train[0]).tokens
    report = check_tokenizers(full_dir, trim_dir, [*TEXTS, "Uw link, nu! \u00e9\u00e9n \u4e2d"])
    assert report["lossless_modulo_unk"] == report["texts"]
    assert report["identical_pieces"] == 3 and report["texts_with_unk"] == 1

    # embedding rows gathered: trimmed row for a piece equals the full model's row for that piece
    full_model, trim_model = AutoModel.from_pretrained(full_dir), AutoModel.from_pretrained(trim_dir)
    full_emb = full_model.get_input_embeddings().weight.detach().numpy()
    trim_emb = trim_model.get_input_embeddings().weight.detach().numpy()
    assert trim_emb.shape == (stats["kept_tokens"], full_emb.shape[1])
    for piece, new_id in trim_tok.get_vocab().items():
        np.testing.assert_array_equal(trim_emb[new_id], full_emb[full_tok.token_to_id(piece)])
    np.testing.assert_array_equal(  # all other weights untouched
        trim_model.encoder.layer[0].output.dense.weight.detach().numpy(),
        full_model.encoder.layer[0].output.dense.weight.detach().numpy(),
    )

    # loads through the Auto classes, and both tokenizer routes agree
    hf_tok = AutoTokenizer.from_pretrained(trim_dir)
    assert hf_tok.pad_token_id == 1 and hf_tok.unk_token_id == 3 and hf_tok.mask_token_id == stats["kept_tokens"] - 1
    assert hf_tok(train[2])["input_ids"] == trim_tok.encode(train[2]).ids
    classifier = AutoModelForSequenceClassification.from_pretrained(trim_dir, num_labels=2)
    with torch.no_grad():
        logits = classifier(**hf_tok([train[1]], return_tensors="pt")).logits
    assert logits.shape == (1, 2)
