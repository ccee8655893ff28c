"""The training side of the `nepcheck` command: the `corpus`, `train`, `export` and `eval` groups.

`service.cli` finds these groups through the `nepcheck.commands` entry points in `pyproject.toml`. Heavy imports
(torch, synthesisers) happen inside each command; each task's commands live beside its code
(`training.voice.cli`, `training.text.cli`) and are imported only when named.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from training.corpora.loaders.demo_pages import PageSummary


def setup_logging() -> None:
    """One log set-up for every training command: our progress at INFO, libraries at WARNING (onnxruntime's
    quantiser, for one, logs every tensor at INFO)."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for name in ("training", "service"):
        logging.getLogger(name).setLevel(logging.INFO)


class LazyGroup(click.Group):
    """A group whose subcommands are 'module:attribute' strings imported on first use (click's documented
    lazy-loading pattern)."""

    def __init__(self, *args: Any, lazy_subcommands: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = lazy_subcommands or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy_subcommands])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy_subcommands:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = self.lazy_subcommands[cmd_name].split(":")
        try:
            command = getattr(importlib.import_module(module_name), attribute)
        except ImportError as exc:
            click.echo(f"nepcheck: error: '{cmd_name}' needs the training extra: pip install -e '.[train]' ({exc})",
                       err=True)
            sys.exit(2)
        assert isinstance(command, click.Command)
        return command


@click.group()
def corpus() -> None:
    """Build, load, copy-synthesise and audit speech corpora (manifests in one schema)."""


@corpus.command("manifest")
@click.argument("name")
@click.argument("root", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True, help="manifest CSV to write")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE", help="loader option, e.g. track=DF")
def manifest_command(name: str, root: Path, out: Path, options: tuple[str, ...]) -> None:
    """Read public corpus NAME at ROOT into a manifest (asvspoof2019_la, asvspoof2021, asvspoof5, in_the_wild,
    wavefake, mlaad, csv, demo_pages)."""
    setup_logging()
    from training.corpora.loaders import load_corpus
    from training.corpora.manifest import write_manifest

    kwargs: dict[str, object] = {}
    for option in options:
        key, _, value = option.partition("=")
        kwargs[key] = Path(value) if key.endswith(("root", "protocol")) else value
    rows = load_corpus(name, root, **kwargs)
    count = write_manifest(rows, out)
    labels = {label: sum(r.label == label for r in rows) for label in ("bonafide", "spoof")}
    click.echo(f"wrote {count} rows to {out}: {labels['bonafide']} bona fide, {labels['spoof']} spoof, "
               f"{len({r.system for r in rows})} systems")


@corpus.command("demo-pages")
@click.option("--mirror", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="folder of repository snapshots, one <owner>+<repo>/ each (as fetch lays them out)")
@click.option("--mappings", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=Path("datasets/demo_pages"), show_default=True, help="folder of <owner>__<repo>.yaml mappings")
@click.option("--reserved", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="sha256 list of clips reserved for independent evaluation; they are dropped")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="where audio read from git goes (default datasets/built/demo_pages)")
@click.option("-o", "--out", type=click.Path(path_type=Path), default=None, help="manifest CSV to write")
@click.option("--check", is_flag=True, help="only plan: print what each mapping makes of its snapshot")
def demo_pages_command(mirror: Path, mappings: Path, reserved: Path | None, cache: Path | None, out: Path | None,
                       check: bool) -> None:
    """Read every demo page mapped in MAPPINGS from its snapshot under MIRROR into one manifest (labels from
    each page's HTML, audio from git into a git-ignored cache). Mappings without a snapshot are skipped."""
    setup_logging()
    from training.corpora.loaders.demo_pages import check_all_demo_pages, load_all_demo_pages
    from training.corpora.manifest import write_manifest

    if check:
        summaries = check_all_demo_pages(mirror, mappings)
        click.echo(_demo_page_table(summaries))
        if any(s.problem and s.problem != "no snapshot" for s in summaries):
            raise SystemExit(1)
        return
    if out is None:
        raise click.UsageError("give -o/--out (or --check to only plan)")
    rows = load_all_demo_pages(mirror, mappings, cache_dir=cache, reserved=reserved)
    count = write_manifest(rows, out)
    labels = {label: sum(r.label == label for r in rows) for label in ("bonafide", "spoof")}
    click.echo(f"wrote {count} rows to {out}: {labels['bonafide']} bona fide, {labels['spoof']} spoof, "
               f"{len({r.source for r in rows})} pages, {len({r.system for r in rows if r.label == 'spoof'})} systems")


def _demo_page_table(summaries: list[PageSummary]) -> str:
    """One Markdown row per mapping: what it makes of its snapshot, or why it makes nothing."""
    lines = ["| repo | bona fide | spoof | skipped | unmatched | absent | systems | families |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for s in summaries:
        if s.problem:
            lines.append(f"| {s.repo} ({Path(s.mapping).name}) | {s.problem.replace('|', '/')} | | | | | | |")
        else:
            lines.append(f"| {s.repo} | {s.bonafide} | {s.spoof} | {s.skipped} | {s.unmatched} | {s.absent} | "
                         f"{', '.join(s.systems)} | {', '.join(s.families)} |")
    return "\n".join(lines)


@corpus.command("build")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="corpus folder to write")
@click.option("--manifest", "manifests", type=click.Path(exists=True, path_type=Path), multiple=True,
              help="CSV manifest of clips (both labels; e.g. the shared speech manifest or vocoded.csv)")
@click.option("--bonafide", "bonafide_dirs", type=click.Path(exists=True, file_okay=False, path_type=Path),
              multiple=True, help="folder of real speech (every audio file below it)")
@click.option("--rate", type=int, default=16_000, show_default=True, help="working sample rate")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--tts-per-engine", type=int, default=80, show_default=True,
              help="sentences per synthesiser and language, spread over its voices")
@click.option("--resynth-clips", type=int, default=120, show_default=True, help="bona fide clips per resynthesiser")
@click.option("--max-per-source", type=int, default=300, show_default=True, help="cap per source, label, system")
@click.option("--min-source-rate", type=int, default=None,
              help="drop clips recorded below this rate (default: the working rate)")
@click.option("--no-tts", is_flag=True, help="no offline synthesisers")
@click.option("--no-resynthesis", is_flag=True, help="no WORLD/MLSA/Griffin-Lim copies")
@click.option("--workers", type=int, default=2, show_default=True)
def build_command(out: Path, manifests: tuple[Path, ...], bonafide_dirs: tuple[Path, ...], rate: int, seed: int,
                  tts_per_engine: int, resynth_clips: int, max_per_source: int, min_source_rate: int | None,
                  no_tts: bool, no_resynthesis: bool, workers: int) -> None:
    """Build an offline corpus whose classes differ only in synthesis: real speech and every spoof source
    through one randomised recording chain, split by whole systems and sources (OUT/manifest.csv, report.json)."""
    setup_logging()
    from training.corpora.builder import BuildConfig, build

    if not manifests and not bonafide_dirs:
        raise click.UsageError("give at least one --manifest or --bonafide folder")
    config = BuildConfig(rate=rate, seed=seed, tts_per_engine=tts_per_engine, resynth_clips=resynth_clips,
                         max_per_source=max_per_source, min_source_rate=min_source_rate)
    report = build(out, config, manifests=manifests, bonafide_dirs=bonafide_dirs, use_tts=not no_tts,
                   use_resynthesis=not no_resynthesis, workers=workers)
    summary = {k: report[k] for k in ("clips", "hours", "clips_per_split", "speakers", "failures")}
    summary["engines_found"] = sorted(report["engines_found"])
    summary["spoof_systems"] = len(report["systems"])
    click.echo(json.dumps(summary, indent=2))


@corpus.command("vocode")
@click.option("--manifest", type=click.Path(exists=True, path_type=Path), required=True,
              help="manifest whose bona fide clips train the vocoder and are copied")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="folder for checkpoint and copies")
@click.option("--steps", type=int, default=20_000, show_default=True)
@click.option("--minutes", type=float, default=60.0, show_default=True, help="wall-clock training budget")
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option("--adversarial-from", type=int, default=4000, show_default=True)
@click.option("--train-limit", type=int, default=None, help="train on at most this many bona fide clips")
@click.option("--copy-limit", type=int, default=None, help="copy at most this many bona fide clips")
@click.option("--device", default="auto", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def vocode_command(manifest: Path, out: Path, steps: int, minutes: float, batch_size: int, adversarial_from: int,
                   train_limit: int | None, copy_limit: int | None, device: str, seed: int) -> None:
    """Train a small MelGAN-class vocoder on bona fide speech and write copy-synthesised spoofs
    (OUT/vocoded.csv; system id melgan-s<steps>). Rerunning resumes from OUT/checkpoint.pt."""
    setup_logging()
    from training.vocoder import run_vocode
    from training.vocoder.train import TrainConfig

    config = TrainConfig(steps=steps, max_minutes=minutes, batch_size=batch_size,
                         adversarial_from=adversarial_from, seed=seed)
    summary = run_vocode(manifest, out, config, train_limit=train_limit, copy_limit=copy_limit, device=device)
    click.echo(json.dumps(summary, indent=2))


@corpus.command("audit")
@click.argument("manifest", type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="report JSON")
@click.option("--markdown", type=click.Path(path_type=Path), default=None, help="report table (Markdown)")
@click.option("--max-duration", type=float, default=60.0, show_default=True)
def audit_command(manifest: Path, out: Path | None, markdown: Path | None, max_duration: float) -> None:
    """How well each trivial cue (duration, silence, level, sample rate, bandwidth, noise floor, DC, clipping)
    alone separates bona fide from spoof in MANIFEST; cues under 40% EER are flagged."""
    from training.audit import run_audit

    report = run_audit(manifest, out_json=out, out_markdown=markdown, max_duration_s=max_duration)
    click.echo(report.to_markdown())


# One group per verb, with a subcommand per task (`nepcheck train voice`, `nepcheck train text`).
@click.group(cls=LazyGroup, lazy_subcommands={"voice": "training.voice.cli:train_voice_command",
                                              "voice-features": "training.voice.cli:voice_features_command",
                                              "text": "training.text.cli:train_text_command"})
def train() -> None:
    """Train a voice or text detector from a config file."""


@click.group(cls=LazyGroup, lazy_subcommands={"voice": "training.voice.cli:export_voice_command",
                                              "voice-probe": "training.voice.cli:voice_probe_command",
                                              "text": "training.text.cli:export_text_command"})
def export() -> None:
    """Export a trained detector to ONNX with its calibration and model card."""


@click.group(name="eval", cls=LazyGroup, lazy_subcommands={"voice": "training.voice.cli:eval_voice_command",
                                                           "voice-cv": "training.voice.cli:voice_cv_command",
                                                           "voice-frames-cv":
                                                               "training.voice.cli:voice_frames_cv_command",
                                                           "text": "training.text.cli:eval_text_command"})
def evaluate() -> None:
    """Evaluate a detector (ONNX model folder) on a labelled set and write a report."""
