"""`nepcheck bench engine`: model latency and throughput per variant and batch size, against PyTorch eager.

For each model folder, every ONNX variant its card lists (fp32, int8; fp16 only on a GPU provider, where it is
meant to run) is timed through the service's own session code (`service.engine`) at each batch size and thread
count: p50/p95/p99 latency per call, items per second, and for voice the real-time factor (compute seconds per
second of audio). When the training extra is installed, the same network runs in PyTorch eager in the same run
and each row carries the ratio to it: the voice network is rebuilt from the card (random weights; latency does
not depend on their values) and also exported to fp32 ONNX, so an int8-only model still shows what int8 buys;
the text network needs its fine-tuned checkpoint (`--text-checkpoint`). The speech gate (Silero VAD) the
service runs before the voice model is timed too.

Inputs: random 4 s windows for voice (the graphs have no data-dependent branches), and for text the first token
window of the seed corpus's texts (or a few fixed sentences without it), padded per batch as the service pads.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from benchmarks.report import metric, new_figure, plotting_available, table
from benchmarks.timing import time_calls
from service import engine
from service.card import ModelCard, TextInput, VoiceInput
from service.registry import load_artifact
from service.settings import PROJECT_ROOT
from service.text.tokenize import TextEncoder

log = logging.getLogger(__name__)

DEFAULT_BATCHES = (1, 4, 16, 64)
SEED_TEXTS = PROJECT_ROOT / "datasets" / "text_seed"
FALLBACK_TEXTS = (
    "Uw rekening is geblokkeerd. Maak vandaag nog uw saldo over naar een veilige rekening.",
    "Verdien 500 euro per dag met deze bitcoin robot, gegarandeerd rendement.",
    "Hoi, eten we vanavond samen? Ik ben rond zeven uur thuis.",
    "Your parcel could not be delivered. Pay the customs fee here within 24 hours or it will be returned.",
    "Thanks for the meeting today, I'll send the minutes tomorrow morning.",
    "The bank will never ask for your PIN or a code by phone. If someone does, hang up and call us back.",
)

# (batch) -> a zero-argument call that runs one batch
CallFactory = Callable[[int], Callable[[], object]]
SessionFactory = Callable[[Path, int], ort.InferenceSession]


@dataclass
class Subject:
    """One way of running a model: an ONNX variant or PyTorch eager, at one thread count."""

    engine: str
    provider: str
    make_call: CallFactory
    is_eager: bool = False


def cpu_session_factory(providers: Sequence[str] = ("cpu",)) -> SessionFactory:
    def make(path: Path, threads: int) -> ort.InferenceSession:
        return engine.create_session(path, providers=list(providers), intra_op_threads=threads)

    return make


def _bench_texts(count: int = 256) -> list[str]:
    try:
        from training.text.corpora import load_seed

        return [r.text for r in load_seed(SEED_TEXTS)][:count]
    except (ImportError, FileNotFoundError, ValueError):
        return list(FALLBACK_TEXTS)


def text_windows(encoder: TextEncoder, count: int = 256) -> list[np.ndarray]:
    return [encoder.windows(t)[0].input_ids for t in _bench_texts(count)]


def voice_inputs(card: ModelCard, batches: Sequence[int]) -> dict[int, np.ndarray]:
    spec = card.input
    assert isinstance(spec, VoiceInput)
    rng = np.random.default_rng(0)
    return {b: (0.1 * rng.standard_normal((b, spec.window_samples))).astype(np.float32) for b in batches}


def text_inputs(directory: Path, card: ModelCard, batches: Sequence[int]) -> dict[int, dict[str, np.ndarray]]:
    spec = card.input
    assert isinstance(spec, TextInput)
    encoder = TextEncoder(directory / spec.tokenizer, max_length=spec.max_length, stride=spec.stride)
    windows = text_windows(encoder)
    return {b: encoder.collate([windows[j % len(windows)] for j in range(b)]) for b in batches}


def eager_voice(card: ModelCard) -> tuple[Any, str]:
    """The card's voice network in PyTorch with random weights, or (None, why not)."""
    network = (card.model_extra or {}).get("network") or {}
    name = network.get("name")
    spec = card.input
    assert isinstance(spec, VoiceInput)
    try:
        import torch  # noqa: F401
    except ImportError:
        return None, "PyTorch is not installed (pip install -e '.[train]')"
    if name == "probe":
        from training.voice.pooled import ProbeDetector, build_front_end

        front_ends = network.get("front_ends", ["whisper", "lfcc"])
        size = sum(build_front_end(n).n_features for n in front_ends)
        rng = np.random.default_rng(1)
        model = ProbeDetector(front_ends, mean=np.zeros(size, np.float32), scale=np.ones(size, np.float32),
                              weight=(0.01 * rng.standard_normal(size)).astype(np.float32), bias=0.0)
        return model.eval(), f"probe ({'+'.join(front_ends)})"
    from training.voice.networks import NETWORKS, build_network

    if name in NETWORKS:
        import torch

        torch.manual_seed(0)
        return build_network(name, sample_rate=spec.sample_rate, window_samples=spec.window_samples).eval(), name
    return None, f"the card names no network the training package can build (network: {name!r})"


def eager_text(checkpoint: Path | None) -> tuple[Any, str]:
    if checkpoint is None:
        return None, "no --text-checkpoint given (the fine-tuned transformers folder the model was exported from)"
    try:
        from transformers import AutoModelForSequenceClassification
    except ImportError:
        return None, "transformers is not installed (pip install -e '.[train]')"
    return AutoModelForSequenceClassification.from_pretrained(checkpoint).eval(), str(checkpoint)


def _onnx_call(session: ort.InferenceSession, feeds: dict[int, Any], task: str) -> CallFactory:
    def make(batch: int) -> Callable[[], object]:
        feed = {"waveform": feeds[batch]} if task == "voice" else feeds[batch]
        return partial(engine.run_logits, session, feed)

    return make


def _eager_call(model: Any, feeds: dict[int, Any], task: str) -> CallFactory:
    import torch

    def make(batch: int) -> Callable[[], object]:
        if task == "voice":
            x = torch.from_numpy(feeds[batch])

            def run() -> object:
                with torch.inference_mode():
                    return model(x)
        else:
            tensors = {k: torch.from_numpy(v) for k, v in feeds[batch].items()}

            def run() -> object:
                with torch.inference_mode():
                    return model(**tensors).logits
        return run

    return make


def bench_model(
    directory: Path,
    *,
    batches: Sequence[int] = DEFAULT_BATCHES,
    threads: Sequence[int] = (0,),
    runs: int = 30,
    budget_s: float = 4.0,
    warmup: int = 2,
    eager: bool = True,
    text_checkpoint: Path | None = None,
    session_factory: SessionFactory | None = None,
    provider: str = "cpu",
) -> dict[str, Any]:
    """Every row for one model folder, plus what was skipped and why."""
    card = load_artifact(directory).card
    task = card.task
    label = f"{card.name} {card.version}"
    make_session = session_factory or cpu_session_factory()
    gpu = provider != "cpu"
    feeds: dict[int, Any] = voice_inputs(card, batches) if task == "voice" else text_inputs(directory, card, batches)
    skipped: list[str] = []
    rows: list[dict[str, Any]] = []

    eager_model, eager_note = (None, "not asked for (--no-eager)")
    if eager and not gpu:
        eager_model, eager_note = eager_voice(card) if task == "voice" else eager_text(text_checkpoint)
    elif eager:
        eager_note = "PyTorch eager is compared on CPU runs only"
    if eager_model is None:
        skipped.append(f"{label}: PyTorch eager: {eager_note}")

    with tempfile.TemporaryDirectory() as tmp:
        graphs: dict[str, Path] = {}
        for name, variant in card.variants.items():
            if variant.precision == "fp16" and not gpu:
                skipped.append(f"{label}: variant {name} (fp16) is for GPU providers; not timed on CPU")
                continue
            load_artifact(directory, variant=name)  # hash check, as the service does
            graphs[f"onnx {name}"] = directory / variant.file
        has_fp32 = any(v.precision == "fp32" for v in card.variants.values())
        if task == "voice" and eager_model is not None and not has_fp32:
            from training.voice.onnx_export import export_onnx

            spec = card.input
            assert isinstance(spec, VoiceInput)
            fp32 = Path(tmp) / "fp32.onnx"
            export_onnx(eager_model, fp32, window_samples=spec.window_samples)
            graphs["onnx fp32 (re-exported, same graph)"] = fp32

        for n_threads in threads:
            subjects: list[Subject] = []
            if eager_model is not None:
                import torch

                torch.set_num_threads(n_threads or os.cpu_count() or 1)
                subjects.append(Subject("pytorch eager fp32", "cpu", _eager_call(eager_model, feeds, task), True))
            for name, path in graphs.items():
                session = make_session(path, n_threads)
                subjects.append(Subject(name, provider, _onnx_call(session, feeds, task)))
            for batch in batches:
                eager_p50 = None
                for subject in subjects:
                    t = time_calls(subject.make_call(batch), runs=runs, warmup=warmup, budget_s=budget_s)
                    if subject.is_eager:
                        eager_p50 = t["p50"]
                    row = {"model": label, "task": task, "engine": subject.engine, "provider": subject.provider,
                           "threads": n_threads, "batch": batch, "p50_ms": t["p50"], "p95_ms": t["p95"],
                           "p99_ms": t["p99"], "mean_ms": t["mean"], "n": t["n"],
                           "per_item_ms": t["p50"] / batch, "items_per_s": 1000.0 * batch / t["p50"],
                           "x_eager": (eager_p50 / t["p50"]) if eager_p50 else None}
                    if task == "voice":
                        spec = card.input
                        assert isinstance(spec, VoiceInput)
                        row["rtf"] = t["p50"] / (1000.0 * batch * spec.window_s)
                    rows.append(row)
                    log.info("%s %s t%d b%d p50 %.2f ms", label, subject.engine, n_threads, batch, t["p50"])
        if task == "voice":
            rows.append(_speech_gate_row(card, label, runs, budget_s))
        elif card.ngram is not None:
            rows.append(_ngram_row(directory, label, runs, budget_s))
    return {"model": label, "task": task, "eager": eager_note if eager_model is not None else None,
            "rows": rows, "skipped": skipped}


def _speech_gate_row(card: ModelCard, label: str, runs: int, budget_s: float) -> dict[str, Any]:
    from service.audio.vad import frame_probabilities

    spec = card.input
    assert isinstance(spec, VoiceInput)
    clip = (0.1 * np.random.default_rng(2).standard_normal(spec.window_samples)).astype(np.float32)
    t = time_calls(lambda: frame_probabilities(clip, spec.sample_rate), runs=runs, budget_s=budget_s)
    return {"model": label, "task": "voice", "engine": "speech gate (Silero VAD)", "provider": "cpu",
            "threads": 1, "batch": 1, "p50_ms": t["p50"], "p95_ms": t["p95"], "p99_ms": t["p99"],
            "mean_ms": t["mean"], "n": t["n"], "per_item_ms": t["p50"], "items_per_s": 1000.0 / t["p50"],
            "x_eager": None, "rtf": t["p50"] / (1000.0 * spec.window_s)}


def _ngram_row(directory: Path, label: str, runs: int, budget_s: float) -> dict[str, Any]:
    """The text model's n-gram half per text, features included: the service runs it once per text beside the
    transformer's windows."""
    from service.text.ngram_model import NgramModel
    from service.text.normalize import normalize

    model = NgramModel.of(load_artifact(directory))
    assert model is not None
    texts = [normalize(t).text for t in _bench_texts()][:64]
    t = time_calls(lambda: [model.llr([text]) for text in texts], runs=runs, budget_s=budget_s)
    per_text = t["p50"] / len(texts)
    return {"model": label, "task": "text", "engine": "n-gram half (features + onnx), per text", "provider": "cpu",
            "threads": 1, "batch": 1, "p50_ms": per_text, "p95_ms": t["p95"] / len(texts),
            "p99_ms": t["p99"] / len(texts), "mean_ms": t["mean"] / len(texts), "n": t["n"],
            "per_item_ms": per_text, "items_per_s": 1000.0 / per_text, "x_eager": None}


def row_key(row: dict[str, Any]) -> str:
    return f"{row['model']} / {row['engine']} / {row['provider']} / threads {row['threads']} / batch {row['batch']}"


def metrics_of(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for row in rows:
        key = row_key(row)
        for name in ("p50_ms", "p95_ms", "p99_ms"):
            out[f"{key} / {name}"] = metric(row[name], "ms", "lower")
        out[f"{key} / items_per_s"] = metric(row["items_per_s"], "1/s", "higher")
    return out


COLUMNS = [("model", "model", ""), ("engine", "engine", ""), ("provider", "provider", ""),
           ("threads", "threads", "d"), ("batch", "batch", "d"), ("p50 ms", "p50_ms", ".2f"),
           ("p95 ms", "p95_ms", ".2f"), ("p99 ms", "p99_ms", ".2f"), ("items/s", "items_per_s", ".1f"),
           ("RTF", "rtf", ".3g"), ("x eager", "x_eager", ".2f")]


def markdown(models: Sequence[dict[str, Any]], machine_text: str, plots: Sequence[str]) -> str:
    rows = [r for m in models for r in m["rows"]]
    lines = ["# nepcheck bench engine", "", f"Machine: {machine_text}", "",
             "Latency per call (one batch); items/s = batch / p50; RTF = compute seconds per second of audio "
             "(voice); x eager = PyTorch eager p50 / this p50 at the same threads and batch (threads 0: ONNX "
             "Runtime's default, all cores).", "", table(rows, COLUMNS)]
    skipped = [s for m in models for s in m["skipped"]]
    if skipped:
        lines += ["Not measured:", "", *(f"- {s}" for s in skipped), ""]
    lines += [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def plot(models: Sequence[dict[str, Any]], out_dir: Path) -> list[str]:
    """engine_latency.png: ms per item against batch size, one line per model, engine and thread count."""
    if not plotting_available():
        return []
    figure = new_figure()
    axes = figure.add_subplot()
    for m in models:
        series: dict[str, list[tuple[int, float]]] = {}
        for r in m["rows"]:
            if r["engine"].startswith("speech gate"):
                continue
            series.setdefault(f"{r['model']} {r['engine']} t{r['threads']}", []).append((r["batch"], r["per_item_ms"]))
        for name, points in series.items():
            xs, ys = zip(*sorted(points), strict=True)
            axes.plot(xs, ys, marker="o", label=name)
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("batch size")
    axes.set_ylabel("ms per item (p50 / batch)")
    axes.grid(True, color="0.9")
    axes.legend(fontsize="x-small")
    figure.tight_layout()
    figure.savefig(out_dir / "engine_latency.png", dpi=110)
    return ["engine_latency.png"]
