"""`nepcheck scan --engine ray` on a local Ray the test starts (2 CPUs): the same records as the local engine."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from service.batch import local
from service.batch.journal import read_records
from service.settings import Settings

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.e2e


def test_a_ray_scan_scores_like_the_local_scan(models_dir: Path, tmp_path: Path) -> None:
    from service.batch.ray_scan import run_ray_scan

    rows = [{"id": f"ad-{i}", "text": ("guaranteed bitcoin returns with our bot" if i % 3 == 0 else
                                       "hello dinner tonight with the weather") + f" {i}"} for i in range(8)]
    rows.append({"id": "bad", "text": "hello there friend", "audio_base64": "%%%"})
    source = tmp_path / "ads.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    settings = Settings(models_dir=models_dir, auth_disabled=True)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        summary = run_ray_scan(source, tmp_path / "ray_out", settings, batch_size=4, concurrency=1)
    finally:
        ray.shutdown()
    assert summary["engine"] == "ray" and summary["rows"] == 9 and summary["errors"] == 1
    assert summary["errors_by_code"] == {"invalid_base64": 1} and summary["risk_level"] == {"critical": 3, "low": 5}
    import pyarrow.dataset as pads

    written = {r["id"]: r for r in pads.dataset(str(tmp_path / "ray_out"), format="parquet").to_table().to_pylist()}
    asyncio.run(local.run(local.plan(source, tmp_path / "local.jsonl"), settings, progress=False))
    for record in read_records(tmp_path / "local.jsonl"):
        on_ray = json.loads(written[record["id"]]["result"])
        assert on_ray["row"] is None
        if "error" in record:
            assert on_ray["error"] == record["error"]
        else:
            assert on_ray["risk"]["level"] == record["risk"]["level"]
            assert on_ray["text"]["score"] == pytest.approx(record["text"]["score"], abs=1e-6)
