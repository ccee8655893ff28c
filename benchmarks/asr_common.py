"""Shared pieces of the ASR benchmarks: loading the service's ASR model, reading clips, word error rate."""

from __future__ import annotations

import io
import json
import platform
import re
import subprocess
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from service.asr.model import SAMPLE_RATE, AsrModel, load_asr
from service.audio import resample
from service.settings import PROJECT_ROOT, Settings

RESULTS = PROJECT_ROOT / "benchmarks" / "results"


def load_model(models_dir: Path, *, threads: int, concurrency: int = 1) -> AsrModel:
    settings = Settings(models_dir=models_dir, asr_threads=threads, asr_concurrency=concurrency)
    model = load_asr(settings)
    if model is None:
        raise SystemExit(f"no assembled ASR model in {models_dir}/asr: run make install-asr")
    return model


def to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    mono = mono.astype(np.float32)
    return mono if rate == SAMPLE_RATE else resample(mono, rate, SAMPLE_RATE)


def read_audio(data: bytes | Path) -> tuple[np.ndarray, int]:
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    samples, rate = sf.read(source, dtype="float32", always_2d=False)
    return samples, int(rate)


def git_show(repo: Path, path: str) -> bytes:
    """A file of a bare git snapshot (the mirrors under /work/.mirror have no work tree)."""
    return subprocess.run(["git", f"--git-dir={repo}", "show", f"HEAD:{path}"], check=True,
                          capture_output=True).stdout


def normalise(text: str) -> list[str]:
    """Lower case, punctuation removed (apostrophes inside words kept), accents kept; no number expansion."""
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    text = re.sub(r"[^\w\s']", " ", text)
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)
    return text.split()


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance over words (substitutions + deletions + insertions)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i] + [0] * len(hypothesis)
        for j, hyp in enumerate(hypothesis, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp))
        previous = current
    return previous[-1]


def machine() -> dict[str, Any]:
    import os

    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "load_1min": round(os.getloadavg()[0], 2),
            "note": "shared machine: other agents' jobs ran at the same time, so times are upper bounds"}


def write_json(name: str, payload: dict[str, Any], out: Path | None) -> Path:
    path = out or RESULTS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return path
