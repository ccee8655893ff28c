"""Operations against real servers: readiness, metrics, model listing, hot reload, limits, start-up errors."""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.audiokit import CONTAINERS, loud_speech, speech
from tests.conftest import ADMIN_KEY, USER_KEY, start_server, stop_server
from tests.modelkit import write_models, write_voice_model

pytestmark = pytest.mark.e2e
WAV = CONTAINERS["audio/wav"](speech(4.0), 16000)


def test_health_ready_and_models(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and {m["name"] for m in ready["models"]} == {"voice", "text"}
    models = client.get("/v1/models").json()["models"]
    voice = next(m for m in models if m["task"] == "voice")
    assert voice["providers"] == ["CPUExecutionProvider"]
    assert voice["card"]["input"]["sample_rate"] == 16000 and "sha256" in voice["card"]["variants"]["fp32"]


def test_metrics_count_requests_by_route_and_status(client: httpx.Client) -> None:
    client.post("/v1/voice/score", content=WAV, headers={"Content-Type": "audio/wav"})
    client.post("/v1/voice/score", content=b"", headers={"Content-Type": "audio/wav"})
    text = client.get("/metrics").text
    for name in ("nepcheck_requests_total", "nepcheck_request_duration_seconds_bucket", "nepcheck_queue_wait_seconds",
                 "nepcheck_batch_size", "nepcheck_queue_depth", "nepcheck_inference_seconds"):
        assert name in text
    assert 'nepcheck_requests_total{method="POST",route="/v1/voice/score",status="200"}' in text
    assert 'nepcheck_requests_total{method="POST",route="/v1/voice/score",status="422"}' in text


def test_openapi_documents_every_route(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/v1/voice/score", "/v1/text/score", "/v1/calls/score", "/v1/ads/score", "/v1/models",
                 "/healthz", "/readyz", "/metrics", "/v1/admin/reload"):
        assert path in spec["paths"]
    assert "multipart/form-data" in spec["paths"]["/v1/voice/score"]["post"]["requestBody"]["content"]
    assert "not proof of identity" in spec["info"]["description"]


def test_docs_pages_load_their_assets_from_the_server_itself(client: httpx.Client) -> None:
    for page in ("/docs", "/redoc"):
        r = client.get(page)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        assert "http://" not in r.text and "https://" not in r.text and "//cdn" not in r.text, page
        assets = re.findall(r"""(?:src|href|url)\s*[:=]\s*["']([^"']+)["']""", r.text)
        assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets), assets
        for asset in assets:
            if asset != "/openapi.json":
                got = client.get(asset)
                assert got.status_code == 200 and len(got.content) > 1000, asset
    assert client.get("/docs/oauth2-redirect").status_code == 200


@pytest.fixture()
def own_server(tmp_path: Path):
    """A server on its own copy of the models, for tests that change them or its settings."""
    servers = []

    def start(**env: str):
        models_dir = write_models(tmp_path / f"models{len(servers)}")
        srv = start_server(tmp_path, models_dir, **env)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        stop_server(srv)


def voice_version(url: str) -> str:
    models = httpx.get(f"{url}/v1/models", headers={"X-API-Key": USER_KEY}).json()["models"]
    return next(m["version"] for m in models if m["task"] == "voice")


def test_reload_swaps_models_without_dropping_in_flight_requests(own_server) -> None:
    srv = own_server(NEPCHECK_MAX_WAIT_MS="20")
    assert voice_version(srv.url) == "0.0.1"
    write_voice_model(srv.models_dir, version="0.0.2", bias=-5.0)

    async def traffic_during_reload() -> tuple[list[int], list[str], int]:
        async with httpx.AsyncClient(base_url=srv.url, timeout=30) as c:
            async def score() -> httpx.Response:
                return await c.post("/v1/voice/score", content=WAV,
                                    headers={"Content-Type": "audio/wav", "X-API-Key": USER_KEY})
            before = [asyncio.create_task(score()) for _ in range(20)]
            await asyncio.sleep(0.01)
            reload = asyncio.create_task(c.post("/v1/admin/reload", headers={"X-API-Key": ADMIN_KEY}))
            after = [asyncio.create_task(score()) for _ in range(20)]
            responses = await asyncio.gather(*before, *after)
            return ([r.status_code for r in responses], [r.json()["model"]["version"] for r in responses],
                    (await reload).status_code)

    statuses, versions, reload_status = asyncio.run(traffic_during_reload())
    assert reload_status == 200
    assert statuses == [200] * 40
    assert set(versions) <= {"0.0.1", "0.0.2"}
    assert voice_version(srv.url) == "0.0.2"
    assert "Traceback" not in srv.log()


def test_reload_needs_an_admin_key_and_keeps_serving_on_a_broken_model(own_server) -> None:
    srv = own_server()
    r = httpx.post(f"{srv.url}/v1/admin/reload", headers={"X-API-Key": USER_KEY})
    assert r.status_code == 403 and r.json()["code"] == "admin_required"
    broken = write_voice_model(srv.models_dir, version="0.0.9")
    (broken / "model.onnx").write_bytes(b"tampered")
    r = httpx.post(f"{srv.url}/v1/admin/reload", headers={"X-API-Key": ADMIN_KEY})
    assert r.status_code == 409 and r.json()["code"] == "reload_failed" and "sha256" in r.json()["detail"]
    assert voice_version(srv.url) == "0.0.1"
    ok = httpx.post(f"{srv.url}/v1/voice/score", content=WAV, headers={"Content-Type": "audio/wav",
                                                                     "X-API-Key": USER_KEY})
    assert ok.status_code == 200


def test_sighup_reloads(own_server) -> None:
    srv = own_server()
    write_voice_model(srv.models_dir, version="0.0.3")
    srv.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while voice_version(srv.url) != "0.0.3" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert voice_version(srv.url) == "0.0.3"


def test_rate_limit_is_per_key_with_retry_after(own_server) -> None:
    srv = own_server(NEPCHECK_RATE_LIMIT_PER_MINUTE="6", NEPCHECK_RATE_LIMIT_BURST="2")
    statuses = [httpx.post(f"{srv.url}/v1/text/score", json={"text": "hi"}, headers={"X-API-Key": USER_KEY})
                for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert statuses[2].json()["code"] == "rate_limited" and int(statuses[2].headers["retry-after"]) >= 1
    assert httpx.post(f"{srv.url}/v1/text/score", json={"text": "hi"},
                      headers={"X-API-Key": ADMIN_KEY}).status_code == 200


def test_full_queue_answers_503_with_retry_after_at_once(own_server) -> None:
    srv = own_server(NEPCHECK_QUEUE_MAX="3")
    long_wav = CONTAINERS["audio/wav"](speech(10.0), 16000)  # 9 windows > a queue of 3
    started = time.monotonic()
    r = httpx.post(f"{srv.url}/v1/voice/score", content=long_wav, headers={"Content-Type": "audio/wav",
                                                                          "X-API-Key": USER_KEY})
    assert r.status_code == 503 and r.json()["code"] == "queue_full" and r.headers["retry-after"] == "1"
    assert time.monotonic() - started < 5
    assert 'nepcheck_rejections_total{reason="queue_full"} 1.0' in httpx.get(f"{srv.url}/metrics").text


def run_cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "service.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, input=stdin, timeout=120)


def test_serve_without_models_fails_with_one_clear_line(tmp_path: Path) -> None:
    r = run_cli("serve", env={"NEPCHECK_MODELS_DIR": str(tmp_path), "NEPCHECK_AUTH_DISABLED": "true"})
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    assert r.stderr.startswith("nepcheck: error: no 'voice' model in")


def test_serve_without_keys_fails_with_one_clear_line(models_dir: Path) -> None:
    env = {"NEPCHECK_MODELS_DIR": str(models_dir), "NEPCHECK_API_KEYS": "", "NEPCHECK_API_KEYS_FILE": ""}
    env = {k: v for k, v in env.items() if v}
    r = run_cli("serve", env=env)
    assert r.returncode == 2 and "no API keys configured" in r.stderr and "Traceback" not in r.stderr


def test_serve_with_a_bad_setting_names_it(models_dir: Path) -> None:
    r = run_cli("serve", env={"NEPCHECK_MODELS_DIR": str(models_dir), "NEPCHECK_PROVIDERS": "tpu",
                              "NEPCHECK_AUTH_DISABLED": "1"})
    assert r.returncode == 2 and "NEPCHECK_PROVIDERS" in r.stderr


def test_cli_scores_files_and_texts_locally(models_dir: Path, tmp_path: Path) -> None:
    loud, short = tmp_path / "loud.flac", tmp_path / "short.wav"
    loud.write_bytes(CONTAINERS["audio/flac"](loud_speech(3.0), 16000))
    short.write_bytes(CONTAINERS["audio/wav"](speech(0.1), 16000))
    env = {"NEPCHECK_MODELS_DIR": str(models_dir)}
    r = run_cli("score", "voice", str(loud), str(short), env=env)
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert r.returncode == 1  # one input failed
    assert lines[0]["input"] == str(loud) and lines[0]["verdict"] == "fake" and len(lines[0]["windows"]) == 2
    assert lines[1]["error"]["code"] == "audio_too_short"
    r = run_cli("score", "text", "guaranteed bitcoin returns", "-", env=env, stdin="hello dinner tonight")
    first, second = (json.loads(line) for line in r.stdout.splitlines())
    assert r.returncode == 0 and first["verdict"] == "scam" and second["verdict"] == "legit"
    assert any(c["kind"] == "crypto_trading_bot" for c in first["cues"])
    # texts are named by position, never echoed whole (they may be private; cues quote only what they matched)
    assert first["input"] == "#1" and second["input"] == "stdin" and "dinner" not in r.stdout


def test_cli_encoding_applies_to_headerless_files_only(models_dir: Path, tmp_path: Path) -> None:
    from service.audio import mulaw_encode

    wav, raw = tmp_path / "a.wav", tmp_path / "b.ulaw"
    wav.write_bytes(CONTAINERS["audio/wav"](loud_speech(3.0), 16000))
    raw.write_bytes(mulaw_encode(loud_speech(3.0, 8000)))
    env = {"NEPCHECK_MODELS_DIR": str(models_dir)}
    mixed = run_cli("score", "voice", str(wav), str(raw), "--encoding", "mulaw", env=env)
    assert mixed.returncode == 2 and mixed.stdout == ""
    assert f"{wav} has a WAV header" in mixed.stderr and "Traceback" not in mixed.stderr
    rate_alone = run_cli("score", "voice", str(wav), "--sample-rate", "8000", env=env)
    assert rate_alone.returncode == 2 and "--encoding" in rate_alone.stderr
    ok = run_cli("score", "voice", str(raw), "--encoding", "mulaw", "--sample-rate", "8000", env=env)
    assert ok.returncode == 0, ok.stderr
    result = json.loads(ok.stdout)
    assert result["input"] == str(raw) and result["source_sample_rate"] == 8000
    assert result["duration_s"] == pytest.approx(3.0, abs=0.01)


def test_keys_new_prints_a_key_and_its_hashed_line() -> None:
    r = run_cli("keys", "new", "partner-1", "--admin")
    key = r.stdout.split("shown once): ")[1].split()[0]
    line = r.stdout.split("keys file line: ")[1].strip()
    from service.auth import hash_key

    assert line == f"partner-1:{hash_key(key)}:admin"
