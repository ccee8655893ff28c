import numpy as np
import pytest

from service.errors import InvalidInput
from service.windowing import frame_windows, repeat_pad, window_starts


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
