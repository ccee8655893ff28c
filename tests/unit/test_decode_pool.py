"""The decode pool: decodes as `decode_audio` does, kills a decode at its deadline, survives a worker's death,
and turns a decoder's stderr into one log line."""

from __future__ import annotations

import asyncio
import io
import logging
import os
from collections.abc import Iterator

import numpy as np
import pytest
import soundfile as sf

from service.audio.decode_pool import DecodePool
from service.errors import InvalidInput
from tests.audiokit import speech
from tests.e2e.test_voice_api import _garbage_mp3_frames

OPTIONS = {"max_duration_s": 600.0, "max_decoded_samples": 10**9}


def _flac(samples: np.ndarray, rate: int) -> bytes:
    out = io.BytesIO()
    sf.write(out, samples, rate, format="FLAC")
    return out.getvalue()


def _crash(data: bytes, options: dict[str, object]) -> None:
    os.abort()


@pytest.fixture(scope="module")
def pool() -> Iterator[DecodePool]:
    pool = DecodePool(1, memory_limit_bytes=4 << 30)
    # the first task waits for the spawned worker to import its modules; later ones measure only decoding
    asyncio.run(pool.decode(_flac(speech(1.0, 16000), 16000), deadline_s=60, **OPTIONS))
    yield pool
    pool.close()


def test_decodes_what_decode_audio_decodes(pool: DecodePool) -> None:
    x = speech(2.0, 16000)
    audio = asyncio.run(pool.decode(_flac(x, 16000), deadline_s=30, **OPTIONS))
    assert audio.sample_rate == 16000 and audio.container == "flac"
    np.testing.assert_allclose(audio.samples, x, atol=1 / 2**15)


def test_errors_keep_their_code(pool: DecodePool) -> None:
    with pytest.raises(InvalidInput) as caught:
        asyncio.run(pool.decode(b"RIFF this is not audio" * 20, deadline_s=30, content_type="audio/wav", **OPTIONS))
    assert caught.value.code == "undecodable_audio" and caught.value.status == 422


def test_a_decode_past_its_deadline_is_killed_and_the_pool_goes_on(pool: DecodePool) -> None:
    long_silence = _flac(np.zeros((48000 * 300, 2), np.int16), 48000)  # 54 KB that take ~1 s to decode
    with pytest.raises(InvalidInput) as caught:
        asyncio.run(pool.decode(long_silence, deadline_s=0.05, **OPTIONS))
    assert caught.value.code == "decode_timeout"
    audio = asyncio.run(pool.decode(_flac(speech(1.0, 8000), 8000), deadline_s=60, **OPTIONS))
    assert audio.sample_rate == 8000


def test_a_worker_that_dies_is_a_422_and_is_replaced() -> None:
    crashing = DecodePool(1, task=_crash)
    try:
        with pytest.raises(InvalidInput) as caught:
            asyncio.run(crashing.decode(b"anything", deadline_s=60))
        assert caught.value.code == "undecodable_audio"
        with pytest.raises(InvalidInput):  # a fresh worker takes the next task
            asyncio.run(crashing.decode(b"anything", deadline_s=60))
    finally:
        crashing.close()


def test_decoder_stderr_becomes_one_log_line(
    pool: DecodePool, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.WARNING, logger="service.audio.decode_pool"):
        asyncio.run(pool.decode(_garbage_mp3_frames(), deadline_s=60, request_id="req-7", content_type="audio/mpeg",
                                **OPTIONS))
    lines = [r.getMessage() for r in caplog.records if r.name == "service.audio.decode_pool"]
    assert len(lines) == 1
    assert "req-7" in lines[0] and "libmpg123" in lines[0]
    assert int(lines[0].split("wrote ")[1].split(" ")[0]) > 100  # libmpg123 complains about every frame
    assert "libmpg123" not in capfd.readouterr().err  # none of it reached the server's own stderr
