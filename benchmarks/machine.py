"""The machine block every result file carries, so a figure can always be traced to the hardware, the libraries
and the exact model files that produced it (and two files from different machines are not compared blindly)."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from service.registry import read_card
from service.settings import PROJECT_ROOT

LIBRARIES = ("nepcheck", "onnxruntime", "onnxruntime-gpu", "numpy", "tokenizers", "soundfile", "soxr", "av",
             "fastapi", "uvicorn", "httpx", "websockets", "torch", "transformers", "scipy", "scikit-learn",
             "matplotlib")


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape the figures; absent ones are left out."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_revision() -> str | None:
    """The checkout's commit, with `-dirty` when the working tree has changes; None outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if dirty else head


def model_info(directory: Path) -> dict[str, Any]:
    """Name, task, version and every variant's file, precision and sha256 as the card states them."""
    card = read_card(directory)
    return {
        "directory": str(directory), "name": card.name, "task": card.task, "version": card.version,
        "default_variant": card.default_variant,
        "variants": {name: {"file": v.file, "precision": v.precision, "sha256": v.sha256}
                     for name, v in card.variants.items()},
    }


def machine_info(models: list[Path] | None = None) -> dict[str, Any]:
    """CPU, cores, memory, load, OS, Python, library versions, ONNX Runtime providers, git revision and models."""
    import onnxruntime as ort

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    return {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": _memory_gib(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "libraries": library_versions(),
        "onnxruntime_providers": ort.get_available_providers(),
        "git": git_revision(),
        "models": [model_info(m) for m in models or []],
    }


def same_machine_class(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """How two machine blocks differ in what moves timings (CPU, cores, ONNX Runtime); empty when they match."""
    differences = []
    for key in ("cpu_model", "usable_cores"):
        if a.get(key) != b.get(key):
            differences.append(f"{key}: {a.get(key)} vs {b.get(key)}")
    ort_a, ort_b = (m.get("libraries", {}).get("onnxruntime") for m in (a, b))
    if ort_a != ort_b:
        differences.append(f"onnxruntime: {ort_a} vs {ort_b}")
    return differences
