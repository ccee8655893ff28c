"""Tiny text corpora and a tiny random BERT for the text-training tests, built in a temporary folder.

The seed corpus has six template families per (language, label), three texts each (the third long enough to
span two 32-token windows). The model is a 2-layer, 32-wide BertForSequenceClassification with a WordPiece
tokenizer trained on these texts with the `tokenizers` library, so nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

FAMILIES: dict[tuple[str, str], list[str]] = {
    ("nl", "scam"): [
        "Uw rekening is geblokkeerd. Maak vandaag nog {n} euro over naar een veilige rekening.",
        "Gegarandeerd {n} procent rendement per week met onze bitcoin robot.",
        "Geef uw pincode en de code uit de sms aan onze medewerker, anders wordt pas {n} geblokkeerd.",
        "Beleg nu {n} euro in crypto, bekende Nederlanders verdienen al miljoenen.",
        "Spoed: uw bank meldt verdachte betalingen, bel direct {n} en volg de instructies.",
        "Klik op de link om uw pas binnen {n} uur te verlengen: http://bit.ly/x{n}",
    ],
    ("nl", "legit"): [
        "Hoi, zullen we vanavond om {n} uur samen eten?",
        "De vergadering van morgen begint om {n} uur in zaal twee.",
        "Bedankt voor je bericht, ik bel je rond {n} uur terug.",
        "Het weer wordt morgen {n} graden en zonnig.",
        "Je pakket wordt vandaag na {n} uur bezorgd.",
        "Wil jij boodschappen voor {n} personen halen?",
    ],
    ("en", "scam"): [
        "Guaranteed {n} percent weekly returns with our AI crypto trading bot.",
        "Your account is blocked. Transfer your savings of {n} pounds to a safe account today.",
        "Urgent: share the {n} digit code we sent you to keep your bank card active.",
        "Celebrity investor reveals how he made {n} thousand with bitcoin, sign up now.",
        "Congratulations, you won {n} pounds, click http://bit.ly/w{n} to claim your prize.",
        "Bank security team here, install the app and read us code {n} to stop the fraud.",
    ],
    ("en", "legit"): [
        "Hello, shall we have dinner tonight at {n}?",
        "The meeting tomorrow starts at {n} in room two.",
        "Thanks for your message, I will call you back around {n}.",
        "The weather tomorrow will be {n} degrees and sunny.",
        "Your parcel will be delivered today after {n}.",
        "Can you pick up groceries for {n} people on the way home?",
    ],
}


def seed_records() -> list[dict[str, str]]:
    records = []
    for (lang, label), templates in FAMILIES.items():
        for f, template in enumerate(templates):
            texts = [template.format(n=3), template.format(n=17), " ".join(template.format(n=n) for n in (5, 8, 40))]
            for i, text in enumerate(texts):
                records.append({"id": f"{lang}-{label}-{f}-{i}", "text": text, "label": label,
                                "kind": "investment" if label == "scam" and f % 2 else label,
                                "lang": lang, "channel": "sms" if f % 2 else "ad", "family": f"{lang}-{label}-{f}"})
    return records


def write_seed(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for lang in ("nl", "en"):
        lines = [json.dumps(r, ensure_ascii=False) for r in seed_records() if r["lang"] == lang]
        (folder / f"{lang}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def build_base_model(folder: Path, *, seed: int = 0) -> Path:
    """A WordPiece tokenizer trained on the seed texts and a random 2-layer BERT classifier, saved like a
    Hugging Face model folder (config.json, weights, tokenizer.json)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=400, special_tokens=specials, show_progress=False)
    tokenizer.train_from_iterator([r["text"] for r in seed_records()], trainer=trainer)
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    folder.mkdir(parents=True, exist_ok=True)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    fast.save_pretrained(folder)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                        pad_token_id=tokenizer.token_to_id("[PAD]"))
    config.num_labels = 2
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder
