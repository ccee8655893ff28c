"""Score files in the layouts the public ASVspoof evaluation scripts read, written from this project's scores.

The ASVspoof 5 pair (`scores.tsv`, `keys.tsv`) comes from `training.spoof_report.write_report`; these add the
older layouts that published baselines and papers use:

- ASVspoof 2019 LA CM: `utt_id system key score`, one line per trial (`A07 spoof -3.2`, `- bonafide 4.1`);
- ASVspoof 2021 LA/DF submission: `utt_id score`.

The official scripts take a higher score as bona fide, while this project's LLRs are higher for spoof, so the
score written is -LLR (as in `training.spoof_report.write_asvspoof_scores`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from training.spoof_report import ScoredClip


def write_asvspoof2019_scores(clips: Sequence[ScoredClip], path: Path) -> int:
    """`utt_id system key score` lines; a bona fide trial's system is `-`, as in the 2019 CM protocol files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for c in clips:
            system = "-" if c.label == "bonafide" else (c.system.replace(" ", "_") or "-")
            f.write(f"{c.utterance} {system} {c.label} {-c.score!r}\n")
    return len(clips)


def write_asvspoof2021_scores(clips: Sequence[ScoredClip], path: Path) -> int:
    """`utt_id score` lines, the 2021 challenge's submission format (keys stay with the organisers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for c in clips:
            f.write(f"{c.utterance} {-c.score!r}\n")
    return len(clips)
