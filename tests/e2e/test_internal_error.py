"""A bug inside a route still answers 500 problem+json, is counted, and leaves the server serving."""

import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

import service.scoring
from service.app import create_app
from service.settings import Settings
from tests.conftest import free_port

pytestmark = pytest.mark.e2e


def test_unexpected_exception_is_a_500_problem_and_the_server_survives(models_dir: Path, monkeypatch) -> None:
    def broken(text: str) -> list:
        raise RuntimeError("a bug")

    monkeypatch.setattr(service.scoring, "find_cues", broken)
    port = free_port()
    app = create_app(Settings(models_dir=models_dir, auth_disabled=True, port=port))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        r = httpx.post(f"{url}/v1/text/score", json={"text": "hello"})
        assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "internal_error" and "a bug" not in r.text  # internals are not leaked
        assert httpx.get(f"{url}/healthz").status_code == 200
        metrics = httpx.get(f"{url}/metrics").text
        assert 'nepcheck_requests_total{method="POST",route="/v1/text/score",status="500"} 1.0' in metrics
    finally:
        server.should_exit = True
        thread.join(10)
