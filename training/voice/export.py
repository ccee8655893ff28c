"""`nepcheck export voice`: a trained checkpoint becomes a servable `models/voice/<version>/` folder.

The order matters: export, prove the ONNX graph computes what PyTorch computed (random and real audio), then
calibrate on the dev split's held-out systems *through ONNX Runtime along the service path*, so the card's
LLR scale and thresholds describe the exact artifact that ships. An int8 variant is added only when its dev EER
stays within `int8_max_eer_loss` of fp32; otherwise the card says why it was left out.

The manifest, dev split, hop and minimum duration are the ones the checkpoint was trained with (its stored
config); the export config names them only to override. The dev split is decoded once, for parity, calibration
and the int8 check alike.
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch

from service.card import VoiceInput
from service.registry import sha256_file, write_card
from training.calibrate import fit_platt, operating_points
from training.helpers import build_card, count_parameters, open_session
from training.spoof_metrics import compute_eer
from training.voice.data import load_split
from training.voice.networks import build_network
from training.voice.onnx_export import export_onnx
from training.voice.onnx_scoring import ClipScore, score_clips, windows_for

log = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
PARITY_TOLERANCE = 1e-4


@dataclass
class VoiceExportConfig:
    checkpoint: Path
    out_dir: Path  # models/voice
    version: str
    name: str = "voice"
    # None: as the checkpoint's training config says; a value overrides it
    manifest: Path | None = None
    hop_s: float | None = None
    min_duration_s: float | None = None
    dev_split: str | None = None
    calibration_conditions: tuple[str, ...] = ("clean", "mulaw8k")
    try_int8: bool = True
    int8_max_eer_loss: float = 0.005
    notes: dict[str, Any] = field(default_factory=dict)


def load_checkpoint(path: Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    state = torch.load(path, map_location="cpu", weights_only=False)
    model = build_network(state["network"], sample_rate=state["sample_rate"], window_samples=state["window_samples"],
                          **state["network_options"])
    model.load_state_dict(state["state_dict"])
    model.eval()
    return model, state


@dataclass(frozen=True)
class ExportInputs:
    """What an export takes from the checkpoint's training config, each overridable by the export config."""

    manifest: Path
    dev_split: str
    spec: VoiceInput


def resolve_inputs(config: VoiceExportConfig, state: dict[str, Any]) -> ExportInputs:
    trained = state.get("config") or {}
    manifest = config.manifest or (Path(trained["manifest"]) if trained.get("manifest") else None)
    if manifest is None or not manifest.is_file():
        where = "given" if config.manifest else "stored in the checkpoint"
        raise FileNotFoundError(f"the manifest {where} ({manifest}) is not a file; pass the corpus manifest "
                                "whose dev split calibrates the model")
    rate, window = int(state["sample_rate"]), int(state["window_samples"])
    spec = VoiceInput(
        sample_rate=rate,
        window_s=window / rate,
        hop_s=config.hop_s if config.hop_s is not None else float(trained.get("hop_s", 2.0)),
        min_duration_s=(config.min_duration_s if config.min_duration_s is not None
                        else float(trained.get("min_duration_s", 1.0))),
    )
    return ExportInputs(manifest, config.dev_split or str(trained.get("dev_split", "dev")), spec)


def parity(model: torch.nn.Module, session: ort.InferenceSession, inputs: dict[str, np.ndarray]) -> dict[str, float]:
    """Max |logit difference| between PyTorch eager and ONNX Runtime, per named input batch."""
    result = {}
    with torch.no_grad():
        for name, waveform in inputs.items():
            expected = model(torch.from_numpy(waveform)).numpy()
            (actual,) = session.run(["logits"], {"waveform": waveform})
            result[name] = float(np.max(np.abs(expected - actual)))
    return result


def _parity_inputs(window: int, real: list[np.ndarray]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    noise = (0.1 * rng.standard_normal((4, window))).astype(np.float32)
    return {"random_batch1": noise[:1], "random_batch4": noise, "real_batch1": real[0][:1],
            "real_batch8": np.concatenate(real)[:8]}


# The fixed feature front-ends (STFT, filterbanks, sinc filters, openwakeword's mel) stay in fp32: an 8-bit
# waveform or power spectrum loses most of its dynamic range, which is where synthesis artefacts live.
FP32_PREFIXES = ("/frontend/", "/mel/")


def quantize_int8(fp32_path: Path, int8_path: Path, calibration: np.ndarray) -> None:
    """Static QDQ int8 with dev windows as calibration data; the network's convolutions and matmuls only."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter([{"waveform": calibration[i : i + 1]} for i in range(calibration.shape[0])])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._batches, None)

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        keep = [n.name for n in onnx.load(str(prepared)).graph.node if n.name.startswith(FP32_PREFIXES)]
        quantize_static(str(prepared), str(int8_path), _Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True,
                        op_types_to_quantize=["Conv", "MatMul", "Gemm"], nodes_to_exclude=keep)


def _eer(scores: list[ClipScore]) -> float:
    diffs = np.array([s.logit_diff for s in scores])
    labels = np.array([s.row.label == "spoof" for s in scores])
    return compute_eer(diffs[~labels], diffs[labels])[0]


def export_voice(config: VoiceExportConfig) -> Path:
    model, state = load_checkpoint(config.checkpoint)
    inputs = resolve_inputs(config, state)
    spec, window = inputs.spec, inputs.spec.window_samples
    target = config.out_dir / config.version
    if target.exists():
        raise FileExistsError(f"{target} exists; pick a new version (versions are immutable once shipped)")
    dev_clips = load_split(inputs.manifest, inputs.dev_split, spec.sample_rate)
    staging = Path(tempfile.mkdtemp(prefix=f"nepcheck-export-{config.version}-"))
    fp32_path = staging / MODEL_FILE
    export_onnx(model, fp32_path, window_samples=window)
    session = open_session(fp32_path, "voice")

    # dev clips' speech windows (a clip without any is skipped, as the service would not score it)
    dev_windows = (windows_for(c.samples, spec) for c in dev_clips[:32] if c.samples.size >= spec.min_samples)
    real = [w for w in dev_windows if w.size][:16]
    parity_fp32 = parity(model, session, _parity_inputs(window, real))
    worst = max(parity_fp32.values())
    log.info("ONNX parity (max |logit diff|): %s", parity_fp32)
    if worst > PARITY_TOLERANCE:
        raise RuntimeError(f"ONNX export differs from PyTorch by {worst:.2e} > {PARITY_TOLERANCE:.0e}: {parity_fp32}")

    dev_scores = score_clips(session, spec, dev_clips, config.calibration_conditions, total=len(dev_clips))
    diffs = np.array([s.logit_diff for s in dev_scores])
    spoof = np.array([s.row.label == "spoof" for s in dev_scores])
    scale, bias = fit_platt(diffs[~spoof], diffs[spoof])
    llr = scale * diffs + bias
    points = operating_points(llr[~spoof], llr[spoof])
    dev_eer = {c: _eer([s for s in dev_scores if s.condition == c]) for c in config.calibration_conditions}
    log.info("dev EER %s; Platt scale %.4f bias %.4f; thresholds %s", dev_eer, scale, bias, points)

    variants = {"fp32": {"file": MODEL_FILE, "sha256": sha256_file(fp32_path), "precision": "fp32"}}
    int8_report: dict[str, Any] = {"attempted": config.try_int8}
    if config.try_int8:
        int8_path = staging / INT8_FILE
        try:
            quantize_int8(fp32_path, int8_path, np.concatenate(real)[:64])
            int8_scores = score_clips(open_session(int8_path, "voice"), spec, dev_clips,
                                      config.calibration_conditions, total=len(dev_clips))
            int8_eer = {c: _eer([s for s in int8_scores if s.condition == c]) for c in config.calibration_conditions}
            loss = max(int8_eer[c] - dev_eer[c] for c in dev_eer)
            int8_report.update(dev_eer=int8_eer, eer_loss=loss, kept=loss <= config.int8_max_eer_loss)
        except Exception as exc:  # quantisation tooling errors are a reason to ship fp32 only, not to fail
            int8_report.update(kept=False, error=f"{type(exc).__name__}: {exc}")
        if int8_report.get("kept"):
            variants["int8"] = {"file": INT8_FILE, "sha256": sha256_file(int8_path), "precision": "int8"}
        else:
            int8_path.unlink(missing_ok=True)
        log.info("int8: %s", int8_report)

    train_config = state["config"]
    parameters = count_parameters(model)
    card = build_card(
        task="voice",
        name=config.name,
        version=config.version,
        input_spec=spec.model_dump(),
        calibration={"method": "platt", "scale": scale, "bias": bias},
        thresholds=points.as_bands(("inconclusive", "likely_fake", "fake")),
        variants=variants,
        default_variant="fp32",
        onnx={
            "opset": max(o.version for o in onnx.load(str(fp32_path), load_external_data=False).opset_import
                         if o.domain in ("", "ai.onnx")),
            "exporter": f"torch.onnx {torch.__version__}",
            "onnxruntime": ort.__version__,
            "python": platform.python_version(),
            "parity_max_abs_logit_diff": parity_fp32,
            "int8": int8_report,
        },
        training_data=_training_data(inputs.manifest.parent, train_config),
        network={"name": state["network"], "options": state["network_options"],
                 "parameters": parameters["trainable"] + parameters["frozen"], "epoch": state["epoch"],
                 "dev_during_training": state["dev"]},
        calibration_data={"split": inputs.dev_split, "conditions": list(config.calibration_conditions),
                          "clips": len(dev_clips), "dev_eer": dev_eer},
    )
    card.update(config.notes)
    write_card(staging, card)
    staging.chmod(0o755)  # mkdtemp makes it private; a model folder is read by the service's user
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(staging), str(target))
    return target


def _training_data(corpus_dir: Path, train_config: dict[str, Any]) -> dict[str, Any]:
    """What the model learned on: the corpus build report's counts and systems, and the shortcut audit table."""
    data: dict[str, Any] = {"corpus": corpus_dir.name, "train_split": train_config.get("train_split"),
                            "dev_split": train_config.get("dev_split"),
                            "augmentation": train_config.get("augmentation")}
    report = corpus_dir / "report.json"
    if report.is_file():
        built = json.loads(report.read_text())
        data.update({k: built[k] for k in ("clips", "hours", "clips_per_split", "systems", "engines") if k in built})
    audit = corpus_dir / "audit.json"
    if audit.is_file():
        cues = json.loads(audit.read_text()).get("cues", [])
        data["shortcut_audit"] = [{"cue": c["cue"], "eer": round(c["eer"], 4),
                                   "cv_eer": round(c["cv_eer"], 4) if c.get("cv_eer") is not None else None}
                                  for c in cues]
    return data
