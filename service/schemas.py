"""Request and response bodies of the HTTP API. Field descriptions end up in the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Score = Field(ge=0.0, le=1.0, description="calibrated probability of the positive class (fake voice / scam)")


class ModelRef(BaseModel):
    name: str
    version: str
    variant: str


VoiceVerdict = Literal["genuine", "inconclusive", "likely_fake", "fake", "no_speech"]
OptionalScore = Field(ge=0.0, le=1.0, description="calibrated probability of a synthetic voice; null without speech")


class WindowScore(BaseModel):
    start_s: float
    end_s: float
    speech: bool = Field(description="whether the window holds enough speech to be judged; if not, no score")
    speech_s: float = Field(description="seconds of speech the voice activity detector found in the window")
    score: float | None = OptionalScore
    llr: float | None


class VoiceResult(BaseModel):
    """A 'genuine' verdict means the model found no sign of synthesis; it is not proof of who is speaking.

    Audio without enough speech (silence, tones, music, noise) gets verdict `no_speech` and a null score.
    """

    score: float | None = OptionalScore
    llr: float | None = Field(
        description="log-likelihood ratio synthetic vs. bona fide, mean over the speech windows; null without speech"
    )
    verdict: VoiceVerdict
    windows: list[WindowScore]
    speech_s: float = Field(description="seconds of speech found in the clip")
    duration_s: float
    source_sample_rate: int
    model: ModelRef
    elapsed_ms: float


class CueOut(BaseModel):
    kind: str
    start: int = Field(description="character offset in the submitted text (also for cues found after normalisation)")
    end: int
    text: str
    quoted: bool = Field(
        False,
        description="the cue stands in quotation marks or in a sentence that warns about or reports a scam "
        "(a heuristic: a scam ad's quoted testimonial is quoted too); it does not change the score",
    )


class TextWindowScore(BaseModel):
    char_start: int = Field(description="character offset of the window in the submitted text")
    char_end: int
    score: float = Score
    llr: float


class TextResult(BaseModel):
    """`cues` explain what in the text looks like a scam; the decision is the model's `score`, not the cues."""

    score: float = Score
    llr: float = Field(description="log-likelihood ratio scam vs. legit, max over token windows")
    verdict: Literal["legit", "inconclusive", "likely_scam", "scam"]
    cues: list[CueOut]
    windows: list[TextWindowScore]
    lang: str | None
    model: ModelRef
    elapsed_ms: float


class TextRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, description="ad copy, message or transcript; long texts are windowed, not cut")
    lang: str | None = Field(None, max_length=16, description="language hint such as 'nl' or 'en'; echoed back")


class Reason(BaseModel):
    detector: Literal["voice", "text", "url"]
    verdict: str
    score: float | None = None
    detail: str


class Risk(BaseModel):
    score: float = Field(ge=0.0, le=1.0, description="the highest detector score")
    level: Literal["low", "medium", "high", "critical"]
    reasons: list[Reason]


class TranscriptSegment(BaseModel):
    start_s: float = Field(description="where the segment starts in the call audio")
    end_s: float
    text: str
    char_start: int = Field(description="offset of the segment in `transcript.text`, the text the detector scored")
    char_end: int


class Transcript(BaseModel):
    """What the service heard: returned to the caller only, never logged or stored."""

    text: str = Field(description="the segments joined by single spaces; `text.windows` and `cues` index it")
    language: str
    language_source: Literal["hint", "detected"] = Field(
        description="`hint`: your `lang`; `detected`: the most probable of the ASR card's languages"
    )
    language_probability: float | None = Field(description="the detector's probability; null for a hint")
    segments: list[TranscriptSegment]
    model: ModelRef
    elapsed_ms: float


class CallResult(BaseModel):
    voice: VoiceResult | None = Field(description="null when no call audio was sent")
    text: TextResult | None
    risk: Risk
    elapsed_ms: float
    transcript: Transcript | None = Field(
        None, description="the service's transcription of the audio, when it made one (no `transcript` sent)"
    )
    transcription: Literal["provided", "done", "skipped", "unavailable", "not_applicable"] = Field(
        "not_applicable",
        description="`provided`: you sent the transcript; `done`: the service transcribed the audio; `skipped`: "
        "transcribe=false; `unavailable`: this server has no ASR model, so the words were not scored; "
        "`not_applicable`: no audio",
    )


class AdRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=256)
    text: str = Field(min_length=1)
    audio_base64: str | None = Field(None, description="the ad's soundtrack, any accepted container, base64")
    landing_url: str | None = Field(None, max_length=4096)
    advertiser: str | None = Field(None, max_length=512)


class AdResult(BaseModel):
    id: str
    voice: VoiceResult | None
    text: TextResult
    risk: Risk
    elapsed_ms: float


class Problem(BaseModel):
    """RFC 9457 problem details; `code` is stable and meant for programs, `detail` for people."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    request_id: str | None = None
