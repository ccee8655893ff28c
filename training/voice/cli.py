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
def train_voice_command(config_path: Path | None, overrides: tuple[str, ...]) -> None:
    """Train a voice anti-spoofing network on a built corpus; keeps the best checkpoint by dev EER."""
    setup_logging()
    from training.voice.train import load_config, train_voice

    try:
        config = load_config(config_path, _overrides(overrides))
    except (ValueError, TypeError) as exc:
        raise click.UsageError(str(exc)) from exc
    summary = train_voice(config)
    click.echo(json.dumps(summary, indent=2))


@click.command("voice")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="corpus manifest whose dev split calibrates the model [default: the checkpoint's]")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("models/voice"),
              show_default=True)
@click.option("--version", required=True, help="new version folder name, e.g. 1.0.0")
@click.option("--name", default="voice", show_default=True)
@click.option("--hop-s", type=float, default=None,
              help="window hop the service uses [default: the checkpoint's hop_s]")
@click.option("--min-duration-s", type=float, default=None,
              help="shortest clip the model judges [default: the checkpoint's min_duration_s]")
@click.option("--no-int8", is_flag=True, help="do not try an int8 variant")
def export_voice_command(checkpoint: Path, manifest: Path | None, out_dir: Path, version: str, name: str,
                         hop_s: float | None, min_duration_s: float | None, no_int8: bool) -> None:
    """Export a checkpoint to ONNX, check parity, calibrate on dev and write card.json. The manifest, hop and
    minimum duration are those the checkpoint was trained with unless given."""
    setup_logging()
    from training.voice.export import VoiceExportConfig, export_voice

    target = export_voice(VoiceExportConfig(checkpoint=checkpoint, manifest=manifest, out_dir=out_dir,
                                            version=version, name=name, hop_s=hop_s, min_duration_s=min_duration_s,
                                            try_int8=not no_int8))
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
def eval_voice_command(model_dir: Path, manifest: Path, split: str, conditions: tuple[str, ...], variant: str,
               out_dir: Path, update_card: bool, metrics_name: str | None) -> None:
    """Score a manifest split through the service path and write EER/minDCF/actDCF/Cllr reports, DET and score
    files, per system, source and condition."""
    setup_logging()
    from training.voice.evaluate import evaluate_voice

    evaluate_voice(model_dir, manifest, split=split, conditions=conditions, variant=variant, out_dir=out_dir,
                   update_card_as=(metrics_name or f"{manifest.parent.name}/{split}") if update_card else None)
    click.echo((out_dir / "report.md").read_text())


@click.command("voice-features")
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="corpus manifest (every row is featurised, whatever its split)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="cache folder; a rerun fills in only what is missing")
@click.option("--front-end", "front_ends", multiple=True, default=("whisper", "lfcc"), show_default=True)
@click.option("--condition", "conditions", multiple=True, default=("clean", "mulaw8k"), show_default=True)
@click.option("--threads", type=int, default=1, show_default=True, help="torch threads")
def voice_features_command(manifest: Path, out_dir: Path, front_ends: tuple[str, ...], conditions: tuple[str, ...],
                   threads: int) -> None:
    """Cache pooled front-end features of the service's speech windows of every clip, per condition."""
    setup_logging()
    import torch

    from training.voice.features import extract

    torch.set_num_threads(threads)
    extract(manifest, out_dir, front_ends=front_ends, conditions=conditions)
    click.echo(f"features in {out_dir}")


@click.command("voice-cv")
@click.option("--features", "cache", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="feature cache from `nepcheck train voice-features`")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--front-end", "front_ends", multiple=True, default=("whisper", "lfcc", "whisper+lfcc"),
              show_default=True, help="a cached front-end, or several joined by + (fusion)")
@click.option("--train-condition", "train_conditions", multiple=True, default=("clean", "mulaw8k"),
              show_default=True)
@click.option("--condition", "conditions", multiple=True, default=("clean", "mulaw8k"), show_default=True,
              help="test condition")
@click.option("--folds", type=int, default=5, show_default=True)
@click.option("--repeats", type=int, default=3, show_default=True,
              help="fold assignments (seeds seed..seed+repeats-1); a clip's score is the mean of its held-out scores")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--c", "c", type=float, default=0.01, show_default=True, help="inverse L2 strength of the head")
@click.option("--eval-only", "eval_only", multiple=True, default=("ttsds/ttsdb",), show_default=True,
              help="source that may only be tested (published for evaluation, not training)")
def voice_cv_command(cache: Path, out_dir: Path, front_ends: tuple[str, ...], train_conditions: tuple[str, ...],
             conditions: tuple[str, ...], folds: int, repeats: int, seed: int, c: float,
             eval_only: tuple[str, ...]) -> None:
    """Leave-sources-and-families-out cross-validation of front-ends: per-fold and pooled EER, EER per family,
    bona fide false alarms per language (report.md, report.json, out-of-fold scores.csv)."""
    setup_logging()
    from training.voice.crossval import concat_features, cross_validate, make_folds, merge
    from training.voice.features import load_features, load_rows

    rows = load_rows(cache)
    splits = [make_folds(rows, folds, seed=seed + r, eval_only=eval_only) for r in range(repeats)]
    needed = sorted(set(train_conditions) | set(conditions))
    results = []
    for name in front_ends:
        features = {cond: concat_features([load_features(cache, cond, part) for part in name.split("+")])
                    for cond in needed}
        results.append(merge([cross_validate(rows, features, split, front_end=name, train_conditions=train_conditions,
                                             test_conditions=conditions, c=c) for split in splits]))
    _write_cv_reports(out_dir, rows, results, conditions,
                      {"folds": folds, "repeats": repeats, "seed": seed, "c": c, "eval_only": list(eval_only)})


def _write_cv_reports(out_dir: Path, rows: Any, results: Any, conditions: tuple[str, ...],
                      meta: dict[str, Any]) -> None:
    """scores.csv (out-of-fold clip scores), report.json and report.md of cross-validation runs; echoes the
    overview table."""
    import csv

    from training.corpora.manifest import family_of
    from training.voice.crossval import markdown, summarise

    summaries = []
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "scores.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["front_end", "condition", "clip", "path", "label", "system", "family", "source",
                         "language", "score"])
        for result in results:
            for cond in conditions:
                summaries.append(summarise(rows, result, cond))
                for clip, score in sorted(result.scores[cond].items()):
                    r = rows[clip]
                    writer.writerow([result.front_end, cond, clip, r.path, r.label, r.system, family_of(r),
                                     r.source, r.language, f"{score:.6f}"])
    (out_dir / "report.json").write_text(json.dumps({**meta, "runs": summaries}, indent=2))
    report = markdown(summaries)
    (out_dir / "report.md").write_text(report)
    click.echo(report.split("\n\n### ")[0])


@click.command("voice-frames-cv")
@click.option("--frames", "cache", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="frames cache from `nepcheck train voice-features --front-end frames4-whisper3`")
@click.option("--frames-name", default="frames4-whisper3", show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--head", "heads", multiple=True, default=("attstats:ce", "attstats:ocsoftmax", "conv:ce",
              "conv:ocsoftmax"), show_default=True, help="HEAD:LOSS (training.voice.heads)")
@click.option("--train-condition", "train_conditions", multiple=True, default=("clean", "mulaw8k"),
              show_default=True)
@click.option("--condition", "conditions", multiple=True, default=("clean", "mulaw8k"), show_default=True)
@click.option("--folds", type=int, default=5, show_default=True)
@click.option("--repeats", type=int, default=3, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--epochs", type=int, default=12, show_default=True, help="at most; early stopping on inner dev")
@click.option("--patience", type=int, default=3, show_default=True)
@click.option("--rank", type=int, default=64, show_default=True,
              help="per-state PCA dimensions fitted on each fold's training windows; 0: standardise all 512")
@click.option("--lr", type=float, default=3e-3, show_default=True)
@click.option("--select", type=click.Choice(["dev", "last"]), default="dev", show_default=True,
              help="keep the epoch best on the inner dev split, or the last epoch")
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--eval-only", "eval_only", multiple=True, default=("ttsds/ttsdb",), show_default=True)
def voice_frames_cv_command(cache: Path, frames_name: str, out_dir: Path, heads: tuple[str, ...],
                            train_conditions: tuple[str, ...], conditions: tuple[str, ...], folds: int,
                            repeats: int, seed: int, epochs: int, patience: int, rank: int, lr: float, select: str,
                            threads: int,
                            eval_only: tuple[str, ...]) -> None:
    """The same leave-sources-and-families-out cross-validation as `voice-cv`, with time-resolved heads trained
    on cached frames (early stopping on an inner source/family split of each fold's training clips). Also
    writes fit.json: per fold the chosen epoch, inner dev EER and training-clip EER."""
    setup_logging()
    import torch

    from training.voice.crossval import cross_validate, make_folds, merge
    from training.voice.features import load_rows
    from training.voice.frames import load_frames
    from training.voice.head_train import FitLog, HeadConfig, ReductionCache, fit_frames_head

    torch.set_num_threads(threads)
    rows = load_rows(cache)
    splits = [make_folds(rows, folds, seed=seed + r, eval_only=eval_only) for r in range(repeats)]
    needed = sorted(set(train_conditions) | set(conditions))
    frames = {cond: load_frames(cache, cond, frames_name) for cond in needed}
    results, fits = [], {}
    reductions: ReductionCache = {}  # one PCA per fold, shared by the heads
    for spec in heads:
        head, _, loss = spec.partition(":")
        fit_log = FitLog()
        runs = []
        for r, split in enumerate(splits):
            config = HeadConfig(head=head, loss=loss or "ce", epochs=epochs, patience=patience, rank=rank, lr=lr,
                                select=select, seed=seed + r)

            def fit(x: Any, y: Any, w: Any, clip: Any, config: HeadConfig = config, fit_log: FitLog = fit_log) -> Any:
                return fit_frames_head(x, y, w, clip, rows=rows, config=config, fit_log=fit_log, cache=reductions)

            runs.append(cross_validate(rows, frames, split, front_end=spec, train_conditions=train_conditions,
                                       test_conditions=conditions, fit=fit))
        results.append(merge(runs))
        fits[spec] = fit_log.entries
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "fit.json").write_text(json.dumps(fits, indent=2))
        # after every head, so a long run that is stopped keeps the heads it finished
        _write_cv_reports(out_dir, rows, results, conditions,
                          {"folds": folds, "repeats": repeats, "seed": seed, "epochs": epochs, "patience": patience,
                           "rank": rank, "lr": lr, "select": select,
                           "eval_only": list(eval_only), "frames": frames_name})


@click.command("voice-probe")
@click.option("--features", "cache", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="feature cache from `nepcheck train voice-features`")
@click.option("--cv-scores", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="scores.csv of `nepcheck eval voice-cv` (out-of-fold scores calibrate the model)")
@click.option("--front-end", "front_end", default="whisper+lfcc", show_default=True,
              help="cached front-ends joined by +, as named in the cross-validation")
@click.option("--version", required=True, help="new version folder name, e.g. 0.2.0")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("models/voice"),
              show_default=True)
@click.option("--c", "c", type=float, default=0.01, show_default=True, help="inverse L2 strength of the head")
@click.option("--eval-only", "eval_only", multiple=True, default=("ttsds/ttsdb",), show_default=True)
def voice_probe_command(cache: Path, cv_scores: Path, front_end: str, version: str, out_dir: Path, c: float,
                eval_only: tuple[str, ...]) -> None:
    """Fit the linear head on all trainable clips and export front-ends + head as one ONNX model with its card,
    calibrated on the cross-validation's out-of-fold scores."""
    setup_logging()
    from training.voice.probe_export import ProbeExportConfig, export_probe, front_end_names

    target = export_probe(ProbeExportConfig(features=cache, cv_scores=cv_scores,
                                            front_ends=tuple(front_end_names(front_end)), version=version,
                                            out_dir=out_dir, c=c, eval_only=eval_only))
    click.echo(f"wrote {target}")
