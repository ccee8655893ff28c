"""Batch jobs over HTTP on a real server: upload, progress, results, key isolation, cancelling, bad uploads, a
file under the scan root, a restart in the middle of a job, and deletion after the retention period."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_KEY, USER_KEY, Server, start_server, stop_server
from tests.modelkit import write_models

pytestmark = pytest.mark.e2e

SCAM = "guaranteed bitcoin returns with our crypto bot"
LEGIT = "hello dinner tonight with the weather"
NDJSON = {"Content-Type": "application/x-ndjson"}


def ads(n: int, prefix: str = "ad") -> list[dict[str, str]]:
    return [{"id": f"{prefix}-{i:05d}", "text": (SCAM if i % 4 == 0 else LEGIT) + f" {i}"} for i in range(n)]


def jsonl(rows: list[object]) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows).encode()


def client_for(server: Server, key: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"X-API-Key": key}, timeout=30)


def wait_for(c: httpx.Client, job_id: str, statuses: set[str], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = c.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {statuses}: {job}")


@pytest.fixture(scope="module")
def scan_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scan_root")
    with (root / "ads.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "text", "audio_path"])
        writer.writeheader()
        writer.writerows([{"id": "c1", "text": SCAM}, {"id": "c2", "text": LEGIT, "audio_path": "../../etc/passwd"}])
    return root


@pytest.fixture(scope="module")
def jobs_server(tmp_path_factory: pytest.TempPathFactory, models_dir: Path, scan_root: Path) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("jobs")
    srv = start_server(tmp, models_dir, NEPCHECK_DATA_DIR=str(tmp / "data"), NEPCHECK_SCAN_ROOT=str(scan_root),
                       NEPCHECK_JOB_MAX_UPLOAD_BYTES="262144")
    yield srv
    stop_server(srv)


def test_an_upload_becomes_a_job_with_progress_results_and_a_summary(jobs_server: Server) -> None:
    rows = [*ads(20), "not json", {"id": "ad-00003", "text": "again"}, {"id": "no-text"}]
    with client_for(jobs_server, USER_KEY) as c:
        r = c.post("/v1/ads/batch", content=jsonl(rows), headers=NDJSON)
        assert r.status_code == 202, r.text
        job = r.json()
        assert r.headers["location"] == f"/v1/jobs/{job['id']}" and job["status"] in {"queued", "running"}
        done = wait_for(c, job["id"], {"succeeded"})
        assert done["progress"] == {"rows_total": 23, "rows_done": 23, "errors": 3, "fraction": 1.0}
        assert done["summary"]["risk_level"] == {"critical": 5, "low": 15}
        assert done["summary"]["errors_by_code"] == {"duplicate_id": 1, "empty_text": 1, "invalid_json": 1}
        assert done["expires_at"] > done["finished"]
        results = c.get(done["results_url"])
        assert results.status_code == 200 and results.headers["content-type"].startswith("application/x-ndjson")
        records = [json.loads(line) for line in results.text.splitlines()]
        assert sorted(r["row"] for r in records) == list(range(23))
        scored = {r["id"]: r for r in records if "error" not in r}
        answer = c.post("/v1/ads/score", json=ads(1)[0]).json()
        assert scored["ad-00000"]["risk"]["level"] == answer["risk"]["level"] == "critical"
        assert scored["ad-00000"]["text"]["score"] == pytest.approx(answer["text"]["score"], abs=1e-6)


def test_openapi_documents_the_batch_routes(jobs_server: Server) -> None:
    spec = httpx.get(f"{jobs_server.url}/openapi.json").json()
    body = spec["paths"]["/v1/ads/batch"]["post"]["requestBody"]["content"]
    assert {"application/x-ndjson", "application/json"} <= set(body)
    assert {"get", "delete"} <= set(spec["paths"]["/v1/jobs/{job_id}"])
    assert "get" in spec["paths"]["/v1/jobs/{job_id}/results"]
    assert "batch job" in spec["info"]["description"]


def test_a_job_is_visible_only_to_the_key_that_made_it(jobs_server: Server) -> None:
    with client_for(jobs_server, USER_KEY) as mine, client_for(jobs_server, ADMIN_KEY) as other:
        job = mine.post("/v1/ads/batch", content=jsonl(ads(3)), headers=NDJSON).json()
        for method, path in (("GET", f"/v1/jobs/{job['id']}"), ("GET", f"/v1/jobs/{job['id']}/results"),
                             ("DELETE", f"/v1/jobs/{job['id']}")):
            r = other.request(method, path)
            assert r.status_code == 404 and r.json()["code"] == "job_not_found", (method, path)
        assert other.get("/v1/jobs/0123").json()["code"] == "job_not_found"  # the same answer as no job at all
        assert wait_for(mine, job["id"], {"succeeded"})["progress"]["rows_done"] == 3
        assert httpx.get(f"{jobs_server.url}/v1/jobs/{job['id']}").status_code == 401


def test_cancel_then_delete(jobs_server: Server) -> None:
    with client_for(jobs_server, USER_KEY) as c:
        job = c.post("/v1/ads/batch", content=jsonl(ads(2000, "big")), headers=NDJSON).json()
        wait_for(c, job["id"], {"running"})
        cancelled = c.delete(f"/v1/jobs/{job['id']}")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        time.sleep(0.3)
        after = c.get(f"/v1/jobs/{job['id']}").json()
        assert after["status"] == "cancelled" and after["progress"]["rows_done"] < 2000
        partial = c.get(f"/v1/jobs/{job['id']}/results").text.splitlines()
        assert len(partial) == len({json.loads(line)["id"] for line in partial}) < 2000
        assert c.delete(f"/v1/jobs/{job['id']}").status_code == 204
        assert c.get(f"/v1/jobs/{job['id']}").status_code == 404


def test_interactive_requests_are_answered_while_a_job_runs(jobs_server: Server) -> None:
    with client_for(jobs_server, USER_KEY) as c:
        job = c.post("/v1/ads/batch", content=jsonl(ads(2000, "busy")), headers=NDJSON).json()
        wait_for(c, job["id"], {"running"})
        latencies = []
        for i in range(10):
            started = time.perf_counter()
            r = c.post("/v1/text/score", json={"text": f"{SCAM} {i}"})
            latencies.append(time.perf_counter() - started)
            assert r.status_code == 200
        assert c.get(f"/v1/jobs/{job['id']}").json()["status"] == "running"  # the job was busy all along
        assert sorted(latencies)[5] < 1.0, latencies
        c.delete(f"/v1/jobs/{job['id']}")


def test_bad_uploads_get_clear_problems(jobs_server: Server, client: httpx.Client) -> None:
    with client_for(jobs_server, USER_KEY) as c:
        cases = [
            (c.post("/v1/ads/batch", content=b"id,text\n", headers={"Content-Type": "text/csv"}), 415,
             "unsupported_media_type"),
            (c.post("/v1/ads/batch", content=b"\n \n", headers=NDJSON), 422, "empty_upload"),
            (c.post("/v1/ads/batch", content=jsonl(ads(5000)), headers=NDJSON), 413, "payload_too_large"),
            (c.post("/v1/ads/batch", content=b"{", headers={"Content-Type": "application/json"}), 400,
             "invalid_json"),
            (c.post("/v1/ads/batch", json={"path": "../x.jsonl"}), 422, "path_not_allowed"),
            (c.post("/v1/ads/batch", json={"path": "absent.jsonl"}), 422, "input_not_found"),
            (c.post("/v1/ads/batch", json={"file": "ads.csv"}), 422, "invalid_request"),
        ]
        for response, status, code in cases:
            assert (response.status_code, response.json()["code"]) == (status, code), response.text
    off = client.post("/v1/ads/batch", content=jsonl(ads(1)), headers=NDJSON)
    assert off.status_code == 404 and off.json()["code"] == "jobs_disabled"


def test_a_file_under_the_scan_root_and_its_audio_paths_stay_inside(jobs_server: Server) -> None:
    with client_for(jobs_server, USER_KEY) as c:
        r = c.post("/v1/ads/batch", json={"path": "ads.csv"})
        assert r.status_code == 202 and r.json()["source"] == "path"
        wait_for(c, r.json()["id"], {"succeeded"})
        records = {rec["id"]: rec for rec in map(json.loads, c.get(r.json()["results_url"]).text.splitlines())}
        assert records["c1"]["risk"]["level"] == "critical"
        assert records["c2"]["error"]["code"] == "audio_path_not_allowed"


def test_a_restart_resumes_an_unfinished_job(tmp_path: Path) -> None:
    models_dir = write_models(tmp_path / "models")
    env = {"NEPCHECK_DATA_DIR": str(tmp_path / "data"), "NEPCHECK_JOB_BATCH_SIZE": "1"}
    n = 1500
    first = start_server(tmp_path, models_dir, **env)
    try:
        with client_for(first, USER_KEY) as c:
            job = c.post("/v1/ads/batch", content=jsonl(ads(n)), headers=NDJSON).json()
            deadline = time.monotonic() + 60
            while c.get(f"/v1/jobs/{job['id']}").json()["progress"]["rows_done"] < 50:
                assert time.monotonic() < deadline
                time.sleep(0.01)
    finally:
        first.process.kill()  # no graceful shutdown: the job is left `running`, mid-way
        first.process.wait(10)
    second = start_server(tmp_path, models_dir, **env)
    try:
        with client_for(second, USER_KEY) as c:
            resumed = c.get(f"/v1/jobs/{job['id']}").json()
            assert resumed["status"] in {"queued", "running"} and resumed["progress"]["rows_done"] < n
            done = wait_for(c, job["id"], {"succeeded"}, timeout=120)
            assert done["progress"]["rows_done"] == n and done["summary"]["rows"] == n
            ids = [json.loads(line)["id"] for line in c.get(done["results_url"]).text.splitlines()]
            assert len(ids) == n and set(ids) == {ad["id"] for ad in ads(n)}
        assert "resumed" in second.log()
        assert not (tmp_path / "data" / "jobs" / job["id"] / "input.jsonl").exists()  # the upload is not kept
    finally:
        stop_server(second)


def test_results_are_deleted_after_the_retention_period(tmp_path: Path) -> None:
    models_dir = write_models(tmp_path / "models")
    data = tmp_path / "data"
    srv = start_server(tmp_path, models_dir, NEPCHECK_DATA_DIR=str(data), NEPCHECK_JOB_RETENTION_S="1")
    try:
        with client_for(srv, USER_KEY) as c:
            job = c.post("/v1/ads/batch", content=jsonl(ads(3)), headers=NDJSON).json()
            wait_for(c, job["id"], {"succeeded"})
            assert (data / "jobs" / job["id"] / "results.jsonl").exists()
            deadline = time.monotonic() + 10
            while c.get(f"/v1/jobs/{job['id']}").status_code != 404:
                assert time.monotonic() < deadline, "the job outlived its retention period"
                time.sleep(0.1)
            assert not (data / "jobs" / job["id"]).exists()
    finally:
        stop_server(srv)
