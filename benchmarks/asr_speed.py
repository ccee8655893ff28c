"""Real-time factor of the service's ASR model on this CPU: one stream with 1 and 2 threads, and N concurrent
streams (one thread each, `NEPCHECK_ASR_CONCURRENCY=N`).

RTF = seconds of computing / seconds of audio (under 1 keeps up with a live call). Clips: the two espeak-ng test
clips and, when the cuttledoc snapshot is there, four English FLEURS clips. The machine these figures come from is
shared with other jobs: the JSON records the load average, and times are upper bounds.

    python -m benchmarks.asr_speed [--streams 4]    # prints the table, writes results/asr_speed.json
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.asr_common import git_show, load_model, machine, read_audio, to_16k, write_json
from service.settings import PROJECT_ROOT

DATA = PROJECT_ROOT / "tests" / "data"
CUTTLEDOC = Path("/work/.mirror/sebastian-software+cuttledoc/repo")


def clips(mirror: Path) -> list[np.ndarray]:
    out = [to_16k(*read_audio(DATA / name)) for name in ("speech_en.flac", "speech_nl.flac")]
    if mirror.is_dir():
        for i in range(4):
            out.append(to_16k(*read_audio(git_show(mirror, f"packages/cuttledoc/fixtures/fleurs-en-{i:03d}.ogg"))))
    return out


def run_streams(models_dir: Path, audio: list[np.ndarray], *, threads: int, streams: int) -> dict[str, Any]:
    model = load_model(models_dir, threads=threads, concurrency=streams)
    model.transcribe_blocking(audio[0], lang="en")  # warm-up
    seconds = sum(len(a) for a in audio) / 16000
    per_stream: list[float] = [0.0] * streams

    def stream(k: int) -> None:
        started = time.perf_counter()
        for clip in audio:
            model.transcribe_blocking(clip)
        per_stream[k] = time.perf_counter() - started

    started = time.perf_counter()
    workers = [threading.Thread(target=stream, args=(k,)) for k in range(streams)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - started
    model.close()
    return {"threads": threads, "streams": streams, "audio_s_per_stream": round(seconds, 2),
            "rtf_per_stream": round(float(np.mean(per_stream)) / seconds, 3),
            "rtf_worst_stream": round(max(per_stream) / seconds, 3),
            "throughput_audio_s_per_s": round(streams * seconds / wall, 2), "wall_s": round(wall, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=PROJECT_ROOT / "models")
    parser.add_argument("--mirror", type=Path, default=CUTTLEDOC)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    audio = clips(args.mirror)
    rows = []
    for threads, streams in ((1, 1), (2, 1), (1, args.streams)):
        load_before = machine()["load_1min"]
        row = run_streams(args.models_dir, audio, threads=threads, streams=streams)
        row["load_1min_before"] = load_before
        rows.append(row)
        print(row, flush=True)
    print(f"\n{'threads':>7} {'streams':>7} {'audio s':>8} {'RTF/stream':>10} {'worst':>6} "
          f"{'audio s/s':>9} {'load':>5}")
    for r in rows:
        print(f"{r['threads']:>7} {r['streams']:>7} {r['audio_s_per_stream']:>8} {r['rtf_per_stream']:>10.2f} "
              f"{r['rtf_worst_stream']:>6.2f} {r['throughput_audio_s_per_s']:>9.2f} {r['load_1min_before']:>5}")
    path = write_json("asr_speed.json", {"machine": machine(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                         time.gmtime()), "rows": rows}, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
