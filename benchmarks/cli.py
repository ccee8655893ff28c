"""`nepcheck bench`: the benchmark suites as one command group (registered under the `nepcheck.commands` entry
points in pyproject.toml; `service.cli` loads it when named).

Each suite writes `<suite>.json` (machine block, settings, rows, flat metrics), `report.md` and PNG plots into a
results folder (default `benchmarks/results/<suite>-<UTC time>/`); `bench compare` judges two such files.
Suites import their heavy parts only when run, so `nepcheck --help` stays instant and `engine` and `http` work
on a service-only install (PyTorch eager and `quality` need the training extra).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from service.settings import PROJECT_ROOT

MODELS = PROJECT_ROOT / "models"


def _setup_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("benchmarks").setLevel(logging.INFO)


def _fail(message: str) -> None:
    click.echo(f"nepcheck bench: error: {message}", err=True)
    sys.exit(2)


def _default_models(models_dir: Path, names: tuple[str, ...] = ("voice", "text")) -> list[Path]:
    from service.errors import ModelError
    from service.registry import resolve

    found = []
    for name in names:
        try:
            found.append(resolve(models_dir, name))
        except ModelError:
            continue
    if not found:
        _fail(f"no model in {models_dir}: name one with --model")
    return found


@click.group()
def bench() -> None:
    """Benchmark suites: engine latency, HTTP load, detection quality, and comparing two runs."""


@bench.command("engine")
@click.option("--model", "models", type=click.Path(exists=True, file_okay=False, path_type=Path), multiple=True,
              help="model version folder (repeat); default: the latest voice and text models in --models-dir")
@click.option("--models-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=MODELS,
              show_default=True)
@click.option("--batch", "batches", type=click.IntRange(1, 1024), multiple=True, help="batch sizes [1 4 16 64]")
@click.option("--threads", type=click.IntRange(0, 256), multiple=True,
              help="intra-op threads for ONNX Runtime and PyTorch (repeat); 0 = ONNX Runtime's default [0]")
@click.option("--runs", type=click.IntRange(1), default=30, show_default=True, help="timed calls per row (at most)")
@click.option("--budget-s", type=float, default=4.0, show_default=True,
              help="stop a row after this many seconds (at least 3 calls)")
@click.option("--no-eager", is_flag=True, help="skip PyTorch eager (and the voice fp32 re-export)")
@click.option("--text-checkpoint", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="fine-tuned transformers folder of the text model, for its PyTorch eager row")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="results folder")
def engine_command(models: tuple[Path, ...], models_dir: Path, batches: tuple[int, ...], threads: tuple[int, ...],
                   runs: int, budget_s: float, no_eager: bool, text_checkpoint: Path | None, out: Path | None) -> None:
    """Latency (p50/p95/p99), throughput and real-time factor per model, variant, batch size and thread count,
    with PyTorch eager of the same network in the same run when the training extra is installed."""
    _setup_logging()
    from benchmarks import engine
    from benchmarks.machine import machine_info
    from benchmarks.report import machine_line, results_dir, write_results

    chosen = list(models) or _default_models(models_dir)
    out_dir = results_dir("engine", out)
    machine = machine_info(chosen)
    settings = {"models": [str(m) for m in chosen], "batches": list(batches or engine.DEFAULT_BATCHES),
                "threads": list(threads or (0,)), "runs": runs, "budget_s": budget_s, "eager": not no_eager,
                "text_checkpoint": str(text_checkpoint) if text_checkpoint else None}
    batch_list, thread_list = list(batches or engine.DEFAULT_BATCHES), list(threads or (0,))
    results = [engine.bench_model(m, batches=batch_list, threads=thread_list, runs=runs,
                                  budget_s=budget_s, eager=not no_eager, text_checkpoint=text_checkpoint)
               for m in chosen]
    plots = engine.plot(results, out_dir)
    text = engine.markdown(results, machine_line(machine), plots)
    path = write_results(out_dir, "engine", machine=machine, settings=settings, results=results,
                         metrics=engine.metrics_of([r for m in results for r in m["rows"]]), markdown=text,
                         files=plots)
    click.echo(text)
    click.echo(f"wrote {path}")


@bench.command("http")
@click.option("--models-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=MODELS,
              show_default=True, help="models the started server loads")
@click.option("--url", default=None, help="measure a running server instead of starting one")
@click.option("--api-key", envvar="NEPCHECK_BENCH_KEY", default=None, help="for --url (env NEPCHECK_BENCH_KEY)")
@click.option("--seconds", type=click.FloatRange(1.0, 60.0), default=4.0, show_default=True, help="clip length")
@click.option("--requests", type=click.IntRange(1), default=200, show_default=True, help="requests per row")
@click.option("--concurrency", type=click.IntRange(1, 1024), multiple=True, help="levels [1 4 16 64]")
@click.option("--stream-calls", type=click.IntRange(0, 256), multiple=True,
              help="concurrent live calls on /v1/voice/stream [1 4]; 0 skips the stream")
@click.option("--stream-seconds", type=click.FloatRange(4.0, 600.0), default=10.0, show_default=True)
@click.option("--stream-pace", type=click.FloatRange(0.0), default=1.0, show_default=True,
              help="1 = real time, 2 = twice as fast, 0 = as fast as possible")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="results folder")
def http_command(models_dir: Path, url: str | None, api_key: str | None, seconds: float, requests: int,
                 concurrency: tuple[int, ...], stream_calls: tuple[int, ...], stream_seconds: float,
                 stream_pace: float, out: Path | None) -> None:
    """Start the real server and sweep concurrency on /v1/voice/score (WAV and 8 kHz mu-law) and /v1/text/score,
    then time live calls on /v1/voice/stream; the bare model call is the baseline in the same run."""
    _setup_logging()
    try:
        import httpx  # noqa: F401
        import websockets  # noqa: F401
    except ImportError as exc:
        _fail(f"bench http needs the dev extra (httpx, websockets): pip install -e '.[dev]' ({exc})")
    from benchmarks import http_load
    from benchmarks.machine import machine_info
    from benchmarks.report import machine_line, results_dir, write_results

    out_dir = results_dir("http", out)
    models = [] if url else _default_models(models_dir)
    machine = machine_info(models)
    calls = [c for c in (stream_calls or (1, 4)) if c > 0]
    levels = list(concurrency or http_load.DEFAULT_CONCURRENCY)
    settings = {"models_dir": str(models_dir), "url": url, "seconds": seconds, "requests": requests,
                "concurrency": levels, "stream_calls": calls,
                "stream_seconds": stream_seconds, "stream_pace": stream_pace}
    try:
        result = http_load.run_http(models_dir=models_dir, url=url, api_key=api_key, seconds=seconds,
                                    requests=requests, concurrency=levels, stream_calls=calls,
                                    stream_seconds=stream_seconds, stream_pace=stream_pace, out_dir=out_dir)
    except RuntimeError as exc:
        _fail(str(exc))
    plots = http_load.plot(result, out_dir)
    text = http_load.markdown(result, settings, machine_line(machine), plots)
    path = write_results(out_dir, "http", machine=machine, settings=settings, results=result,
                         metrics=http_load.metrics_of(result), markdown=text, files=plots)
    click.echo(text)
    click.echo(f"wrote {path}")


@bench.command("quality")
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="voice manifest CSV (nepcheck corpus manifest NAME ROOT writes one for any loader)")
@click.option("--corpus", default=None, help="or a loader name (asvspoof2019_la, asvspoof2021, asvspoof5, "
              "in_the_wild, wavefake, mlaad, demo_pages, csv) with --root")
@click.option("--root", type=click.Path(exists=True, path_type=Path), default=None, help="the corpus's folder")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE", help="loader option, e.g. track=DF")
@click.option("--voice-model", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="voice model folder [latest in models/]")
@click.option("--variant", default="default", show_default=True, help="card variant of each model")
@click.option("--split", default="all", show_default=True, help="manifest split to score (train, dev, eval, all)")
@click.option("--source", "sources", multiple=True, help="only rows of this manifest source (repeat)")
@click.option("--condition", "conditions", multiple=True,
              help="channel condition (repeat) [clean mulaw8k alaw8k bandpass opus8k packetloss5 noise20db]")
@click.option("--limit", type=click.IntRange(2), default=None, help="score a balanced, seeded subset of this size")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-cue-baseline", is_flag=True, help="skip the trivial-cue baseline (training.audit)")
@click.option("--texts", "texts", type=click.Path(exists=True, path_type=Path), multiple=True,
              help="labelled texts: a seed-layout folder, JSONL or CSV (repeat)")
@click.option("--text-model", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="text model folder [latest in models/]")
@click.option("--text-split", default="all", show_default=True, help="split of the texts (train, dev, test, all)")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="results folder")
def quality_command(manifest: Path | None, corpus: str | None, root: Path | None, options: tuple[str, ...],
                    voice_model: Path | None, variant: str, split: str, sources: tuple[str, ...],
                    conditions: tuple[str, ...], limit: int | None, seed: int, no_cue_baseline: bool,
                    texts: tuple[Path, ...], text_model: Path | None, text_split: str, out: Path | None) -> None:
    """EER, minDCF, actDCF, Cllr and ROC AUC per channel condition and system, DET plots and ASVspoof score
    files for voice; precision, recall, F1 and false-positive rate per language, kind and source for text."""
    _setup_logging()
    try:
        from benchmarks import quality
    except ImportError as exc:
        _fail(f"bench quality needs the training extra: pip install -e '.[train]' ({exc})")
    from benchmarks.machine import machine_info
    from benchmarks.report import machine_line, results_dir, write_results

    wants_voice = manifest is not None or corpus is not None
    if not wants_voice and not texts:
        raise click.UsageError("give a voice set (--manifest, or --corpus with --root) and/or --texts")
    if manifest is not None and corpus is not None:
        raise click.UsageError("give --manifest or --corpus, not both")
    voice_dir = voice_model or (_default_models(MODELS, ("voice",))[0] if wants_voice else None)
    text_dir = text_model or (_default_models(MODELS, ("text",))[0] if texts else None)
    out_dir = results_dir("quality", out)
    machine = machine_info([p for p in (voice_dir, text_dir) if p is not None])
    chosen_conditions = list(conditions)
    if not chosen_conditions:
        from training.channel import CONDITIONS

        chosen_conditions = [c for c in quality.DEFAULT_CONDITIONS if c in CONDITIONS]
    settings = {"manifest": str(manifest) if manifest else None, "corpus": corpus, "root": str(root) if root else None,
                "options": list(options), "voice_model": str(voice_dir) if voice_dir else None, "variant": variant,
                "split": split, "sources": list(sources), "conditions": chosen_conditions, "limit": limit, "seed": seed,
                "texts": [str(t) for t in texts], "text_model": str(text_dir) if text_dir else None,
                "text_split": text_split}
    voice = text = None
    try:
        if wants_voice:
            assert voice_dir is not None
            loader_options = dict(o.partition("=")[::2] for o in options)
            rows, source = quality.load_voice_rows(manifest, corpus, root, loader_options, out_dir)
            voice = quality.run_voice(voice_dir, rows, source, split=split, conditions=chosen_conditions,
                                      limit=limit, seed=seed, variant=variant, out_dir=out_dir, sources=sources,
                                      cue_audit=not no_cue_baseline)
        if texts:
            assert text_dir is not None
            text = quality.run_text(text_dir, list(texts), split=text_split, variant=variant, out_dir=out_dir)
    except ValueError as exc:
        _fail(str(exc))
    markdown = quality.markdown(voice, text, machine_line(machine))
    results = {"voice": {k: voice[k] for k in ("summary", "by_system", "counts", "cue_baseline")} if voice else None,
               "text": text["report"] if text else None}
    files = (voice["files"] if voice else []) + (text["files"] if text else [])
    path = write_results(out_dir, "quality", machine=machine, settings=settings, results=results,
                         metrics=quality.metrics_of(voice, text), markdown=markdown, files=files)
    click.echo(markdown)
    click.echo(f"wrote {path}")


@bench.command("compare")
@click.argument("baseline", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("candidate", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tolerance", type=click.FloatRange(0.0), default=0.10, show_default=True,
              help="relative slack for timings and throughput (0.10 = 10%)")
@click.option("--quality-tolerance", type=click.FloatRange(0.0), default=0.01, show_default=True,
              help="absolute slack for quality figures (0.01 = one EER point)")
@click.option("--all", "show_all", is_flag=True, help="list unchanged metrics too")
@click.option("--json", "as_json", is_flag=True, help="print the comparison as JSON")
def compare_command(baseline: Path, candidate: Path, tolerance: float, quality_tolerance: float, show_all: bool,
                    as_json: bool) -> None:
    """Differences from BASELINE to CANDIDATE (two result JSON files); exit status 1 on regressions beyond the
    tolerance (latency up, throughput down, EER or false-positive rate up, ...)."""
    from benchmarks.compare import compare, render
    from benchmarks.report import read_results

    try:
        a, b = read_results(baseline), read_results(candidate)
    except ValueError as exc:
        _fail(str(exc))
    result = compare(a, b, tolerance=tolerance, quality_tolerance=quality_tolerance)
    if as_json:
        click.echo(json.dumps({**result, "changes": [c.__dict__ for c in result["changes"]],
                               "regressions": [c.key for c in result["regressions"]]}, indent=2))
    else:
        click.echo(render(result, show_all=show_all))
    if result["regressions"]:
        click.echo(f"{len(result['regressions'])} regression(s) beyond tolerance", err=True)
        sys.exit(1)
