from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from benchmarks.http_load import serve_until_ready
from service.auth import hash_key
from tests.modelkit import write_models

USER_KEY = "nck_test_user_key_0123456789abcdef"
ADMIN_KEY = "nck_test_admin_key_0123456789abcdef"


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_models(tmp_path_factory.mktemp("models"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    models_dir: Path

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(tmp: Path, models_dir: Path, **env: str) -> Server:
    """`nepcheck serve` in a subprocess on a free port, as a user would start it."""
    keys = tmp / "keys.txt"
    keys.write_text(f"# test keys\nuser:{hash_key(USER_KEY)}\nops:{hash_key(ADMIN_KEY)}:admin\n")
    port = free_port()
    full_env = {
        **os.environ,
        "NEPCHECK_MODELS_DIR": str(models_dir),
        "NEPCHECK_API_KEYS_FILE": str(keys),
        "NEPCHECK_PORT": str(port),
        "NEPCHECK_RATE_LIMIT_PER_MINUTE": "100000",
        "NEPCHECK_RATE_LIMIT_BURST": "10000",
        "NEPCHECK_MAX_BODY_BYTES": str(4 * 1024 * 1024),
        "NEPCHECK_MAX_AUDIO_S": "120",
        "NEPCHECK_MAX_TEXT_CHARS": "20000",
        **env,
    }
    log_path = tmp / f"server-{port}.log"
    process, url = serve_until_ready(full_env, port, log_path, timeout_s=60)
    return Server(url, process, log_path, models_dir)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(15)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("server"), models_dir)
    yield srv
    stop_server(srv)


@pytest.fixture()
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {USER_KEY}"}, timeout=30) as c:
        yield c
