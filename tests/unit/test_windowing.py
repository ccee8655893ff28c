import numpy as np
import pytest

from service.card import VoiceInput
from service.errors import InvalidInput
from service.windowing import frame_windows, model_windows, repeat_pad, window_starts


@pytest.mark.parametrize(
    ("n", "window", "hop", "expected"),
    [
        (100, 100, 50, [0]),
        (50, 100, 50, [0]),
        (200, 100, 50, [0, 50, 100]),
        (230, 100, 50, [0, 50, 100, 130]),  # the tail gets a window aligned to the end
        (101, 100, 100, [0, 1]),
    ],
)
def test_window_starts_cover_every_sample(n: int, window: int, hop: int, expected: list[int]) -> None:
    starts = window_starts(n, window, hop)
    assert starts == expected
    covered = np.zeros(n, bool)
    for s in starts:
        covered[s : s + window] = True
    assert covered.all()


def test_frame_windows_shapes_and_content() -> None:
    x = np.arange(230, dtype=np.float32)
    frames, starts = frame_windows(x, window=100, hop=50, min_samples=10, sample_rate=100)
    assert frames.shape == (4, 100) and frames.dtype == np.float32
    assert starts.tolist() == [0, 50, 100, 130]
    assert frames[3, -1] == 229 and frames[1, 0] == 50


def test_short_clip_is_repeated_not_zero_padded() -> None:
    x = np.array([1, 2, 3], np.float32)
    frames, starts = frame_windows(x, window=8, hop=4, min_samples=3, sample_rate=1)
    assert frames.tolist() == [[1, 2, 3, 1, 2, 3, 1, 2]] and starts.tolist() == [0]
    assert repeat_pad(np.arange(10.0), 4).tolist() == [0, 1, 2, 3]


def test_too_short_is_a_clear_422() -> None:
    with pytest.raises(InvalidInput) as info:
        frame_windows(np.zeros(10, np.float32), window=100, hop=50, min_samples=20, sample_rate=100)
    assert info.value.code == "audio_too_short" and info.value.status == 422
    assert "0.10 s" in info.value.detail and "0.20 s" in info.value.detail


def test_model_windows_follow_the_cards_window_rule() -> None:
    spec = VoiceInput(sample_rate=8000, window_s=1.0, hop_s=0.5, min_duration_s=0.25)
    assert (spec.window_samples, spec.hop_samples, spec.min_samples) == (8000, 4000, 2000)
    x = np.arange(20_000, dtype=np.float32)
    frames, starts = model_windows(x, spec)
    want_frames, want_starts = frame_windows(x, window=8000, hop=4000, min_samples=2000, sample_rate=8000)
    assert starts.tolist() == want_starts.tolist() == [0, 4000, 8000, 12000]
    assert np.array_equal(frames, want_frames)
    with pytest.raises(InvalidInput, match="at least 0.25 s"):
        model_windows(x[:1999], spec)
    # a hop or minimum under one sample still advances and still asks for a sample
    tiny = VoiceInput(sample_rate=8000, window_s=1.0, hop_s=1e-5, min_duration_s=1e-5)
    assert (tiny.hop_samples, tiny.min_samples) == (1, 1)
