"""Layers point one way (`benchmarks -> training -> service`): the service never loads torch, transformers or
training code. Checked in a fresh interpreter, since this test process has imported everything already."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
FORBIDDEN = ("torch", "transformers", "training")


def _modules_after(code: str) -> list[str]:
    result = subprocess.run([sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _forbidden(modules: list[str], prefixes: tuple[str, ...] = FORBIDDEN) -> list[str]:
    return [m for m in modules if m.split(".")[0] in prefixes]


def test_the_service_imports_no_torch_transformers_or_training() -> None:
    modules = _modules_after("import service.app, service.cli")
    assert "service.app" in modules and "service.cli" in modules
    assert _forbidden(modules) == []


def test_the_command_lists_training_groups_without_loading_torch() -> None:
    # `nepcheck --help` names the training groups (found through entry points) and shows their one-line help,
    # which imports `training.cli` and nothing heavy.
    modules = _modules_after(
        "from click.testing import CliRunner\n"
        "from service.cli import main\n"
        "result = CliRunner().invoke(main, ['--help'])\n"
        "assert result.exit_code == 0 and 'corpus' in result.output and 'train' in result.output, result.output"
    )
    assert _forbidden(modules, ("torch", "transformers")) == []
