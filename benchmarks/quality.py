"""`nepcheck bench quality`: detection quality of the voice and text detectors on labelled sets.

Voice: a manifest (any corpus the loaders read: `nepcheck corpus manifest NAME ROOT`, or `--corpus NAME --root
DIR` here) is scored through the service's decoding, speech gate, windows and ONNX Runtime under each channel
condition (`training.channel.CONDITIONS`: clean, mu-law and A-law 8 kHz, band-pass, Opus, packet loss, noise),
by `training.voice.evaluate.evaluate_voice`, the same code as `nepcheck eval voice`. It writes per condition EER,
minDCF, actDCF, Cllr and ROC AUC overall and per system and source, a DET plot and the ASVspoof 5 score and key
files; this suite adds the ASVspoof 2019 and 2021 score layouts (`benchmarks.score_files`), one DET plot across
conditions and the flat metrics `bench compare` reads. `--limit` draws a balanced, seeded subset (every system
represented) so a run fits a small CPU.

Text: labelled texts (the seed corpus's JSONL layout, or CSV with the same columns; `text` and `label` required)
scored through the service's path (`training.text.onnx_scoring`) and reported by `training.text.evaluate`:
precision, recall, F1 and false-positive rate at the card's bands, overall and per language, kind and source.
"""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.report import Better, metric, table
from benchmarks.score_files import write_asvspoof2019_scores, write_asvspoof2021_scores
from training.corpora.manifest import ManifestRow, read_manifest, resolve_path, write_manifest
from training.spoof_report import plot_det, read_keyed_scores
from training.text.corpora import TextRow, load_seed

DEFAULT_CONDITIONS = ("clean", "mulaw8k", "alaw8k", "bandpass", "opus8k", "packetloss5", "noise20db")
VOICE_KEYS: tuple[tuple[str, str, Better], ...] = (
    ("eer", "rate", "lower"), ("min_dcf", "cost", "lower"), ("act_dcf", "cost", "lower"), ("cllr", "bits", "lower"),
    ("roc_auc", "auc", "higher"))


# ---------------------------------------------------------------- voice


def balanced_subset(rows: Sequence[ManifestRow], limit: int, seed: int = 0) -> list[ManifestRow]:
    """At most `limit` rows, half per label where both have enough, systems taken in turn within a label so every
    system is represented before any gets a second clip; the same rows for the same seed."""
    rng = random.Random(seed)
    by_label: dict[str, dict[str, list[ManifestRow]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        by_label[row.label][row.system].append(row)
    labels = sorted(by_label)
    quota = {label: limit // len(labels) for label in labels}
    sizes = {label: sum(len(g) for g in by_label[label].values()) for label in labels}
    spare = limit - sum(min(quota[lab], sizes[lab]) for lab in labels)
    for label in labels:  # a label short of its half leaves the rest to the other
        extra = min(spare, max(0, sizes[label] - quota[label]))
        quota[label] += extra
        spare -= extra
    chosen: list[ManifestRow] = []
    for label in labels:
        groups = [sorted(g, key=lambda r: r.path) for _, g in sorted(by_label[label].items())]
        for group in groups:
            rng.shuffle(group)
        taken: list[ManifestRow] = []
        depth = 0
        while len(taken) < quota[label] and any(depth < len(g) for g in groups):
            taken += [g[depth] for g in groups if depth < len(g)][: quota[label] - len(taken)]
            depth += 1
        chosen += taken
    return chosen


def prepare_manifest(rows: Sequence[ManifestRow], source: Path, out: Path) -> Path:
    """The rows to score as a manifest with absolute paths, kept in the results folder for reproduction."""
    write_manifest([replace(row, path=str(resolve_path(row, source).resolve())) for row in rows], out)
    return out


def load_voice_rows(manifest: Path | None, corpus: str | None, root: Path | None, options: Mapping[str, str],
                    out_dir: Path) -> tuple[list[ManifestRow], Path]:
    if manifest is not None:
        return read_manifest(manifest), manifest
    if corpus is None or root is None:
        raise ValueError("give --manifest, or --corpus with --root")
    from training.corpora.loaders import load_corpus

    kwargs: dict[str, object] = {k: Path(v) if k.endswith(("root", "protocol")) else v for k, v in options.items()}
    rows = load_corpus(corpus, root, **kwargs)
    path = out_dir / f"{corpus}_manifest.csv"
    write_manifest(rows, path)
    return rows, path


def run_voice(model_dir: Path, rows: Sequence[ManifestRow], source: Path, *, split: str, conditions: Sequence[str],
              limit: int | None, seed: int, variant: str, out_dir: Path,
              sources: Sequence[str] = (), cue_audit: bool = True) -> dict[str, Any]:
    from training.channel import CONDITIONS
    from training.voice.evaluate import evaluate_voice

    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown:
        raise ValueError(f"unknown condition(s) {unknown}; this machine has {list(CONDITIONS)}")
    picked = [r for r in rows if (split == "all" or r.split == split) and (not sources or r.source in sources)]
    if not picked:
        among = f" from sources {list(sources)}" if sources else ""
        raise ValueError(f"{source}: no rows in split {split!r}{among}")
    if limit is not None:
        picked = balanced_subset(picked, limit, seed)
    voice_dir = out_dir / "voice"
    manifest = prepare_manifest(picked, source, voice_dir / "manifest.csv")
    summary = evaluate_voice(model_dir, manifest, split="all", conditions=tuple(conditions), variant=variant,
                             out_dir=voice_dir)
    curves = {}
    by_system: dict[str, list[dict[str, Any]]] = {}
    for condition in conditions:
        folder = voice_dir / condition
        clips = read_keyed_scores(folder / "scores_keyed.tsv")
        write_asvspoof2019_scores(clips, folder / "scores_asvspoof2019.txt")
        write_asvspoof2021_scores(clips, folder / "scores_asvspoof2021.txt")
        bona = np.array([c.score for c in clips if c.label == "bonafide"])
        spoof = np.array([c.score for c in clips if c.label == "spoof"])
        if bona.size and spoof.size:
            curves[condition] = (bona, spoof)
            report = json.loads((folder / "report.json").read_text())
            by_system[condition] = report["by_system"]
    files = ["voice/report.md", "voice/summary.json", "voice/manifest.csv"]
    cue = cue_baseline(manifest, voice_dir) if cue_audit else None
    if cue is not None:
        files += ["voice/cue_baseline.json", "voice/cue_baseline.md"]
    if curves:
        plot_det(curves, voice_dir / "det_conditions.png", title=f"{summary['model']['name']} "
                 f"{summary['model']['version']}: DET per channel condition")
        files.append("voice/det_conditions.png")
    for condition in conditions:
        files += [f"voice/{condition}/{name}" for name in
                  ("report.md", "det.png", "scores.tsv", "keys.tsv", "scores_asvspoof2019.txt",
                   "scores_asvspoof2021.txt", "scores_keyed.tsv") if (voice_dir / condition / name).exists()]
    return {"summary": summary, "by_system": by_system, "files": files, "cue_baseline": cue,
            "counts": {"bonafide": sum(r.label == "bonafide" for r in picked),
                       "spoof": sum(r.label == "spoof" for r in picked),
                       "systems": len({r.system for r in picked if r.label == "spoof"})}}


def cue_baseline(manifest: Path, voice_dir: Path) -> dict[str, Any] | None:
    """The baseline in the same run: how well the best single trivial cue (duration, level, bandwidth, silence...,
    `training.audit`) separates the same clips as stored. A detector that does not beat it has learnt nothing a
    recording setup would not also give away; a cue that beats the detector says the set has a shortcut."""
    from training.audit import run_audit

    report = run_audit(manifest, out_json=voice_dir / "cue_baseline.json",
                       out_markdown=voice_dir / "cue_baseline.md")
    scored = [r for r in report.sorted_rows() if np.isfinite(r.eer)]
    if not scored:
        return None
    best = scored[0]
    return {"cue": best.cue, "eer": float(best.eer), "cv_eer": float(best.cv_eer) if np.isfinite(best.cv_eer) else None,
            "direction": best.direction, "cv_folds": report.cv_folds, "flagged": report.flagged_cues}


# ---------------------------------------------------------------- text

TEXT_FIELDS = ("text", "label", "kind", "lang", "channel", "family", "source")


def _text_row(record: Mapping[str, Any], where: str) -> TextRow:
    if not isinstance(record.get("text"), str) or not record["text"].strip():
        raise ValueError(f"{where}: no text")
    fields = {k: str(record.get(k) or "") for k in TEXT_FIELDS}
    return TextRow(text=fields["text"], label=fields["label"], kind=fields["kind"] or "unknown",
                   lang=fields["lang"] or "unknown", channel=fields["channel"] or "unknown",
                   family=fields["family"] or where, source=fields["source"] or "unknown")


def read_text_rows(path: Path) -> list[TextRow]:
    """Labelled texts from a seed-layout folder (its splits kept), one JSONL file or one CSV file."""
    if path.is_dir():
        return load_seed(path)
    rows: list[TextRow] = []
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            for number, record in enumerate(csv.DictReader(f), 2):
                rows.append(_text_row(record, f"{path}:{number}"))
        return rows
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(_text_row(json.loads(line), f"{path}:{number}"))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: {exc}") from exc
    return rows


def run_text(model_dir: Path, paths: Sequence[Path], *, split: str, variant: str, out_dir: Path) -> dict[str, Any]:
    from service.registry import load_artifact
    from training.text.evaluate import evaluate_scores, write_report
    from training.text.onnx_scoring import score_artifact

    loaded = [r for p in paths for r in read_text_rows(p)]
    rows = [r for r in loaded if split == "all" or r.split == split]
    if not rows:
        raise ValueError(f"no texts in split {split!r} of {[str(p) for p in paths]}")
    artifact = load_artifact(model_dir, variant=variant, task="text")
    card = artifact.card
    llr = score_artifact(model_dir, [r.text for r in rows], variant=artifact.variant)
    name = f"{card.name}-{card.version}:{artifact.variant}"
    systems = {name: evaluate_scores(rows, llr, card.thresholds)}
    baseline = tfidf_baseline(loaded, rows) if split not in ("all", "train", "dev") else None
    if baseline is not None:  # the baseline in the same run: TF-IDF fitted on these texts' own train split
        systems["tfidf_baseline"] = evaluate_scores(rows, baseline[0], baseline[1])
    report = {"split": split, "texts": [str(p) for p in paths],
              "model": {"name": card.name, "version": card.version, "variant": artifact.variant,
                        "thresholds": dict(card.thresholds)},
              "systems": systems}
    write_report(report, out_dir / "text")
    return {"report": report, "system": name, "files": ["text/report.json", "text/report.md"]}


def tfidf_baseline(loaded: Sequence[TextRow], rows: Sequence[TextRow]) -> tuple[np.ndarray, dict[str, float]] | None:
    """LLRs of `rows` from the TF-IDF + logistic-regression baseline of `nepcheck eval text`, fitted on the loaded
    texts' train split and calibrated on their dev split; None when those splits lack a class."""
    from training.text.baseline import TfidfBaseline
    from training.text.calibration import calibrate

    train = [r for r in loaded if r.split == "train"]
    dev = [r for r in loaded if r.split == "dev"]
    if any(len({r.label for r in part}) < 2 for part in (train, dev)):
        return None
    model = TfidfBaseline().fit([r.text for r in train], [r.y for r in train])
    calibration = calibrate([r.y for r in dev], model.scores([r.text for r in dev]))
    return calibration.llr(model.scores([r.text for r in rows])), dict(calibration.thresholds)


# ---------------------------------------------------------------- metrics and report


def _with_pooled(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The per-condition rows and, when the set has both classes, one row of every condition's scores pooled."""
    rows = list(summary["by_condition"])
    if summary.get("overall"):
        rows.append({"condition": "all conditions pooled", **summary["overall"]})
    return rows


def metrics_of(voice: dict[str, Any] | None, text: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if voice:
        model = voice["summary"]["model"]
        label = f"voice {model['version']}:{model['variant']}"
        for row in _with_pooled(voice["summary"]):
            for key, unit, better in VOICE_KEYS:
                if row.get(key) is not None:
                    out[f"{label} / {row['condition']} / {key}"] = metric(row[key], unit, better)
        if voice.get("cue_baseline"):  # context: it moves only when the data does
            out[f"best trivial cue / {voice['cue_baseline']['cue']} / eer"] = metric(voice["cue_baseline"]["eer"],
                                                                                   "rate", None)
    if text:
        result = text["report"]["systems"][text["system"]]
        label = f"text {text['report']['model']['version']}:{text['report']['model']['variant']}"
        groups = [("all", result["overall"])] + [(f"lang={k}", v) for k, v in result["by_lang"].items()]
        for name, m in groups:
            at = m["at_likely_scam"]
            checks: tuple[tuple[str, Better], ...] = (("precision", "higher"), ("recall", "higher"), ("f1", "higher"),
                                                      ("fpr", "lower"))
            for key, better in checks:
                if at.get(key) is not None:
                    out[f"{label} / {name} / {key} at likely_scam"] = metric(at[key], "rate", better)
            if m["at_scam"].get("fpr") is not None:
                out[f"{label} / {name} / fpr at scam"] = metric(m["at_scam"]["fpr"], "rate", "lower")
    return out


VOICE_COLUMNS = [("condition", "condition", ""), ("bona fide", "n_bonafide", "d"), ("spoof", "n_spoof", "d"),
                 ("EER", "eer", ".1%"), ("minDCF", "min_dcf", ".3f"), ("actDCF", "act_dcf", ".3f"),
                 ("Cllr", "cllr", ".3f"), ("ROC AUC", "roc_auc", ".3f"),
                 ("FPR at likely_fake", "fpr_bonafide_at_card_likely_fake", ".1%")]
SYSTEM_COLUMNS = [("system", "system", ""), ("spoof", "n_spoof", "d"), ("EER", "eer", ".1%"),
                  ("minDCF", "min_dcf", ".3f"), ("ROC AUC", "roc_auc", ".3f"),
                  ("spoofs missed at pooled EER threshold", "spoof_missed_at_pooled_eer", ".1%")]


def markdown(voice: dict[str, Any] | None, text: dict[str, Any] | None, machine_text: str) -> str:
    lines = ["# nepcheck bench quality", "", f"Machine: {machine_text}", ""]
    if voice:
        s = voice["summary"]
        c = voice["counts"]
        lines += [f"## Voice {s['model']['name']} {s['model']['version']} ({s['model']['variant']})", "",
                  f"{c['bonafide']} bona fide and {c['spoof']} spoof clips ({c['systems']} spoof systems) from "
                  f"`{s['manifest']}`; clips without a speech window are skipped, as the service answers "
                  "`no_speech`. Scores are calibrated LLRs; costs as ASVspoof 5 (p_spoof 0.05, C_miss 1, C_fa 10).",
                  "", table(_with_pooled(s), VOICE_COLUMNS)]
        for condition, rows in voice["by_system"].items():
            lines += [f"### Per system, {condition}", "", table(rows, SYSTEM_COLUMNS)]
        cue = voice.get("cue_baseline")
        if cue:
            cv = "" if cue["cv_eer"] is None else f", {cue['cv_eer']:.1%} cross-validated over {cue['cv_folds']} folds"
            lines += [f"Baseline in the same run: the best single trivial cue, `{cue['cue']}` (spoof "
                      f"{cue['direction']}), separates these clips as stored at an EER of {cue['eer']:.1%}{cv} "
                      "(`voice/cue_baseline.md` lists every cue).", ""]
        if "voice/det_conditions.png" in voice["files"]:
            lines += ["![DET per condition](voice/det_conditions.png)", ""]
        lines += ["Per condition: `voice/<condition>/report.md` (per source too), `det.png`, and score files for "
                  "the ASVspoof 5 package (`scores.tsv`, `keys.tsv`), the 2019 (`scores_asvspoof2019.txt`) and "
                  "2021 (`scores_asvspoof2021.txt`) layouts; all negate the LLR (higher = bona fide there).", ""]
    if text:
        from training.text.evaluate import markdown_table

        lines += [f"## Text {text['system']}", "",
                  "P, R, F1 and FPR (legit texts flagged) at the card's `likely_scam` band; FPR@scam at `scam`. "
                  "`tfidf_baseline` (when the texts have train and dev splits): TF-IDF + logistic regression fitted "
                  "on their train split, calibrated on dev, with its own bands.", "",
                  markdown_table(text["report"]["systems"])]
    return "\n".join(lines) + "\n"
