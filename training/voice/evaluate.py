"""`nepcheck eval voice`: an exported model folder scored on a manifest, per channel condition.

Each condition gets its own report (EER, minDCF, actDCF, Cllr, ROC AUC; per system and per source; DET curve;
ASVspoof score files) because pooling clean and telephone scores would hide exactly the gap a telephone partner
needs to see; a pooled report sits beside them for the per-condition table.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from service.card import VoiceInput
from service.registry import CARD_FILE, load_artifact
from training.corpora.manifest import read_manifest
from training.helpers import open_session
from training.spoof_report import ScoredClip, markdown_table, write_keyed_scores, write_report
from training.voice.onnx_scoring import ClipScore, score_rows

log = logging.getLogger(__name__)

SUMMARY_KEYS = ("n_bonafide", "n_spoof", "eer", "min_dcf", "act_dcf", "cllr", "roc_auc")


def to_scored(scores: Sequence[ClipScore], scale: float, bias: float) -> list[ScoredClip]:
    """Calibrated LLRs (the mean over windows of per-window LLRs equals the LLR of the mean logit difference)."""
    return [
        ScoredClip(utterance=f"{Path(s.row.path).stem}@{s.condition}", score=scale * s.logit_diff + bias,
                   label=s.row.label, system=s.row.system, source=s.row.source, condition=s.condition)
        for s in scores
    ]


def evaluate_voice(
    model_dir: Path,
    manifest: Path,
    *,
    split: str = "eval",
    conditions: Sequence[str] = ("clean", "mulaw8k"),
    variant: str = "default",
    out_dir: Path,
    update_card_as: str | None = None,
) -> dict[str, Any]:
    artifact = load_artifact(model_dir, variant=variant, task="voice")
    spec = artifact.card.input
    assert isinstance(spec, VoiceInput)
    rows = [r for r in read_manifest(manifest) if split == "all" or r.split == split]
    if not rows:
        raise ValueError(f"{manifest}: no rows in split {split!r}")
    session = open_session(artifact.onnx_path, "voice")
    scores = score_rows(session, spec, rows, manifest, conditions)
    clips = to_scored(scores, artifact.card.calibration.scale, artifact.card.calibration.bias)

    both = {c.label for c in clips} == {"bonafide", "spoof"}
    table = []
    for condition in conditions:
        subset = [c for c in clips if c.condition == condition]
        row: dict[str, Any] = {"condition": condition, **dict.fromkeys(SUMMARY_KEYS)}
        if both:
            report = write_report(out_dir / condition, subset,
                                  title=f"{artifact.card.name} {artifact.card.version} on "
                                        f"{manifest.parent.name}/{split}, {condition}")
            row.update({k: report["overall"].get(k) for k in SUMMARY_KEYS})
        else:  # a one-class set (e.g. studio speech) has no EER, only false-positive rates
            (out_dir / condition).mkdir(parents=True, exist_ok=True)
            write_keyed_scores(subset, out_dir / condition / "scores_keyed.tsv")
            row.update(n_bonafide=sum(c.label == "bonafide" for c in subset),
                       n_spoof=sum(c.label == "spoof" for c in subset))
        row["fpr_bonafide_at_card_likely_fake"] = _fpr(subset, artifact.card.thresholds["likely_fake"])
        row["fpr_bonafide_at_card_fake"] = _fpr(subset, artifact.card.thresholds["fake"])
        table.append(row)
    pooled = write_report(out_dir / "pooled", clips, title=f"{artifact.card.name} {artifact.card.version}, pooled") \
        if both else None
    summary: dict[str, Any] = {
        "model": {"name": artifact.card.name, "version": artifact.card.version, "variant": artifact.variant},
        "manifest": str(manifest), "split": split, "clips": len(rows),
        "by_condition": table,
        "overall": pooled["overall"] if pooled else None,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    percent = {"eer", "fpr_bonafide_at_card_likely_fake", "fpr_bonafide_at_card_fake"}
    markdown = markdown_table(table, ["condition", *SUMMARY_KEYS, "fpr_bonafide_at_card_likely_fake",
                                      "fpr_bonafide_at_card_fake"], percent=percent)
    (out_dir / "report.md").write_text(
        f"# {summary['model']['name']} {summary['model']['version']} on {manifest.parent.name}/{split}\n\n"
        f"{markdown}\nPer condition: {', '.join(f'{c}/report.md' for c in conditions)}\n")
    if update_card_as:
        _update_card(model_dir, update_card_as, summary)
    return summary


def _fpr(clips: Sequence[ScoredClip], threshold: float) -> float | None:
    bona = [c for c in clips if c.label == "bonafide"]
    return sum(c.score >= threshold for c in bona) / len(bona) if bona else None


def _update_card(model_dir: Path, name: str, summary: dict[str, Any]) -> None:
    """Record an evaluation under `metrics.<name>`; the card is metadata, so the model's hash is unaffected."""
    from service.registry import write_card

    path = model_dir / CARD_FILE
    card = json.loads(path.read_text())
    card.setdefault("metrics", {})[name] = {"split": summary["split"], "clips": summary["clips"],
                                            "by_condition": summary["by_condition"]}
    write_card(model_dir, card)
