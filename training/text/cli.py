"""`nepcheck train text`, `nepcheck export text`, `nepcheck eval text`.

Imported only when one of them is named; torch, transformers and scikit-learn are imported inside each command.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from training.cli import setup_logging


@click.command("text")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="YAML training config, e.g. training/text/configs/minilm.yaml")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="override a config value (parsed as YAML), e.g. --set epochs=1 --set max_train_rows=300")
def train_text_command(config_path: Path, overrides: tuple[str, ...]) -> None:
    """Fine-tune the text scam detector; the best dev checkpoint goes to the config's out_dir."""
    setup_logging()
    from training.text.train import TextTrainConfig, train_text

    try:
        config = TextTrainConfig.from_yaml(config_path, overrides)
    except (ValueError, TypeError) as exc:
        raise click.UsageError(str(exc)) from exc
    record = train_text(config)
    click.echo(json.dumps({"checkpoint": config.out_dir, "best": record["best"], "seconds": record["seconds"]},
                          indent=2))


@click.command("text")
@click.option("--checkpoint", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="folder written by `nepcheck train text`")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("models/text"),
              show_default=True, help="model folder; the version goes below it")
@click.option("--version", required=True, help="version folder name, e.g. 1.0.0")
@click.option("--calibrate-on", type=click.Choice(["dev", "train"]), default="dev", show_default=True,
              help="split whose scores fit the calibration and thresholds")
@click.option("--exporter", type=click.Choice(["dynamo", "torchscript"]), default="dynamo", show_default=True)
@click.option("--force", is_flag=True, help="overwrite an existing version folder")
@click.option("--ship", default=None, metavar="fp32,int8,fp16",
              help="variants to ship, comma-separated [default: all that pass their checks]")
@click.option("--int8-keep", multiple=True, metavar="LAYER.PART",
              help="a weight MatMul the int8 variant keeps in fp32, e.g. 4.ffn_out (PART: q, k, v, attn_out, ffn_in, "
                   "ffn_out); repeatable")
@click.option("--ngram-weight", type=click.FloatRange(min=0, min_open=True, max=10), default=None,
              help="ship an n-gram model (TF-IDF over hashed word and character n-grams, fitted on the train split) "
                   "and add this many times its LLR to the transformer's score [default: none]")
def export_text_command(checkpoint: Path, out: Path, version: str, calibrate_on: str, exporter: str, force: bool,
                ship: str | None, int8_keep: tuple[str, ...], ngram_weight: float | None) -> None:
    """Export a checkpoint to ONNX (fp32, int8, fp16), calibrate it and write OUT/VERSION/card.json."""
    setup_logging()
    from training.text.export import VARIANT_FILES, export_text

    names = None if ship is None else [n.strip() for n in ship.split(",") if n.strip()]
    if names is not None and (not names or not set(names) <= set(VARIANT_FILES)):
        raise click.BadParameter(f"name some of {','.join(VARIANT_FILES)}, got {ship!r}", param_hint="--ship")
    result = export_text(checkpoint, out, version, calibrate_on=calibrate_on, exporter=exporter, force=force,
                        ship=names, int8_keep=int8_keep, ngram_weight=ngram_weight)
    card = result.card
    overall = card["metrics"]["test"]["overall"]
    click.echo(json.dumps({
        "directory": str(result.directory),
        "variants": sorted(card["variants"]),
        "default_variant": card["default_variant"],
        "calibration": card["calibration"],
        "thresholds": card["thresholds"],
        "checks_against_pytorch": card["onnx"]["checks_against_pytorch"],
        "test": {k: overall[k] for k in ("n", "roc_auc", "pr_auc", "ece")} | {"f1": overall["at_likely_scam"]["f1"]},
    }, indent=2))


@click.command("text")
@click.option("--model", "model_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="exported model folder, e.g. models/text/1.0.0")
@click.option("--split", type=click.Choice(["train", "dev", "test"]), default="test", show_default=True)
@click.option("--variant", default="default", show_default=True, help="card variant: fp32, int8, fp16 or default")
@click.option("--seed-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="seed corpus folder (default: the corpora named in the card)")
@click.option("--uci", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="UCI SMSSpamCollection file")
@click.option("--mishra", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Mishra-Soni Dataset_5971.csv")
@click.option("--public-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="collected public texts, e.g. datasets/text_public")
@click.option("--pairs-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="scam/warning pairs, e.g. datasets/text_pairs")
@click.option("--extra-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="texts added later, split on their own, e.g. datasets/text_seed/extra")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="folder for report.json and report.md")
def eval_text_command(model_dir: Path, split: str, variant: str, seed_dir: Path | None, uci: Path | None,
                      mishra: Path | None, public_dir: Path | None, pairs_dir: Path | None, extra_dir: Path | None,
                      out: Path) -> None:
    """Evaluate an exported text model and the TF-IDF baseline on one split; prints the Markdown table.

    Without corpus options it reads the corpora the model card names (paths relative to where you run it), so the
    splits are the training run's; each must be there.
    """
    setup_logging()
    corpora = {"seed_dir": seed_dir, "uci_path": uci, "mishra_path": mishra, "public_dir": public_dir,
               "pairs_dir": pairs_dir, "extra_dir": extra_dir}
    if any(corpora.values()):
        if seed_dir is None and (uci is not None or mishra is not None):
            click.echo("nepcheck: warning: without --seed-dir the Dutch seed texts are left out (the UCI and "
                       "Mishra-Soni sets are English): the report covers English only; add --seed-dir "
                       "datasets/text_seed", err=True)
    else:
        _check_card_corpora(model_dir)
    try:
        from training.text.evaluate import evaluate_text, write_report

        report = evaluate_text(model_dir, split=split, variant=variant,
                               corpora=corpora if any(corpora.values()) else None)
    except ModuleNotFoundError as exc:
        raise click.ClickException(f"'eval text' needs the training extra, {exc.name or exc} is not installed: "
                                   "pip install -e '.[train]'") from None
    click.echo(write_report(report, out))


_CORPUS_OPTIONS = {"seed_dir": "--seed-dir", "uci_path": "--uci", "mishra_path": "--mishra",
                   "public_dir": "--public-dir", "pairs_dir": "--pairs-dir", "extra_dir": "--extra-dir"}


def _check_card_corpora(model_dir: Path) -> None:
    """Fail with one line when a corpus the model card names is not on this machine."""
    try:
        card = json.loads((model_dir / "card.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.UsageError(f"cannot read {model_dir / 'card.json'}: {exc}") from None
    named = (card.get("training_data") or {}).get("corpora") or {}
    if not any(named.get(key) for key in _CORPUS_OPTIONS):
        raise click.UsageError(f"the card in {model_dir} names no corpora: give them with "
                               "--seed-dir, --uci, --mishra or --public-dir")
    for key, option in _CORPUS_OPTIONS.items():
        if named.get(key) and not Path(named[key]).exists():
            raise click.UsageError(
                f"the model was trained on {named[key]} ({option}), which is not here; run from the folder the "
                f"card's paths are relative to, or name the corpora you have with {', '.join(_CORPUS_OPTIONS.values())}"
            )
