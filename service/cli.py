"""The `nepcheck` command. Groups import their heavy dependencies only when run, so `nepcheck serve` never
loads torch and `--help` is instant.

The service's own commands live here (serve, score, keys). Other packages add command groups through the
`nepcheck.commands` entry point group (`pyproject.toml`): training registers corpus, train, export and eval.
Each is imported only when named, and the service names no training module.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from service.audio.codecs import RAW_ENCODINGS
from service.errors import ModelError, NepcheckError

COMMAND_ENTRY_POINTS = "nepcheck.commands"


def _fail(message: str) -> None:
    click.echo(f"nepcheck: error: {message}", err=True)
    sys.exit(2)


def _settings(**overrides: Any) -> Any:
    from service.settings import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        _fail(f"invalid setting {('NEPCHECK_' + where.upper()) if where else ''}: {first['msg']}")


class PluginGroup(click.Group):
    """The top-level group: its own commands plus those registered under `nepcheck.commands`, loaded on use."""

    @staticmethod
    def _registered() -> dict[str, EntryPoint]:
        return {ep.name: ep for ep in entry_points(group=COMMAND_ENTRY_POINTS)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._registered()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        entry = self._registered().get(cmd_name) if command is None else None
        if entry is None:
            return command
        try:
            loaded = entry.load()
        except ImportError as exc:
            _fail(f"'{cmd_name}' needs the training extra: pip install -e '.[train]' ({exc})")
        assert isinstance(loaded, click.Command), f"entry point {entry.value} is not a click command"
        return loaded


@click.group(cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nepcheck")
def main() -> None:
    """nepcheck: detect synthetic voices in calls and scam texts in ads and messages."""


@main.command()
@click.option("--host", default=None, help="bind address (NEPCHECK_HOST, default 127.0.0.1)")
@click.option("--port", type=int, default=None, help="port (NEPCHECK_PORT, default 8000)")
def serve(host: str | None, port: int | None) -> None:
    """Start the HTTP/WebSocket API on the models in NEPCHECK_MODELS_DIR."""
    import uvicorn

    from service.app import create_app
    from service.http_protocol import with_header_timeout
    from service.loaded_models import ModelSet
    from service.metrics import Metrics

    settings = _settings(host=host, port=port)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    metrics = Metrics()
    try:
        models = ModelSet.load(settings, metrics)
        app = create_app(settings, models=models, metrics=metrics)
    except (ModelError, ValueError, OSError) as exc:
        _fail(str(exc))
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False,
        ws_max_size=1 << 20, timeout_graceful_shutdown=int(settings.request_timeout_s) + 1,
        http=with_header_timeout(settings.header_timeout_s),
        # The app reads X-Forwarded-For itself, from NEPCHECK_TRUSTED_PROXIES only; uvicorn's own handling would
        # believe any local process by default (FORWARDED_ALLOW_IPS=127.0.0.1) and rewrite the client address.
        proxy_headers=False,
    )


@main.group()
def score() -> None:
    """Score files or texts locally, without a server; prints one JSON object per input."""


def _run_local(task: str, inputs: list[tuple[str, Any]], scorer: Any) -> None:
    """Score each `(label, item)` and print one JSON line per item, its label as `input`."""
    from service.loaded_models import load_text, load_voice

    settings = _settings(auth_disabled=True)
    try:
        model = load_voice(settings) if task == "voice" else load_text(settings)
    except ModelError as exc:
        _fail(str(exc))

    async def run() -> int:
        model.batcher.start()
        failures = 0
        try:
            for label, item in inputs:
                record: dict[str, Any] = {"input": label}
                try:
                    record.update((await scorer(model, item, settings)).model_dump())
                except (NepcheckError, OSError) as exc:
                    failures += 1
                    record["error"] = {"code": getattr(exc, "code", "io_error"), "detail": str(exc)}
                click.echo(json.dumps(record, ensure_ascii=False))
        finally:
            await model.batcher.close()
        return failures

    sys.exit(1 if asyncio.run(run()) else 0)


@score.command("voice")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--encoding", type=click.Choice(RAW_ENCODINGS),
              help="the FILES are headerless audio in this encoding; refused for a file with a container header")
@click.option("--sample-rate", type=int, help="rate of headerless input (with --encoding; default 8000)")
def score_voice_files(files: tuple[Path, ...], encoding: str | None, sample_rate: int | None) -> None:
    """Score audio FILES for synthetic or cloned speech.

    Files with a container (WAV, FLAC, Ogg, MP3, M4A/MP4, ADTS AAC) are read by their header. --encoding and
    --sample-rate are for headerless audio (G.711 mu-law or A-law, 16-bit PCM) and apply to every file named: a
    file with a container header is refused with them, so score such files in a separate command without
    --encoding.
    """
    from service.audio import container_signature, decode_audio
    from service.scoring import score_voice

    if sample_rate is not None and encoding is None:
        raise click.UsageError("--sample-rate is for headerless audio: give --encoding too")
    if encoding is not None:
        for path in files:
            try:
                with path.open("rb") as handle:
                    head = handle.read(8192)
            except OSError:
                continue  # reported with the file's result
            container = container_signature(head)
            if container is not None:
                raise click.UsageError(
                    f"{path} has a {container} header, but --encoding {encoding} says the files are headerless; "
                    "score files with a container without --encoding (in a separate command)"
                )

    async def scorer(model: Any, path: Path, settings: Any) -> Any:
        audio = decode_audio(path.read_bytes(), encoding=encoding, sample_rate=sample_rate,
                             max_duration_s=settings.max_audio_s, max_decoded_samples=settings.max_decoded_samples)
        return await score_voice(model, audio, deadline=time.monotonic() + 600)

    _run_local("voice", [(str(path), path) for path in files], scorer)


@score.command("text")
@click.argument("texts", nargs=-1, required=True)
@click.option("--lang", default=None, help="language hint, echoed back")
def score_texts(texts: tuple[str, ...], lang: str | None) -> None:
    """Score TEXTS for investment and bank-helpdesk scams ('-' reads one text from stdin).

    Each result's `input` is the text's position ("#1", "#2", ...) or "stdin", never the text itself.
    """
    from service.scoring import score_text

    items = [("stdin", sys.stdin.read()) if t == "-" else (f"#{n}", t) for n, t in enumerate(texts, 1)]

    async def scorer(model: Any, text: str, settings: Any) -> Any:
        return await score_text(model, text, lang=lang, deadline=time.monotonic() + 600)

    _run_local("text", items, scorer)


@main.command("scan")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--out", "output", required=True, type=click.Path(path_type=Path),
              help="results file (.jsonl, .csv or .parquet); an unfinished one is resumed")
@click.option("--format", "input_format", type=click.Choice(["jsonl", "csv", "parquet"]),
              help="INPUT's format when its suffix does not say")
@click.option("--out-format", type=click.Choice(["jsonl", "csv", "parquet"]),
              help="OUTPUT's format when its suffix does not say")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--workers", type=click.IntRange(1, 256), default=1, show_default=True,
              help="local engine: processes, each holding the models")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=32, show_default=True, help="rows per batch")
@click.option("--concurrency", type=click.IntRange(1, 4096), default=None,
              help="ray engine: scorer actors (default: one per CPU the cluster has, at most 8)")
@click.option("--num-gpus", type=float, default=None,
              help="ray engine: GPUs per scorer actor (default 1 when the cluster has GPUs, else 0)")
@click.option("--ray-address", default=None, help="ray engine: cluster address (default: RAY_ADDRESS or a local Ray)")
@click.option("--progress/--no-progress", default=True, show_default=True, help="progress line on stderr")
def scan_ads(input_path: Path, output: Path, input_format: str | None, out_format: str | None, engine: str,
             workers: int, batch_size: int, concurrency: int | None, num_gpus: float | None,
             ray_address: str | None, progress: bool) -> None:
    """Score every ad in INPUT (JSONL, CSV or Parquet rows of id, text and optionally audio_base64 or
    audio_path, landing_url, advertiser) into OUTPUT, one record per row; prints a JSON summary.

    A bad row becomes an error record with a code and the scan goes on. Killed at any moment, the same command
    resumes where it stopped, without losing or repeating a row. An audio_path is read relative to INPUT's folder.
    """
    if engine == "ray":
        try:
            from service.batch.ray_scan import run_ray_scan
        except ImportError as exc:
            _fail(f"--engine ray needs the scale extra: pip install -e '.[scale]' ({exc})")
        settings = _settings(auth_disabled=True)
        try:
            summary = run_ray_scan(input_path, output, settings, input_format=input_format, output_format=out_format,
                                   batch_size=batch_size, concurrency=concurrency, num_gpus=num_gpus,
                                   address=ray_address)
        except ValueError as exc:
            _fail(str(exc))
        click.echo(json.dumps(summary, ensure_ascii=False))
        return
    from concurrent.futures import BrokenExecutor

    from service.batch import local

    overrides = {"auth_disabled": True}
    settings = _settings(**overrides)
    try:
        scan_plan = local.plan(input_path, output, input_format, out_format)
    except local.ScanSetupError as exc:
        _fail(str(exc))
    try:
        summary = asyncio.run(local.run(scan_plan, settings, workers=workers, batch_size=batch_size,
                                        progress=progress, overrides=overrides))
    except (ModelError, OSError, BrokenExecutor) as exc:
        _fail(str(exc) or "a worker process died; the results so far are kept, run the command again to resume")
    click.echo(json.dumps(summary, ensure_ascii=False))


@main.group()
def keys() -> None:
    """API keys: the service stores only their sha256."""


@keys.command("new")
@click.argument("key_id")
@click.option("--admin", is_flag=True, help="allow model reloads with this key")
def keys_new(key_id: str, admin: bool) -> None:
    """Print a new key for KEY_ID (give it to the client) and the line for the keys file (keep it)."""
    from service.auth import hash_key, new_key, parse_entries

    key = new_key()
    line = f"{key_id}:{hash_key(key)}" + (":admin" if admin else "")
    try:
        parse_entries([line], "key id")
    except ValueError:
        _fail("KEY_ID may hold letters, digits, '_', '.', '-' (at most 64)")
    click.echo(f"key (give to the client, shown once): {key}")
    click.echo(f"keys file line: {line}")


if __name__ == "__main__":
    main()
