"""Evaluation report for the voice anti-spoofing detector: pooled figures, then per attack, corpus and channel.

A pooled EER hides the failures that matter: one attack system that passes every time, a corpus whose
clips are told apart by recording setup rather than by voice, a channel (mu-law telephone, say) on which
humans get flagged. So every figure is also broken down by `system`, `source` and `condition`, and the
false-positive rate on chosen bona fide subsets (clean studio speech, for one) is reported at the operating
thresholds, because a wrongly flagged human is the error a user sees.

Scores are this project's calibrated LLRs, ln p(x | spoof) / p(x | bona fide): higher means more spoof-like,
and a clip scoring at or above a threshold is called spoof (`training.spoof_metrics`). The ASVspoof score file
that `write_asvspoof_scores` writes carries the NEGATED score, since the official ASVspoof 5 scripts take
higher as bona fide; every other output keeps this project's direction.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import norm

from training.corpora.manifest import LABELS, ManifestRow
from training.spoof_metrics import (
    DEFAULT_C_FA,
    DEFAULT_C_MISS,
    DEFAULT_P_SPOOF,
    act_dcf,
    bayes_threshold,
    cllr,
    compute_eer,
    error_curve,
    min_cllr,
    min_dcf,
    rate_at_threshold,
    roc_auc,
)

__all__ = [
    "GROUP_KEYS",
    "ScoredClip",
    "by_group",
    "false_positive_rate",
    "markdown_table",
    "plot_det",
    "read_keyed_scores",
    "summarise",
    "write_asvspoof_keys",
    "write_asvspoof_scores",
    "write_keyed_scores",
    "write_report",
]

BONAFIDE, SPOOF = LABELS
GROUP_KEYS = ("system", "source", "condition")
KEYED_COLUMNS = ("utterance", "llr", "label", "system", "source", "condition")

# DET axes: 0.1% to 80%. Rates of exactly 0 or 1 have no probit and are drawn on the edge.
_DET_LOW, _DET_HIGH = 0.001, 0.8
_DET_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8)

_SUMMARY_COLUMNS = ("n_bonafide", "n_spoof", "eer", "min_dcf", "act_dcf", "cllr", "min_cllr", "roc_auc")
_GROUP_EXTRA_COLUMNS = ("bonafide_flagged_at_pooled_eer", "spoof_missed_at_pooled_eer", "note")
_RATE_COLUMNS = frozenset(
    {"eer", "bonafide_flagged_at_pooled_eer", "spoof_missed_at_pooled_eer", "fpr_at_pooled_eer", "fpr_at_bayes"}
)


@dataclass(frozen=True)
class ScoredClip:
    """One evaluated clip: its id in score files, its LLR (higher = spoof) and the manifest fields to group by.

    `system` is the attack id for spoofs; bona fide clips carry whatever the manifest says (`bonafide`,
    `human`, a recording source) and are never a system group of their own: `label` decides, not `system`.
    """

    utterance: str
    score: float
    label: str
    system: str
    source: str = ""
    condition: str = "clean"

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"label must be one of {LABELS}, got {self.label!r} for {self.utterance!r}")
        if not self.utterance or any(ch.isspace() for ch in self.utterance):
            # Score files are whitespace-separated and joined on this id by the official scripts.
            raise ValueError(f"utterance id must be non-empty without whitespace, got {self.utterance!r}")
        if not math.isfinite(self.score):
            raise ValueError(f"score of {self.utterance!r} is not finite: {self.score}")

    @classmethod
    def from_row(cls, row: ManifestRow, score: float, utterance: str | None = None) -> ScoredClip:
        """Pair a manifest row with its score; the id defaults to the row's path, which is unique per manifest."""
        return cls(
            utterance=row.path if utterance is None else utterance,
            score=float(score),
            label=row.label,
            system=row.system,
            source=row.source,
            condition=row.condition,
        )


def _scores(clips: Sequence[ScoredClip], label: str) -> np.ndarray:
    return np.array([c.score for c in clips if c.label == label], dtype=np.float64)


def summarise(clips: Sequence[ScoredClip]) -> dict[str, Any]:
    """The pooled figures of a set with both classes: counts, EER, minDCF, actDCF, Cllr, min Cllr, ROC AUC.

    Thresholds are returned with the figures they belong to (`eer_threshold`, `min_dcf_threshold`,
    `bayes_threshold` for actDCF) so a reader can check which LLR each operating point is. The cost model is
    ASVspoof 5's (`training.spoof_metrics.DEFAULT_*`).
    """
    bonafide, spoof = _scores(clips, BONAFIDE), _scores(clips, SPOOF)
    if bonafide.size == 0 or spoof.size == 0:
        raise ValueError(f"summarise needs both classes, got {bonafide.size} bona fide and {spoof.size} spoof")
    eer, eer_threshold = compute_eer(bonafide, spoof)
    dcf, dcf_threshold = min_dcf(bonafide, spoof)
    return {
        "n_bonafide": int(bonafide.size),
        "n_spoof": int(spoof.size),
        "eer": eer,
        "eer_threshold": eer_threshold,
        "min_dcf": dcf,
        "min_dcf_threshold": dcf_threshold,
        "act_dcf": act_dcf(bonafide, spoof),
        "bayes_threshold": bayes_threshold(),
        "cllr": cllr(bonafide, spoof),
        "min_cllr": min_cllr(bonafide, spoof),
        "roc_auc": roc_auc(bonafide, spoof),
    }


def _group_row(
    key: str, name: str, bonafide_clips: list[ScoredClip], spoof_clips: list[ScoredClip], pooled_threshold: float
) -> dict[str, Any]:
    """Figures of one group; with one class only, just that class's error rate at the pooled EER threshold."""
    row: dict[str, Any] = {key: name}
    bonafide, spoof = _scores(bonafide_clips, BONAFIDE), _scores(spoof_clips, SPOOF)
    if bonafide.size and spoof.size:
        full = summarise(bonafide_clips + spoof_clips)
        row.update({column: full[column] for column in _SUMMARY_COLUMNS})
        row["note"] = ""
    else:
        row.update({column: None for column in _SUMMARY_COLUMNS})
        row["n_bonafide"], row["n_spoof"] = int(bonafide.size), int(spoof.size)
        only = "bona fide" if bonafide.size else "spoof"
        row["note"] = f"{only} only: no EER; see the error rate at the pooled EER threshold"
    row["bonafide_flagged_at_pooled_eer"] = rate_at_threshold(bonafide, pooled_threshold) if bonafide.size else None
    row["spoof_missed_at_pooled_eer"] = 1.0 - rate_at_threshold(spoof, pooled_threshold) if spoof.size else None
    return row


def by_group(clips: Sequence[ScoredClip], key: str) -> list[dict[str, Any]]:
    """One row per value of `key` ("system", "source" or "condition"), sorted by that value.

    - system: ALL bona fide of the set against that system's spoofs (the ASVspoof per-attack convention), so
      each row answers "how well is this attack caught at the usual false-positive cost". Systems come from
      spoof clips only; bona fide clips' `system` values (`bonafide`, `human`, ...) never form a row.
    - source, condition: the clips of that value, both classes. A value with one class only (a corpus of
      human speech, a vendor's fakes) has no EER; its row reports `bonafide_flagged_at_pooled_eer` or
      `spoof_missed_at_pooled_eer`, the error rate at the EER threshold of the whole set, and says so in `note`.

    Every row carries both pooled-threshold rates where its classes exist: a group can have a fine EER of its
    own and still sit wholly on the wrong side of the threshold the whole set would use.
    """
    if key not in GROUP_KEYS:
        raise ValueError(f"key must be one of {GROUP_KEYS}, got {key!r}")
    _, pooled_threshold = compute_eer(_scores(clips, BONAFIDE), _scores(clips, SPOOF))
    if key == "system":
        all_bonafide = [c for c in clips if c.label == BONAFIDE]
        systems = sorted({c.system for c in clips if c.label == SPOOF})
        return [
            _group_row(
                key, name, all_bonafide, [c for c in clips if c.label == SPOOF and c.system == name], pooled_threshold
            )
            for name in systems
        ]
    rows = []
    for name in sorted({getattr(c, key) for c in clips}):
        members = [c for c in clips if getattr(c, key) == name]
        bonafide_clips = [c for c in members if c.label == BONAFIDE]
        spoof_clips = [c for c in members if c.label == SPOOF]
        rows.append(_group_row(key, name, bonafide_clips, spoof_clips, pooled_threshold))
    return rows


def false_positive_rate(
    clips: Sequence[ScoredClip], threshold: float, where: Callable[[ScoredClip], bool] | None = None
) -> float:
    """Share of the bona fide clips satisfying `where` (all bona fide if None) that score >= `threshold`.

    This is the rate at which real people in that situation are told their voice is fake. An empty subset
    raises rather than reading as 0%, which would look like a perfect result.
    """
    scores = [c.score for c in clips if c.label == BONAFIDE and (where is None or where(c))]
    if not scores:
        raise ValueError("no bona fide clip matches `where`: a false-positive rate of nothing is undefined")
    return rate_at_threshold(scores, threshold)


def _unique_ids(clips: Sequence[ScoredClip]) -> None:
    seen: set[str] = set()
    for clip in clips:
        if clip.utterance in seen:
            raise ValueError(f"utterance id {clip.utterance!r} occurs twice: score files are joined on ids")
        seen.add(clip.utterance)


def write_asvspoof_scores(clips: Sequence[ScoredClip], path: Path) -> int:
    """CM score file for the ASVspoof 5 evaluation package (`evaluation.py --m t1 --cm ... --cm_keys ...`).

    Its format: a header line `filename<TAB>cm-score`, then one `utterance<TAB>score` line per clip. The
    package takes higher scores as bona fide (its actDCF threshold is -log(beta), its Cllr uses bona fide as
    the target class), so the score written is -LLR; with it the package's EER, minDCF, actDCF and Cllr match
    `summarise` (ties aside). Returns the number of clips written.
    """
    _unique_ids(clips)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        f.write("filename\tcm-score\n")
        for clip in clips:
            f.write(f"{clip.utterance}\t{-clip.score!r}\n")
    return len(clips)


def write_asvspoof_keys(clips: Sequence[ScoredClip], path: Path) -> int:
    """The matching key file (`filename<TAB>cm-label`, labels `bonafide`/`spoof`) the package needs with it."""
    _unique_ids(clips)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        f.write("filename\tcm-label\n")
        for clip in clips:
            f.write(f"{clip.utterance}\t{clip.label}\n")
    return len(clips)


def write_keyed_scores(clips: Sequence[ScoredClip], path: Path) -> int:
    """Scores with their keys in this project's direction (`llr` = ln p(x|spoof)/p(x|bona fide)), one TSV.

    Enough to rebuild every figure of the report later (`read_keyed_scores`) without rerunning the model.
    """
    _unique_ids(clips)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(KEYED_COLUMNS)
        for c in clips:
            writer.writerow([c.utterance, repr(c.score), c.label, c.system, c.source, c.condition])
    return len(clips)


def read_keyed_scores(path: Path) -> list[ScoredClip]:
    """Clips from a file written by `write_keyed_scores`."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t")
        if tuple(reader.fieldnames or ()) != KEYED_COLUMNS:
            raise ValueError(f"{path}: expected columns {KEYED_COLUMNS}, got {reader.fieldnames}")
        return [
            ScoredClip(r["utterance"], float(r["llr"]), r["label"], r["system"], r["source"], r["condition"])
            for r in reader
        ]


def plot_det(
    curves: Mapping[str, tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray]],
    path: Path,
    *,
    title: str = "DET",
) -> Path:
    """DET curves, one per name -> (bona fide scores, spoof scores), to a PNG; each EER marked on the diagonal.

    Both axes are probit-scaled (normal deviates), where equal-variance Gaussian scores give straight lines
    and the low-error corner that matters is spread out. x is the false-alarm rate (spoofs accepted), y the
    miss rate (bona fide called spoof), both over every achievable threshold (`error_curve`). Drawn with
    the Agg canvas directly, never pyplot, so no global backend is switched and no figure is left open.
    """
    # matplotlib is needed for this figure only; importing it here keeps the rest of the module usable without it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not curves:
        raise ValueError("plot_det needs at least one curve")
    figure = Figure(figsize=(6.5, 6.0))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    lo, hi = float(norm.ppf(_DET_LOW)), float(norm.ppf(_DET_HIGH))
    axes.plot([lo, hi], [lo, hi], color="0.75", linewidth=0.8, linestyle=":")
    for i, (name, (bonafide, spoof)) in enumerate(curves.items()):
        _, p_miss, p_fa = error_curve(bonafide, spoof)
        eer, _ = compute_eer(bonafide, spoof)
        x = norm.ppf(np.clip(p_fa, _DET_LOW, _DET_HIGH))
        y = norm.ppf(np.clip(p_miss, _DET_LOW, _DET_HIGH))
        # Ten default colours, then the next linestyle, so many attack systems stay apart.
        style = ("-", "--", "-.", ":")[(i // 10) % 4]
        (line,) = axes.plot(x, y, linestyle=style, linewidth=1.4, label=f"{name} (EER {eer:.2%})")
        eer_point = norm.ppf(min(max(eer, _DET_LOW), _DET_HIGH))
        axes.plot([eer_point], [eer_point], marker="o", markersize=5, color=line.get_color())
    ticks = norm.ppf(_DET_TICKS)
    labels = [f"{t * 100:g}" for t in _DET_TICKS]
    axes.set_xticks(ticks, labels)
    axes.set_yticks(ticks, labels)
    axes.set_xlim(lo, hi)
    axes.set_ylim(lo, hi)
    axes.set_xlabel("False alarm: spoof accepted as bona fide (%)")
    axes.set_ylabel("Miss: bona fide called spoof (%)")
    axes.set_title(title)
    axes.grid(True, color="0.9")
    axes.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path


def _cell(value: Any, as_percent: bool) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.2%}" if as_percent else f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, percent: Collection[str] = ()) -> str:
    """A GitHub Markdown table of `columns` (keys, used as headers too) over `rows`.

    Floats print to four significant digits, or as percentages for the columns in `percent`; None prints
    as "n/a" (a figure that does not apply, e.g. the EER of a one-class group). Missing keys are an error,
    not a blank, so a typo in a column name cannot pass unnoticed.
    """
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row[column], column in percent) for column in columns) + " |")
    return "\n".join(lines) + "\n"


def _default_subsets() -> dict[str, Callable[[ScoredClip], bool]]:
    return {"condition=clean": lambda c: c.condition == "clean"}


def write_report(
    out_dir: Path,
    clips: Sequence[ScoredClip],
    *,
    title: str = "Voice anti-spoofing evaluation",
    fpr_subsets: Mapping[str, Callable[[ScoredClip], bool]] | None = None,
) -> dict[str, Any]:
    """Write report.json, report.md, the score files and det.png to `out_dir`; return the JSON content.

    `fpr_subsets` names bona fide subsets (default: clean condition) whose false-positive rate is reported at
    the pooled EER threshold and at the Bayes threshold, the latter being what the calibrated LLRs decide in
    service. A subset with no bona fide clip in this set gets null rates rather than failing the report.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    overall = summarise(clips)
    groups = {key: by_group(clips, key) for key in GROUP_KEYS}
    subsets = _default_subsets() if fpr_subsets is None else fpr_subsets
    fpr_rows = []
    for name, where in subsets.items():
        n = sum(1 for c in clips if c.label == BONAFIDE and where(c))
        fpr_rows.append(
            {
                "subset": name,
                "n_bonafide": n,
                "fpr_at_pooled_eer": false_positive_rate(clips, overall["eer_threshold"], where) if n else None,
                "fpr_at_bayes": false_positive_rate(clips, overall["bayes_threshold"], where) if n else None,
            }
        )

    files = {
        "asvspoof_scores": "scores.tsv",
        "asvspoof_keys": "keys.tsv",
        "keyed_scores": "scores_keyed.tsv",
        "det": "det.png",
    }
    write_asvspoof_scores(clips, out_dir / files["asvspoof_scores"])
    write_asvspoof_keys(clips, out_dir / files["asvspoof_keys"])
    write_keyed_scores(clips, out_dir / files["keyed_scores"])
    bonafide = _scores(clips, BONAFIDE)
    curves = {"pooled": (bonafide, _scores(clips, SPOOF))}
    for row in groups["system"]:
        system_spoofs = [c for c in clips if c.label == SPOOF and c.system == row["system"]]
        curves[f"system {row['system']}"] = (bonafide, _scores(system_spoofs, SPOOF))
    plot_det(curves, out_dir / files["det"], title=title)

    report = {
        "title": title,
        "convention": "score = LLR ln p(x|spoof)/p(x|bona fide); score >= threshold is called spoof; "
        f"{files['asvspoof_scores']} holds -LLR for the ASVspoof 5 evaluation package",
        "cost_model": {"p_spoof": DEFAULT_P_SPOOF, "c_miss": DEFAULT_C_MISS, "c_fa": DEFAULT_C_FA},
        "overall": overall,
        "by_system": groups["system"],
        "by_source": groups["source"],
        "by_condition": groups["condition"],
        "false_positive_rates": fpr_rows,
        "files": files,
    }
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(_report_markdown(report), encoding="utf-8")
    return report


def _report_markdown(report: Mapping[str, Any]) -> str:
    """The same content for a reader: conventions first, then the tables, the DET figure last."""
    overall = report["overall"]
    group_columns = (*_SUMMARY_COLUMNS, *_GROUP_EXTRA_COLUMNS)
    lines = [
        f"# {report['title']}",
        "",
        "Scores are LLRs, ln p(x|spoof)/p(x|bona fide); a clip at or above a threshold is called spoof. Costs "
        f"follow ASVspoof 5 (p_spoof {DEFAULT_P_SPOOF}, C_miss {DEFAULT_C_MISS:g}, C_fa {DEFAULT_C_FA:g}); DCFs "
        "are normalised so that 1.0 is the better of accepting or rejecting everything. Cllr is in bits.",
        "",
        "## Pooled",
        "",
        markdown_table([overall], _SUMMARY_COLUMNS, percent=_RATE_COLUMNS),
        f"Thresholds (LLR): EER {overall['eer_threshold']:.4g}, minDCF {overall['min_dcf_threshold']:.4g}, "
        f"Bayes (actDCF) {overall['bayes_threshold']:.4g}.",
        "",
        "## Per attack system",
        "",
        "All bona fide clips of the set against the spoofs of each system.",
        "",
        markdown_table(report["by_system"], ("system", *group_columns), percent=_RATE_COLUMNS),
        "## Per source corpus",
        "",
        "Clips of each source. A source with one class has no EER: its error rate at the pooled EER threshold is "
        "given instead (bona fide flagged as spoof, or spoofs missed).",
        "",
        markdown_table(report["by_source"], ("source", *group_columns), percent=_RATE_COLUMNS),
        "## Per condition",
        "",
        markdown_table(report["by_condition"], ("condition", *group_columns), percent=_RATE_COLUMNS),
        "## False-positive rate on bona fide subsets",
        "",
        markdown_table(
            report["false_positive_rates"],
            ("subset", "n_bonafide", "fpr_at_pooled_eer", "fpr_at_bayes"),
            percent=_RATE_COLUMNS,
        ),
        "## DET",
        "",
        f"![DET curves]({report['files']['det']})",
        "",
        f"Score files: `{report['files']['asvspoof_scores']}` and `{report['files']['asvspoof_keys']}` for the "
        f"ASVspoof 5 evaluation package (scores negated: higher is bona fide there); "
        f"`{report['files']['keyed_scores']}` with LLRs and keys in this project's direction.",
    ]
    return "\n".join(lines) + "\n"
