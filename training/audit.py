"""Shortcut audit: how well does each trivial recording cue ALONE separate bona fide from spoof in a corpus?

A spoof detector learns whatever separates its classes most easily. In an earlier corpus the energy above
7 kHz alone reached 4.4% EER because the real clips were telephone recordings and the fakes clean synthesis,
so a model trained there learns "narrowband = real". This audit measures such cues (duration, silences,
level, sample rate, bandwidth, noise floor, DC, clipping, bit depth) before any training, on the samples the
service itself decodes (`decode_audio`), so that a flagged cue is one a deployed model could exploit too.

For each cue two figures are reported: the in-sample EER of the better threshold direction (the most any
monotone one-feature rule can do on this corpus, optimistic by construction), and a 2-fold cross-validated
error with the direction and threshold chosen on one fold and applied to the other, split by source where
possible so that a cue which only tells corpora apart does not look like it generalises.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from service.audio import decode_audio
from service.errors import NepcheckError
from training.corpora.manifest import LABELS, ManifestRow, read_manifest, resolve_path
from training.spoof_metrics import compute_eer

__all__ = [
    "CUES",
    "FLAG_BELOW_EER",
    "AuditReport",
    "CueResult",
    "audit",
    "cv_folds",
    "extract_cues",
    "run_audit",
]

CUES = (
    "duration_s",
    "leading_silence_s",
    "trailing_silence_s",
    "loudness_dbfs",
    "peak_dbfs",
    "original_sample_rate",
    "bandwidth_hz",
    "hf_energy_ratio",
    "noise_floor_dbfs",
    "dc_offset",
    "clipping_fraction",
    "bit_depth_proxy",
)

FLAG_BELOW_EER = 0.40
_FAILURE_EXAMPLES = 10
_RANDOM_FOLD_SEED = 0

_POWER_FLOOR = 1e-12  # -120 dBFS: what digital silence reports instead of -inf
_SILENCE_POWER = 1e-9  # -90 dBFS: frames at or below this are never speech, whatever the clip's level
_FRAME_S = 0.010  # level frames: fine enough to time silences to 10 ms
_FFT_S = 0.032  # spectral frames: about 31 Hz bins at any rate
_ACTIVE_BELOW_PEAK_DB = 35.0
_ACTIVE_ABOVE_FLOOR_DB = 6.0
_BANDWIDTH_SHARE = 0.99
_HF_EDGE_HZ = 4000.0
_CLIP_LEVEL = 0.999


def _db(power: float | np.ndarray) -> Any:
    return 10.0 * np.log10(np.maximum(power, _POWER_FLOOR))


def extract_cues(samples: np.ndarray, rate: int) -> dict[str, float]:
    """Every cue in `CUES` for one mono clip at its own rate.

    Silence is judged per 10 ms frame relative to the clip itself (35 dB under its loudest frame, and 6 dB
    over its own noise floor when that floor sits well under the speech), because corpora differ in level
    and noise by tens of dB and a fixed -40 dBFS gate would call a whole noisy clip speech. Spectral cues
    come from the mean Hann-windowed power spectrum. Levels and spectra are taken after removing the DC
    offset, so a DC offset shows up in `dc_offset` (and in peak and clipping, which it really changes), not
    as a raised noise floor or a low bandwidth as well.
    """
    x = np.asarray(samples, dtype=np.float32).ravel()  # float32 is what decode_audio gives, and twice as fast
    if x.size == 0:
        raise ValueError("extract_cues needs at least one sample")
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    n = x.size
    duration = n / rate
    dc = float(x.mean(dtype=np.float64))

    centred = x - np.float32(dc)
    frame = max(1, round(rate * _FRAME_S))
    n_frames = n // frame
    frames = centred[: n_frames * frame].reshape(n_frames, frame) if n_frames else centred[None, :]
    power = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / frames.shape[1]
    level_db = _db(power)
    peak_frame_db = float(level_db.max())
    floor_db = float(np.percentile(level_db, 10))
    gate_db = max(peak_frame_db - _ACTIVE_BELOW_PEAK_DB, min(floor_db + _ACTIVE_ABOVE_FLOOR_DB, peak_frame_db - 10.0))
    active = np.flatnonzero((level_db > gate_db) & (power > _SILENCE_POWER))
    if active.size:
        leading = active[0] * frames.shape[1] / rate
        trailing = max(0, n - (active[-1] + 1) * frames.shape[1]) / rate
        loudness = float(_db(power[active].mean()))
    else:
        leading = trailing = duration
        loudness = float(_db(power.mean()))

    bandwidth, hf_ratio = _spectral_cues(centred, rate)

    magnitude = np.abs(x)
    grid = x * np.float32(32768.0)  # exact: scaling by a power of two
    zeros = n - np.count_nonzero(x)
    on_grid = (np.count_nonzero(grid == np.rint(grid)) - zeros) / (n - zeros) if zeros < n else 1.0
    return {
        "duration_s": duration,
        "leading_silence_s": float(leading),
        "trailing_silence_s": float(trailing),
        "loudness_dbfs": loudness,
        "peak_dbfs": float(_db(float(magnitude.max()) ** 2)),
        "original_sample_rate": float(rate),
        "bandwidth_hz": bandwidth,
        "hf_energy_ratio": hf_ratio,
        "noise_floor_dbfs": floor_db,
        "dc_offset": dc,
        "clipping_fraction": float(np.mean(magnitude >= _CLIP_LEVEL)),
        # Share of non-zero samples on the 16-bit grid: 1.0 for 16-bit (and 8-bit G.711) sources, near 0 for
        # float or 24-bit ones. Zeros are left out since padded silence would make any source look 16-bit.
        "bit_depth_proxy": float(on_grid),
    }


def _spectral_cues(x: np.ndarray, rate: int) -> tuple[float, float]:
    """(frequency under which 99% of the energy lies, share of energy above 4 kHz), at the clip's own rate.

    Above-4-kHz energy is simply 0 for an 8 kHz clip: that absence is exactly the cue a model would use.
    """
    n_fft = max(64, 2 ** round(math.log2(rate * _FFT_S)))
    n_frames = x.size // n_fft
    if n_frames:
        frames = x[: n_frames * n_fft].reshape(n_frames, n_fft)
    else:
        frames = np.zeros((1, n_fft), dtype=x.dtype)
        frames[0, : x.size] = x
    spectrum = np.fft.rfft(frames * np.hanning(n_fft).astype(x.dtype), axis=1)
    psd = (spectrum.real**2 + spectrum.imag**2).sum(axis=0, dtype=np.float64)
    total = float(psd.sum())
    if total <= 0.0:
        return 0.0, 0.0
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    cumulative = np.cumsum(psd) / total
    index = min(int(np.searchsorted(cumulative, _BANDWIDTH_SHARE)), freqs.size - 1)
    hf_ratio = float(psd[freqs > _HF_EDGE_HZ].sum() / total)
    return float(freqs[index]), hf_ratio


@dataclass(frozen=True)
class CueResult:
    """How well one cue alone separates the classes. `direction` says which class has the higher values:
    "higher" means spoofs score higher on this cue. EERs are shares in [0, 1]."""

    cue: str
    eer: float
    direction: str
    cv_eer: float
    bonafide_median: float
    spoof_median: float
    flagged: bool


@dataclass
class AuditReport:
    """Result of `audit`: one `CueResult` per cue plus what was (not) decoded and how the CV folds were cut."""

    rows: list[CueResult]
    counts: dict[str, int]  # decoded clips per label
    failures: int = 0
    failure_reasons: dict[str, int] = field(default_factory=dict)  # error code -> clips
    failure_examples: list[str] = field(default_factory=list)  # "path: code: detail" for the first few
    cv_folds: str = "none"  # "source", "speaker", "random", or "none" when a class has under two clips

    @property
    def flagged_cues(self) -> list[str]:
        return [r.cue for r in self.rows if r.flagged]

    def sorted_rows(self) -> list[CueResult]:
        return sorted(self.rows, key=lambda r: (_nan_last(r.eer), r.cue))

    def to_markdown(self) -> str:
        """A report a reviewer can read in a PR: summary lines, then cues by EER, the worst shortcut first."""
        bonafide, spoof = self.counts.get("bonafide", 0), self.counts.get("spoof", 0)
        lines = [
            "# Shortcut audit",
            "",
            f"Decoded clips: {bonafide} bona fide, {spoof} spoof; {self.failures} failed to decode.",
            f"Cross-validation folds split by: {self.cv_folds}.",
            f"A cue is flagged when it alone separates the classes at an EER under {FLAG_BELOW_EER:.0%}: a "
            "detector trained on this corpus can learn that cue instead of voice artefacts.",
            "",
        ]
        if self.rows:
            lines += [
                "| cue | EER | CV EER | direction | median bona fide | median spoof | flag |",
                "|---|---:|---:|---|---:|---:|---|",
            ]
            for r in self.sorted_rows():
                lines.append(
                    f"| {r.cue} | {_pct(r.eer)} | {_pct(r.cv_eer)} | spoof {r.direction} | "
                    f"{_num(r.bonafide_median)} | {_num(r.spoof_median)} | {'FLAG' if r.flagged else ''} |"
                )
        else:
            lines.append("No cue could be scored: both classes need at least one decoded clip.")
        if self.failures:
            reasons = ", ".join(f"{code}: {count}" for code, count in sorted(self.failure_reasons.items()))
            lines += ["", f"Failures by reason: {reasons}.", "", "First failures:", ""]
            lines += [f"- {example}" for example in self.failure_examples]
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types only; NaN (a figure that could not be computed) becomes null."""
        return {
            "counts": dict(self.counts),
            "failures": self.failures,
            "failure_reasons": dict(self.failure_reasons),
            "failure_examples": list(self.failure_examples),
            "cv_folds": self.cv_folds,
            "flag_below_eer": FLAG_BELOW_EER,
            "flagged": self.flagged_cues,
            "cues": [{k: _json_number(v) for k, v in asdict(r).items()} for r in self.sorted_rows()],
        }


def _nan_last(value: float) -> float:
    return math.inf if math.isnan(value) else value


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1%}"


def _num(value: float) -> str:
    """Rates and sample counts in full (16000, not 1.6e+04); small values to four significant digits."""
    if math.isnan(value):
        return "n/a"
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _json_number(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


# --- folds -----------------------------------------------------------------------------------------------------


def cv_folds(rows: Sequence[ManifestRow]) -> tuple[np.ndarray, str]:
    """Fold (0 or 1) of every row and the grouping used: "source", "speaker", "random", or "none".

    Groups never straddle folds, so a cue that only identifies a source or a speaker gains nothing out of
    sample. Sources are used when each class has at least two, speakers likewise, else a class-stratified
    random half with a fixed seed (an audit rerun must give the same figures). "none" (all fold 0) means a
    class has fewer than two clips and no out-of-sample figure exists.
    """
    labels = [r.label for r in rows]
    per_class = Counter(labels)
    if min(per_class.get("bonafide", 0), per_class.get("spoof", 0)) < 2:
        return np.zeros(len(rows), dtype=np.int64), "none"
    for name in ("source", "speaker"):
        keys = [getattr(r, name) or f"\0{r.path}" for r in rows]  # an unnamed group is its own clip
        named = [{getattr(r, name) for r in rows if r.label == label and getattr(r, name)} for label in LABELS]
        if min(len(groups) for groups in named) >= 2:
            folds = _group_folds(keys, labels)
            if folds is not None:
                return folds, name
    return _random_folds(labels), "random"


def _group_folds(keys: list[str], labels: list[str]) -> np.ndarray | None:
    """Greedy balanced partition of whole groups: biggest first, each into the fold holding less of its classes.

    None when a fold ends up without one of the classes (one huge source, say): the caller then tries a finer
    grouping.
    """
    members: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        members.setdefault(key, []).append(i)
    totals = Counter(labels)
    filled = [dict.fromkeys(LABELS, 0), dict.fromkeys(LABELS, 0)]
    folds = np.zeros(len(keys), dtype=np.int64)
    for key in sorted(members, key=lambda k: (-len(members[k]), k)):
        group = Counter(labels[i] for i in members[key])
        load = [sum((filled[f][lab] + group[lab]) / totals[lab] for lab in LABELS) for f in (0, 1)]
        fold = 0 if load[0] <= load[1] else 1
        for lab in LABELS:
            filled[fold][lab] += group[lab]
        folds[members[key]] = fold
    if any(filled[f][lab] == 0 for f in (0, 1) for lab in LABELS):
        return None
    return folds


def _random_folds(labels: list[str]) -> np.ndarray:
    rng = np.random.default_rng(_RANDOM_FOLD_SEED)
    folds = np.zeros(len(labels), dtype=np.int64)
    label_array = np.asarray(labels)
    for lab in LABELS:
        index = rng.permutation(np.flatnonzero(label_array == lab))
        folds[index[: index.size // 2]] = 1
    return folds


# --- scoring one cue ---------------------------------------------------------------------------------------------


def _best_direction(bonafide: np.ndarray, spoof: np.ndarray) -> tuple[float, float, float]:
    """(EER, sign, threshold) of the better direction: spoof when sign * cue >= threshold."""
    eer_up, threshold_up = compute_eer(bonafide, spoof)
    eer_down, threshold_down = compute_eer(-bonafide, -spoof)
    if eer_down < eer_up:
        return eer_down, -1.0, threshold_down
    return eer_up, 1.0, threshold_up


def _cross_validated(values: np.ndarray, is_spoof: np.ndarray, folds: np.ndarray) -> float:
    """Mean over the two folds of the half total error (FAR + FRR) / 2 on one fold at the direction and
    threshold picked on the other. Not an EER strictly (nothing is equalised on the test fold), but it is
    the error a threshold rule actually makes on clips it did not see."""
    errors = []
    for test_fold in (0, 1):
        train, test = folds != test_fold, folds == test_fold
        _, sign, threshold = _best_direction(values[train & ~is_spoof], values[train & is_spoof])
        bonafide_test, spoof_test = sign * values[test & ~is_spoof], sign * values[test & is_spoof]
        frr = float(np.mean(bonafide_test >= threshold))
        far = float(np.mean(spoof_test < threshold))
        errors.append((frr + far) / 2.0)
    return float(np.mean(errors))


def _score_cue(cue: str, values: np.ndarray, is_spoof: np.ndarray, folds: np.ndarray, cv: bool) -> CueResult:
    bonafide, spoof = values[~is_spoof], values[is_spoof]
    eer, sign, _ = _best_direction(bonafide, spoof)
    return CueResult(
        cue=cue,
        eer=eer,
        direction="higher" if sign > 0 else "lower",
        cv_eer=_cross_validated(values, is_spoof, folds) if cv else math.nan,
        bonafide_median=float(np.median(bonafide)),
        spoof_median=float(np.median(spoof)),
        flagged=eer < FLAG_BELOW_EER,
    )


# --- the audit ---------------------------------------------------------------------------------------------------


def _progress(rows: list[ManifestRow], enabled: bool) -> Iterable[ManifestRow]:
    """tqdm on stderr when it is installed (it comes with the `train` extra, not the base install)."""
    if not enabled:
        return rows
    try:
        from tqdm import tqdm
    except ImportError:
        return rows
    return tqdm(rows, desc="audit", unit="clip", file=sys.stderr)


def _decoded_cues(
    rows: list[ManifestRow], manifest_path: Path, max_duration_s: float, progress: bool, failures: list[tuple[str, str]]
) -> Iterator[tuple[ManifestRow, dict[str, float]]]:
    for row in _progress(rows, progress):
        path = resolve_path(row, manifest_path)
        try:
            audio = decode_audio(path.read_bytes(), max_duration_s=max_duration_s)
        except NepcheckError as exc:
            failures.append((exc.code, f"{row.path}: {exc.code}: {exc.detail}"))
            continue
        except OSError as exc:
            failures.append(("unreadable_file", f"{row.path}: unreadable_file: {exc.strerror or exc}"))
            continue
        yield row, extract_cues(audio.samples, audio.sample_rate)


def audit(
    rows: list[ManifestRow], manifest_path: Path, *, max_duration_s: float = 60, progress: bool = True
) -> AuditReport:
    """Decode every clip as the service would, extract `CUES` and score each cue alone as a spoof detector.

    Clips that fail to decode (or are longer than `max_duration_s`, which the service refuses too) are
    counted by reason and skipped, never fatal: a corpus of thousands always has a few broken files. Watch
    the reasons anyway, since failures that fall mostly on one class are a shortcut of their own.
    """
    failures: list[tuple[str, str]] = []
    kept: list[ManifestRow] = []
    table: dict[str, list[float]] = {cue: [] for cue in CUES}
    for row, cues in _decoded_cues(rows, manifest_path, max_duration_s, progress, failures):
        kept.append(row)
        for cue in CUES:
            table[cue].append(cues[cue])

    counts = {lab: sum(r.label == lab for r in kept) for lab in LABELS}
    report = AuditReport(
        rows=[],
        counts=counts,
        failures=len(failures),
        failure_reasons=dict(Counter(code for code, _ in failures)),
        failure_examples=[text for _, text in failures[:_FAILURE_EXAMPLES]],
    )
    if min(counts.values()) == 0:
        return report
    folds, report.cv_folds = cv_folds(kept)
    is_spoof = np.array([r.label == "spoof" for r in kept])
    cv = report.cv_folds != "none"
    report.rows = [_score_cue(cue, np.asarray(table[cue]), is_spoof, folds, cv) for cue in CUES]
    return report


def run_audit(
    manifest: Path, *, out_json: Path | None = None, out_markdown: Path | None = None, max_duration_s: float = 60
) -> AuditReport:
    """Read a manifest, audit it, write the JSON and/or Markdown reports asked for, and return the report."""
    report = audit(read_manifest(manifest), manifest, max_duration_s=max_duration_s)
    if out_json is not None:
        out_json.parent.mkdir(parents=True, exist_ok=True)
        out_json.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    if out_markdown is not None:
        out_markdown.parent.mkdir(parents=True, exist_ok=True)
        out_markdown.write_text(report.to_markdown(), encoding="utf-8")
    return report
