import numpy as np
import pytest

from service.audio import mulaw_encode, pcm16_encode, resample
from service.card import VoiceInput
from service.windowing import StreamWindows, model_windows

RATE = 8000


def tone(seconds: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def _spec(*, min_duration_s: float) -> VoiceInput:
    """Two-second windows with a one-second hop at the stream's own rate."""
    return VoiceInput(sample_rate=RATE, window_s=2.0, hop_s=1.0, min_duration_s=min_duration_s)


def feed(sw: StreamWindows, data: bytes, frame: int) -> list[tuple[int, np.ndarray]]:
    out = []
    for i in range(0, len(data), frame):
        out += sw.push(data[i : i + frame])
    return out + sw.finish()


@pytest.mark.parametrize("seconds", [1.0, 4.0, 6.3])
def test_stream_windows_match_the_whole_file_windows(seconds: float) -> None:
    x = tone(seconds)
    spec = VoiceInput(sample_rate=16000, window_s=2.0, hop_s=1.0, min_duration_s=0.5)
    sw = StreamWindows(spec, encoding="pcm_s16le", source_rate=RATE)
    streamed = feed(sw, pcm16_encode(x), frame=321)  # odd frame size: samples split across frames
    whole = resample(x, RATE, 16000)
    frames, starts = model_windows(whole, spec)
    assert [s for s, _ in streamed] == starts.tolist()
    for (_, got), want in zip(streamed, frames, strict=True):
        assert got.shape == want.shape
        # The streaming resampler's filter state differs only at the very start.
        assert np.abs(got[200:] - want[200:]).max() < 2e-3
    assert sw.duration_s == pytest.approx(seconds, abs=1e-3)


def test_twenty_ms_mulaw_frames_emit_windows_as_soon_as_complete() -> None:
    sw = StreamWindows(_spec(min_duration_s=0.5), encoding="mulaw", source_rate=RATE)
    data = mulaw_encode(tone(3.0))
    emitted_at = []
    for i in range(0, len(data), 160):
        if sw.push(data[i : i + 160]):
            emitted_at.append(i + 160)
    # windows complete at 2 s and 3 s of audio (+ resampler delay of a frame or two)
    assert len(emitted_at) == 2
    assert abs(emitted_at[0] - 2 * RATE) <= 320 and abs(emitted_at[1] - 3 * RATE) <= 320


def test_buffer_stays_bounded_on_a_long_call() -> None:
    sw = StreamWindows(_spec(min_duration_s=0.5), encoding="mulaw", source_rate=RATE)
    frame = mulaw_encode(tone(0.02))
    for _ in range(50 * 60):  # one minute of 20 ms frames
        sw.push(frame)
    assert sw._buffer.size <= 3 * RATE
    assert sw.emitted >= 57


def test_too_short_stream_emits_nothing_and_short_stream_is_padded() -> None:
    sw = StreamWindows(_spec(min_duration_s=1.0), encoding="alaw", source_rate=RATE)
    assert sw.push(b"\xd5" * 100) == [] and sw.finish() == []
    sw = StreamWindows(_spec(min_duration_s=1.0), encoding="pcm_s16le", source_rate=RATE)
    (start, window), = feed(sw, pcm16_encode(tone(1.5)), 320)
    assert start == 0 and window.size == 2 * RATE
