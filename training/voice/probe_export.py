"""`nepcheck export voice-probe`: fit the linear head on every trainable clip, ship front-ends + head as ONNX.

The order, and why:
1. The head is fitted on the cached features of every clip that may be trained on (eval-only sources left out),
   under the same conditions cross-validation trained on.
2. Calibration and band thresholds come from the *out-of-fold* scores of cross-validation (`nepcheck eval
   voice-cv`, scores.csv): each of those clips was scored by a head that never saw its source or its family, so
   the LLR scale and the false-alarm rates at the thresholds are what unseen material gets, not what the
   training clips get (a head scores its own training clips far more confidently).
3. Bands: `likely_fake` where at most 5% of held-out bona fide clips score (or the EER point, if stricter),
   `fake` at 1%, `inconclusive` from where 95% of spoofs score. A real Dutch caller must not be `likely_fake`.
4. The graph is exported, checked against PyTorch on real windows, its weights split into hashed shards
   (no shipped file over 16 MiB), and an int8 variant (weights of MatMul/Gemm) is kept only if its scores on
   the held-out windows move the pooled EER by at most 0.5 points.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import platform
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from service.card import VoiceInput
from service.registry import write_card
from training.calibrate import fit_platt, threshold_at_fpr, threshold_at_miss
from training.corpora.manifest import family_of
from training.onnx_shards import ship_variant
from training.spoof_metrics import compute_eer
from training.voice.crossval import concat_features, fit_head
from training.voice.features import SPEC, _clip_windows, load_features, load_rows
from training.voice.onnx_export import export_onnx
from training.voice.pooled import ProbeDetector

log = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
PARITY_TOLERANCE = 1e-3  # logits; Whisper's deep states are ~400 in magnitude, so float32 order of sums shows
INT8_MAX_EER_LOSS = 0.005


@dataclass(frozen=True)
class ProbeExportConfig:
    features: Path
    cv_scores: Path
    front_ends: tuple[str, ...]
    version: str
    out_dir: Path = Path("models/voice")
    name: str = "voice"
    conditions: tuple[str, ...] = ("clean", "mulaw8k")
    eval_only: tuple[str, ...] = ("ttsds/ttsdb",)
    c: float = 0.01
    likely_fpr: float = 0.05
    strict_fpr: float = 0.01
    miss: float = 0.05
    int8_clips: int = 300


def _oof_scores(path: Path, front_end: str) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Out-of-fold scores of one front-end, pooled over conditions, and per condition."""
    scores: list[float] = []
    labels: list[bool] = []
    by_condition: dict[str, list[tuple[float, bool]]] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row["front_end"] != front_end:
                continue
            scores.append(float(row["score"]))
            labels.append(row["label"] == "spoof")
            by_condition.setdefault(row["condition"], []).append((float(row["score"]), row["label"] == "spoof"))
    if not scores:
        raise ValueError(f"{path} has no out-of-fold scores for front-end {front_end!r}; run nepcheck eval voice-cv")
    return np.array(scores), np.array(labels), {c: np.array(v) for c, v in by_condition.items()}


def _bands(negative: np.ndarray, positive: np.ndarray, config: ProbeExportConfig) -> dict[str, float]:
    _, eer_threshold = compute_eer(negative, positive)
    likely = max(eer_threshold, threshold_at_fpr(negative, config.likely_fpr))
    fake = max(likely, threshold_at_fpr(negative, config.strict_fpr))
    low = min(threshold_at_miss(positive, config.miss), likely)
    return {"inconclusive": round(low, 4), "likely_fake": round(likely, 4), "fake": round(fake, 4)}


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _logit_diff(session: ort.InferenceSession, windows: np.ndarray, batch: int = 8) -> np.ndarray:
    out = [session.run(None, {"waveform": windows[i : i + batch]})[0] for i in range(0, windows.shape[0], batch)]
    logits = np.concatenate(out)
    return logits[:, 1] - logits[:, 0]


def _quantize(fp32: Path, int8: Path) -> None:
    """Dynamic int8 for the encoder's weight matmuls only. The fixed mel/LFCC filterbanks feed a log, and the
    head's single dot product decides the score: quantising those (or the activation-by-activation attention
    matmuls) moved logits by up to 33 on real windows in the first attempt."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(fp32), load_external_data=False)
    weights = {t.name for t in model.graph.initializer}
    nodes = [n.name for n in model.graph.node
             if n.op_type in ("MatMul", "Gemm") and "/encoder/" in n.name and n.input[1] in weights]
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, nodes_to_quantize=nodes)


def export_probe(config: ProbeExportConfig) -> Path:
    target = config.out_dir / config.version
    if target.exists():
        raise FileExistsError(f"{target} exists; pick a new version (versions are immutable once shipped)")
    rows = load_rows(config.features)
    trainable = np.array([r.source not in set(config.eval_only) for r in rows])
    labels = np.array([r.label == "spoof" for r in rows], dtype=int)
    xs, ys, ws = [], [], []
    for condition in config.conditions:
        feats = concat_features([load_features(config.features, condition, n) for n in config.front_ends])
        keep = trainable[feats.clip]
        counts = np.bincount(feats.clip)
        xs.append(feats.features[keep])
        ys.append(labels[feats.clip[keep]])
        ws.append(1.0 / counts[feats.clip[keep]])
    head = fit_head(np.concatenate(xs), np.concatenate(ys), c=config.c, sample_weight=np.concatenate(ws))
    detector = ProbeDetector(config.front_ends, mean=head.mean, scale=head.scale, weight=head.weight,
                             bias=head.bias).eval()

    fused = "+".join(config.front_ends)
    scores, spoof, by_condition = _oof_scores(config.cv_scores, fused)
    scale, bias = fit_platt(scores[~spoof], scores[spoof])
    llr = scale * scores + bias
    thresholds = _bands(llr[~spoof], llr[spoof], config)
    oof_eer = {c: float(compute_eer(v[v[:, 1] == 0, 0], v[v[:, 1] == 1, 0])[0]) for c, v in by_condition.items()}
    log.info("out-of-fold EER %s; Platt scale %.4f bias %.4f; bands %s", oof_eer, scale, bias, thresholds)

    staging = Path(tempfile.mkdtemp(prefix=f"nepcheck-probe-{config.version}-"))
    work = Path(tempfile.mkdtemp(prefix="nepcheck-probe-work-"))
    fp32 = work / MODEL_FILE
    export_onnx(detector, fp32, window_samples=SPEC.window_samples)

    # Parity and the int8 check on real windows: every clip of the eval-only sources (never trained on, so the
    # int8 decision rests on unseen material) plus a random sample of the others.
    rng = np.random.default_rng(0)
    held_out = np.flatnonzero(~trainable)
    others = rng.choice(np.flatnonzero(trainable), size=min(config.int8_clips, int(trainable.sum())), replace=False)
    windows, window_clip = [], []
    for i in [*held_out.tolist(), *others.tolist()]:
        w = _clip_windows(rows[i], config.features / "rows.csv", "clean", SPEC)
        windows.append(w)
        window_clip += [i] * w.shape[0]
    real = np.concatenate(windows)
    clip_of = np.array(window_clip)
    session = _session(fp32)
    onnx_diff = _logit_diff(session, real)
    with torch.inference_mode():
        torch_diff = np.concatenate([detector(torch.from_numpy(real[i : i + 8])).numpy()[:, 1]
                                     for i in range(0, real.shape[0], 8)])
    parity = float(np.max(np.abs(onnx_diff - torch_diff)))
    log.info("ONNX vs PyTorch on %d real windows: max |logit diff| %.2e", real.shape[0], parity)
    if parity > PARITY_TOLERANCE:
        raise RuntimeError(f"ONNX export differs from PyTorch by {parity:.2e} > {PARITY_TOLERANCE:.0e}")

    def clip_eer(diff: np.ndarray, clips: np.ndarray) -> float | None:
        ids = np.intersect1d(np.unique(clip_of), clips)
        mean = np.array([diff[clip_of == i].mean() for i in ids])
        lab = labels[ids]
        if len(set(lab.tolist())) < 2:  # no clips, or one class only
            return None
        return float(compute_eer(mean[lab == 0], mean[lab == 1])[0])

    def band(diff: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.array(list(thresholds.values())), scale * diff + bias, side="right")

    int8_path = work / INT8_FILE
    _quantize(fp32, int8_path)
    int8_diff = _logit_diff(_session(int8_path), real)
    # The decision rests on the held-out clips when there are both classes there, else on all checked clips.
    decide_on = held_out if clip_eer(onnx_diff, held_out) is not None else np.unique(clip_of)
    fp32_eer, int8_eer = clip_eer(onnx_diff, decide_on), clip_eer(int8_diff, decide_on)
    int8_report: dict[str, Any] = {
        "condition": "clean", "checked_windows": int(real.shape[0]),
        "decided_on": "eval-only sources" if decide_on is held_out else "sampled clips",
        "decided_on_clips": int(np.intersect1d(np.unique(clip_of), decide_on).size),
        "fp32_eer": fp32_eer, "int8_eer": int8_eer,
        "max_abs_logit_diff": float(np.abs(int8_diff - onnx_diff).max()),
        "mean_abs_logit_diff": float(np.abs(int8_diff - onnx_diff).mean()),
        "window_band_agreement": float(np.mean(band(int8_diff) == band(onnx_diff))),
        "kept": fp32_eer is not None and int8_eer is not None and int8_eer - fp32_eer <= INT8_MAX_EER_LOSS,
    }
    held_out_eer = {"fp32": clip_eer(onnx_diff, held_out), "int8": int8_eer if decide_on is held_out else None,
                    "sources": list(config.eval_only), "clips": int(held_out.size)}
    log.info("int8: %s; eval-only sources: %s", int8_report, held_out_eer)
    variants: dict[str, dict[str, Any]] = {}
    # fp32 is ~80 MB: only one variant ships (models/ stays under 100 MiB); `nepcheck export voice-probe` can
    # be rerun for an fp32 deployment elsewhere.
    file, precision, path = (INT8_FILE, "int8", int8_path) if int8_report["kept"] else (MODEL_FILE, "fp32", fp32)
    shipped = staging / file
    shutil.copy(path, shipped)
    variants[precision] = ship_variant(shipped, precision, _session(shipped), {"waveform": real[:4]})
    default = precision
    shutil.rmtree(work, ignore_errors=True)

    spec = VoiceInput(**{**SPEC.model_dump()})
    train_rows = [r for r, t in zip(rows, trainable, strict=True) if t]
    card: dict[str, Any] = {
        "schema_version": 1,
        "name": config.name,
        "task": "voice",
        "version": config.version,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "labels": ["bonafide", "spoof"],
        "input": spec.model_dump(),
        "calibration": {"method": "platt", "scale": scale, "bias": bias},
        "thresholds": thresholds,
        "variants": variants,
        "default_variant": default,
        "onnx": {
            "opset": 17,
            "exporter": f"torch.onnx {torch.__version__}",
            "onnxruntime": ort.__version__,
            "python": platform.python_version(),
            "parity_max_abs_logit_diff": {"real_windows": parity},
            "int8": int8_report,
        },
        "network": {
            "name": "probe", "front_ends": list(config.front_ends),
            "head": {"kind": "class-balanced L2 logistic regression on standardised pooled features", "c": config.c,
                     "features": int(head.weight.size)},
            "parameters": sum(p.numel() for p in detector.parameters()) + int(head.weight.size),
        },
        "training_data": {
            "features": str(config.features), "conditions": list(config.conditions),
            "clips": {"bonafide": sum(r.label == "bonafide" for r in train_rows),
                      "spoof": sum(r.label == "spoof" for r in train_rows)},
            "sources": sorted({r.source for r in train_rows}),
            "families": sorted({family_of(r) for r in train_rows if r.label == "spoof"}),
            "languages": sorted({r.language for r in train_rows if r.language}),
            "left_out_eval_only": list(config.eval_only),
        },
        "calibration_data": {"kind": "out-of-fold scores of leave-sources-and-families-out cross-validation",
                             "scores": str(config.cv_scores), "clips": int(scores.size), "oof_eer": oof_eer,
                             "likely_fake_max_bonafide_fpr": config.likely_fpr,
                             "fake_max_bonafide_fpr": config.strict_fpr},
        "metrics": {"eval_only_sources_clean": held_out_eer},
    }
    write_card(staging, card)
    staging.chmod(0o755)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(staging), str(target))
    return target


def front_end_names(spec: str) -> Sequence[str]:
    return tuple(part for part in spec.split("+") if part)
