"""Time-resolved Whisper frames, the heads over them (attentive statistics, conv; cross-entropy, OC-softmax) and
their cross-validation through the same folds as the pooled probe. Tiny random tensors only."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.unit.training.test_voice_crossval import corpus as crossval_corpus
from training.corpora.manifest import ManifestRow
from training.voice.crossval import cross_validate, make_folds, summarise
from training.voice.features import WindowFeatures, _build
from training.voice.frames import frames_spec, is_frames_name, pool_states
from training.voice.head_train import FitLog, HeadConfig, fit_frames_head, inner_dev_clips
from training.voice.heads import OCSoftmax, build_head, build_loss, fit_state_pca


def test_frames_names_parse_and_others_are_refused() -> None:
    assert frames_spec("frames4-whisper3") == (4, 3)
    assert is_frames_name("frames2-whisper6") and not is_frames_name("whisper3")
    with pytest.raises(ValueError):
        frames_spec("whisper3")


def test_pooled_frames_average_to_the_pooled_probes_mean() -> None:
    """Frames are the per-position layer-normed states the pooled probe averages: their mean over positions is
    the pooled feature's mean half, so both caches describe the same windows."""
    states = torch.randn(4, 2, 200, 16) * 3 + 1  # [S, B, T, D]
    frames = pool_states(states, 4)
    assert frames.shape == (2, 4, 50, 16)
    pooled_mean = F.layer_norm(states, (16,)).mean(dim=2).transpose(0, 1)  # PooledWhisper's mean, [B, S, D]
    torch.testing.assert_close(frames.mean(dim=2), pooled_mean, atol=1e-5, rtol=1e-5)
    assert pool_states(states[:, :, :198], 4).shape[2] == 49  # a partial last group is dropped


def test_frames_front_end_is_built_by_the_feature_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int] = []

    class Fake(torch.nn.Module):
        def __init__(self, layers: int | None = None) -> None:
            super().__init__()
            built.append(layers or -1)

    monkeypatch.setattr("training.voice.frames.WhisperFrontEnd", Fake)
    with pytest.raises(AttributeError):  # the fake has no encoder; what matters is which class was asked for
        _build("frames4-whisper2")
    assert built == [2]


@pytest.mark.parametrize("kind", ["attstats", "conv"])
@pytest.mark.parametrize("loss_kind", ["ce", "ocsoftmax"])
def test_heads_map_frames_to_one_score_per_window_and_learn(kind: str, loss_kind: str) -> None:
    torch.manual_seed(0)
    head, loss = build_head(kind, 3, dim=8, width=8, embed=4), build_loss(loss_kind, 4)
    x = torch.randn(16, 3, 10, 8)
    y = torch.tensor([0, 1] * 8)
    x[y == 1, 1, 4:6] += 2.0  # a local burst in one state: what the heads should find
    optimiser = torch.optim.Adam(list(head.parameters()) + list(loss.parameters()), lr=0.02)
    with torch.no_grad():
        first = float(loss(head(x), y, torch.ones(16)))
    for _ in range(40):
        value = loss(head(x), y, torch.ones(16))
        optimiser.zero_grad()
        value.backward()
        optimiser.step()
    assert float(value) < first
    head.eval()
    scores = loss.score(head(x))
    assert scores.shape == (16,)
    assert scores[y == 1].mean() > scores[y == 0].mean()  # higher = spoof for both losses


def test_oc_softmax_penalises_spoofs_near_the_centre_and_bona_fide_away_from_it() -> None:
    oc = OCSoftmax(2, m_real=0.9, m_fake=0.2, alpha=20.0)
    with torch.no_grad():
        oc.centre.copy_(torch.tensor([[1.0, 0.0]]))
    near, far = torch.tensor([[1.0, 0.05]]), torch.tensor([[-0.2, 1.0]])
    one = torch.ones(1)
    assert float(oc(near, torch.tensor([0]), one)) < 0.5 < float(oc(near, torch.tensor([1]), one))
    assert float(oc(far, torch.tensor([1]), one)) < 0.5 < float(oc(far, torch.tensor([0]), one))
    assert float(oc.score(far)) > float(oc.score(near))


def test_standardiser_gives_unit_scale_per_state_and_dimension() -> None:
    from training.voice.heads import StateStandardise

    x = torch.randn(400, 2, 3) * torch.tensor([[1.0, 10.0, 0.1], [2.0, 2.0, 2.0]]) + 5
    std = StateStandardise(x.mean(0), x.std(0))
    out = std(x[:, :, None, :])  # [N, S, T=1, D]
    torch.testing.assert_close(out.std(0).squeeze(1), torch.ones(2, 3), atol=1e-4, rtol=1e-4)


def test_state_pca_keeps_the_top_directions_per_state() -> None:
    torch.manual_seed(0)
    x = torch.randn(500, 2, 6) * torch.tensor([5.0, 3.0, 0.1, 0.1, 0.1, 0.1])
    pca = fit_state_pca(x, 2)
    out = pca(x[:, :, None, :].permute(0, 1, 2, 3))  # [N, S, T=1, D] -> [N, S, 1, 2]
    assert out.shape == (500, 2, 1, 2)
    kept = out.pow(2).sum() / (x - x.mean(0)).pow(2).sum()
    assert kept > 0.99
    comps = pca.components[0]
    torch.testing.assert_close(comps.T @ comps, torch.eye(2), atol=1e-5, rtol=1e-5)


def corpus() -> list[ManifestRow]:
    return crossval_corpus(sources=10, held_out=False)


def planted_frames(rows: list[ManifestRow], seed: int = 0) -> WindowFeatures:
    rng = np.random.default_rng(seed)
    clip = np.repeat(np.arange(len(rows)), 2)
    spoof = np.array([r.label == "spoof" for r in rows])[clip]
    x = rng.standard_normal((clip.size, 2, 6, 8)).astype(np.float32)
    x[spoof, 0, 2:4, :4] += 3.0  # a short burst in the lower state, whatever the source or family
    return WindowFeatures(x.astype(np.float16), clip)


def test_inner_dev_split_holds_out_sources_of_the_training_clips_only() -> None:
    rows = corpus()
    train = np.arange(0, len(rows) - 12)
    dev = inner_dev_clips(rows, train, 4, seed=3)
    assert dev.size and set(dev.tolist()) <= set(train.tolist())
    labels = {rows[i].label for i in dev}
    assert labels == {"bonafide", "spoof"}
    dev_sources = {rows[i].source for i in dev}
    assert all(rows[i].source not in dev_sources for i in set(train.tolist()) - set(dev.tolist())
               if rows[i].label == "bonafide")


@pytest.mark.parametrize("rank", [4, 0])  # a per-state PCA, or every dimension standardised
def test_frames_heads_cross_validate_on_the_probes_folds(rank: int) -> None:
    rows = corpus()
    frames = {"clean": planted_frames(rows)}
    folds = make_folds(rows, 3, seed=0)
    fit_log = FitLog()
    config = HeadConfig(head="attstats", loss="ce", rank=rank, width=8, embed=4, epochs=20, patience=20,
                        batch_size=16, lr=1e-2, inner_k=3, pca_positions=400)

    def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, clip: np.ndarray) -> object:
        return fit_frames_head(x, y, w, clip, rows=rows, config=config, fit_log=fit_log, cache={})

    result = cross_validate(rows, frames, folds, front_end="attstats:ce", train_conditions=["clean"],
                            test_conditions=["clean"], fit=fit)  # type: ignore[arg-type]
    summary = summarise(rows, result, "clean")
    assert np.nanmean(result.fold_eer["clean"]) < 0.2  # pooled over folds would mix each fold's score scale
    assert len(result.scores["clean"]) == sum(t.size for t in folds.test)
    assert len(fit_log.entries) == 3 and all(0 <= e["epoch"] < 20 for e in fit_log.entries)
    assert "at_5pct_threshold" in summary["bonafide_fpr_by_language"]["en"]


def test_cv_compare_puts_runs_side_by_side() -> None:
    from training.voice.cv_compare import tables

    def run(name: str, eer: float) -> dict[str, object]:
        return {"front_end": name, "condition": "clean", "pooled_eer": eer, "fold_eer": [eer, float("nan")],
                "family_eer": {"hifigan": {"n": 5, "eer": eer}},
                "bonafide_fpr_by_language": {"nl": {"n": 9, "at_5pct_threshold": 0.1}}}

    text = tables([run("whisper3", 0.32), run("attstats:ce", 0.25)])  # type: ignore[list-item]
    assert "| whisper3 | clean | 32.0% | 32.0% | 32.0, - |" in text
    assert "| hifigan | 5 | 32.0 | 25.0 |" in text
    assert "| nl | 9 | 10.0 | 10.0 |" in text
