"""`nepcheck corpus ...`: corpus commands. Heavy imports (torch, synthesisers) happen inside each command."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


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
    wavefake, mlaad, csv)."""
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
    _setup_logging()
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
