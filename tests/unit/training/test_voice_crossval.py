"""Leave-sources-and-families-out folds, the linear head and the shipped probe graph."""

import numpy as np
import pytest

from training.corpora.manifest import ManifestRow, family_of
from training.voice.crossval import Head, clip_scores, cross_validate, fit_head, make_folds, summarise
from training.voice.features import WindowFeatures


def corpus(sources: int = 8, held_out: bool = True) -> list[ManifestRow]:
    """`sources` demo pages of 6 bona fide and 6 spoof clips (six vocoder families), and one held-out clip."""
    rows = []
    for s in range(sources):
        for i in range(6):
            rows.append(ManifestRow(path=f"s{s}/b{i}.wav", label="bonafide", system="bonafide", source=f"page{s}",
                                    language="nl" if s % 2 else "en"))
            fam = ["hifigan", "vocos", "encodec", "world", "wavenet", "bigvgan"][(s + i) % 6]
            rows.append(ManifestRow(path=f"s{s}/f{i}.wav", label="spoof", system=f"x{i}+{fam}", source=f"page{s}"))
    if held_out:
        rows.append(ManifestRow(path="eval/b.wav", label="bonafide", system="bonafide", source="held/out"))
    return rows


def test_no_source_or_family_is_on_both_sides_of_a_fold() -> None:
    rows = corpus()
    folds = make_folds(rows, 4, seed=1, eval_only=["held/out"])
    for test, train in zip(folds.test, folds.train, strict=True):
        assert not set(test) & set(train)
        assert not {rows[i].source for i in test} & {rows[i].source for i in train}
        test_families = {family_of(rows[i]) for i in test if rows[i].label == "spoof"}
        assert not test_families & {family_of(rows[i]) for i in train if rows[i].label == "spoof"}
        assert all(rows[i].source != "held/out" for i in train)
    tested = np.concatenate(folds.test)
    assert len(set(tested.tolist())) == tested.size  # each clip is tested at most once


def test_cross_validation_finds_a_planted_cue_and_reports_it() -> None:
    rows = corpus()
    rng = np.random.default_rng(0)
    clip = np.repeat(np.arange(len(rows)), 2)  # two windows per clip
    spoof = np.array([r.label == "spoof" for r in rows])[clip]
    x = rng.standard_normal((clip.size, 5)).astype(np.float32)
    x[:, 0] += 2.5 * spoof  # what separates the classes, whatever the source or family
    features = {"clean": WindowFeatures(x, clip)}
    folds = make_folds(rows, 3, seed=0)
    result = cross_validate(rows, features, folds, front_end="toy", train_conditions=["clean"],
                            test_conditions=["clean"], c=1.0)
    summary = summarise(rows, result, "clean")
    assert summary["pooled_eer"] < 0.15
    assert set(summary["bonafide_fpr_by_language"]) <= {"en", "nl", "?"}
    assert all(v["n"] > 0 for v in summary["family_eer"].values())


def test_a_clip_scores_the_mean_of_its_windows() -> None:
    head = Head(mean=np.zeros(2, np.float32), scale=np.ones(2, np.float32), weight=np.array([1.0, 0.0], np.float32),
                bias=0.5)
    windows = WindowFeatures(np.array([[1.0, 9.0], [3.0, 9.0], [10.0, 0.0]], np.float32), np.array([4, 4, 7]))
    assert clip_scores(head, windows, np.array([4])) == {4: pytest.approx(2.5)}


def test_fit_head_separates_and_weights_by_sample() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-1, 1, (200, 3)), rng.normal(1, 1, (200, 3))]).astype(np.float32)
    y = np.repeat([0, 1], 200)
    head = fit_head(x, y, c=1.0)
    assert (head.score(x[200:]) > head.score(x[:200]).mean()).mean() > 0.8
