"""How close the trained vocoder's copies are to their sources, against classic copy-synthesis baselines.

Log-mel L1 distance (natural-log units, the vocoder's own mel front-end) between each source clip and its
copy: the trained MelGAN copies from `nepcheck corpus vocode`, and Griffin-Lim and WORLD copies of the same
clips made in this run. Lower is closer to the source.

    python -m benchmarks.vocoder_quality --vocoder-dir datasets/built/vocoder --clips 40
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from service.settings import PROJECT_ROOT
from training.corpora.audio_io import load_clip
from training.corpora.manifest import read_manifest
from training.helpers import pick_device
from training.synth import griffin_lim, world
from training.vocoder.copy import mel_distance
from training.vocoder.model import LogMel
from training.vocoder.train import load_generator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocoder-dir", type=Path, required=True, help="output folder of `corpus vocode`")
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=6.0, help="compare at most this much of each clip")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "benchmarks" / "results" / "vocoder_quality.json")
    args = parser.parse_args()

    _, config, step = load_generator(args.vocoder_dir, pick_device("cpu"))
    logmel = LogMel(config)
    rate = config.sample_rate
    copies = read_manifest(args.vocoder_dir / "vocoded.csv")
    chosen = sorted(np.random.default_rng(args.seed).choice(len(copies), min(args.clips, len(copies)), replace=False))
    system = copies[0].system
    distances: dict[str, list[float]] = {system: [], "griffin_lim": [], "world": []}
    sources = read_manifest(args.vocoder_dir / "sources.csv")  # the copied bona fide clips, in copy order
    for i in chosen:
        copy = load_clip(Path(copies[i].path), rate)
        x = load_clip(Path(sources[i].path), rate)[: int(args.seconds * rate)]
        distances[system].append(mel_distance(logmel, copy[: x.size], x))
        distances["griffin_lim"].append(mel_distance(logmel, griffin_lim(x, rate, rng=np.random.default_rng(i)), x))
        distances["world"].append(
            mel_distance(logmel, world(x, rate, rng=np.random.default_rng(i), f0_shift_semitones=0.0), x)
        )
    print(f"log-mel L1 distance to the source, {len(chosen)} clips, at most {args.seconds:g} s each "
          f"(vocoder trained {step} steps)")
    print(f"{'system':<16} {'mean':>7} {'median':>7}")
    summary = {}
    for name, values in distances.items():
        summary[name] = {"mean": float(np.mean(values)), "median": float(np.median(values)), "n": len(values)}
        print(f"{name:<16} {summary[name]['mean']:>7.3f} {summary[name]['median']:>7.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "vocoder_quality", "steps": step, "distances": summary}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
