"""`nepcheck train voice`, `nepcheck export voice`, `nepcheck eval voice`. torch loads only inside each command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml

from training.cli import setup_logging


def _overrides(items: tuple[str, ...]) -> dict[str, Any]:
    """`key=value` pairs, values parsed as YAML so numbers, lists and booleans keep their types."""
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--set")
        parsed[key.strip()] = yaml.safe_load(value)
    return parsed


@click.command("voice")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML config (see training/voice/configs/)")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="override a config option")
def train_voice(config_path: Path | None, overrides: tuple[str, ...]) -> None:
    """Train a voice anti-spoofing network on a built corpus; keeps the best checkpoint by dev EER."""
    setup_logging()
    from training.voice.train import load_config, train

    try:
        config = load_config(config_path, _overrides(overrides))
    except (ValueError, TypeError) as exc:
        raise click.UsageError(str(exc)) from exc
    summary = train(config)
    click.echo(json.dumps(summary, indent=2))


@click.command("voice")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="corpus manifest whose dev split calibrates the model")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("models/voice"),
              show_default=True)
@click.option("--version", required=True, help="new version folder name, e.g. 1.0.0")
@click.option("--name", default="voice", show_default=True)
@click.option("--hop-s", type=float, default=2.0, show_default=True, help="window hop the service uses")
@click.option("--min-duration-s", type=float, default=1.0, show_default=True)
@click.option("--no-int8", is_flag=True, help="do not try an int8 variant")
def export_voice(checkpoint: Path, manifest: Path, out_dir: Path, version: str, name: str, hop_s: float,
                 min_duration_s: float, no_int8: bool) -> None:
    """Export a checkpoint to ONNX, check parity, calibrate on dev and write card.json."""
    setup_logging()
    from training.voice.export import VoiceExportConfig, export

    target = export(VoiceExportConfig(checkpoint=checkpoint, manifest=manifest, out_dir=out_dir, version=version,
                                      name=name, hop_s=hop_s, min_duration_s=min_duration_s, try_int8=not no_int8))
    click.echo(f"wrote {target}")


@click.command("voice")
@click.option("--model", "model_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="model version folder, e.g. models/voice/1.0.0")
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--split", default="eval", show_default=True, help="manifest split to score ('all' for every row)")
@click.option("--condition", "conditions", multiple=True, default=("clean", "mulaw8k"), show_default=True,
              help="channel condition (training.channel.CONDITIONS); repeat for several")
@click.option("--variant", default="default", show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--update-card", is_flag=True, help="store the summary under metrics.<name> in the model's card")
@click.option("--name", "metrics_name", default=None, help="name of this evaluation set in the card")
def eval_voice(model_dir: Path, manifest: Path, split: str, conditions: tuple[str, ...], variant: str,
               out_dir: Path, update_card: bool, metrics_name: str | None) -> None:
    """Score a manifest split through the service path and write EER/minDCF/actDCF/Cllr reports, DET and score
    files, per system, source and condition."""
    setup_logging()
    from training.voice.evaluate import evaluate

    evaluate(model_dir, manifest, split=split, conditions=conditions, variant=variant, out_dir=out_dir,
                      update_card_as=(metrics_name or f"{manifest.parent.name}/{split}") if update_card else None)
    click.echo((out_dir / "report.md").read_text())
