"""The model card (`card.json`): the contract between training, which writes it, and the service, which reads it.

It is a pydantic schema so that a card written by a different version of the exporter is either understood
exactly or refused with a message naming the field, never half-read.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CARD_SCHEMA_VERSION = 1

VOICE_BANDS = ("genuine", "inconclusive", "likely_fake", "fake")
TEXT_BANDS = ("legit", "inconclusive", "likely_scam", "scam")
BANDS: dict[str, tuple[str, ...]] = {"voice": VOICE_BANDS, "text": TEXT_BANDS}
LABELS: dict[str, tuple[str, str]] = {"voice": ("bonafide", "spoof"), "text": ("legit", "scam")}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VoiceInput(_Strict):
    sample_rate: int = Field(ge=4000, le=192_000)
    window_s: float = Field(gt=0, le=60)
    hop_s: float = Field(gt=0, le=60)
    min_duration_s: float = Field(gt=0, le=60)
    # The speech gate (service.audio.vad): a frame is speech at this Silero probability, and a window is scored
    # only with this much speech in it (or half of a shorter clip). Cards written before the gate get defaults.
    speech_threshold: float = Field(0.5, gt=0, lt=1)
    min_speech_s: float = Field(1.0, ge=0, le=60)

    @model_validator(mode="after")
    def _consistent(self) -> VoiceInput:
        if self.min_duration_s > self.window_s:
            raise ValueError("min_duration_s must not exceed window_s")
        return self

    # The window rule in samples, used by every caller that cuts windows (service.windowing): at least one
    # sample each, so a tiny hop or minimum can never stall or empty the framing.
    @property
    def window_samples(self) -> int:
        return round(self.window_s * self.sample_rate)

    @property
    def hop_samples(self) -> int:
        return max(1, round(self.hop_s * self.sample_rate))

    @property
    def min_samples(self) -> int:
        """The shortest clip the model judges (shorter audio is `audio_too_short`)."""
        return max(1, round(self.min_duration_s * self.sample_rate))


class TextInput(_Strict):
    tokenizer: str = "tokenizer.json"
    max_length: int = Field(ge=8, le=8192)
    stride: int = Field(ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> TextInput:
        if self.stride >= self.max_length // 2:
            raise ValueError("stride must be under half of max_length")
        return self


class Calibration(_Strict):
    """Platt scaling: llr = scale * (logit[1] - logit[0]) + bias, fitted on a development set."""

    method: Literal["platt"] = "platt"
    scale: float
    bias: float

    @model_validator(mode="after")
    def _finite(self) -> Calibration:
        if not (math.isfinite(self.scale) and math.isfinite(self.bias)) or self.scale <= 0:
            raise ValueError("calibration scale must be finite and positive, bias finite")
        return self


def _plain_file_name(name: str, what: str) -> str:
    # Files are read from the model folder; a path could point the service at any file on the machine.
    if not name or "/" in name or "\\" in name or ".." in name:
        raise ValueError(f"{what} must be plain file names in the model folder, got {name!r}")
    return name


class Variant(_Strict):
    """One ONNX file of the model; `external_data` hashes the weight shards it references (shard file -> sha256).

    Weights go to shards when one file would exceed the repository's size limit; the card hashes every shard so
    that a tampered or incomplete copy is refused like a changed ONNX file.
    """

    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    precision: Literal["fp32", "fp16", "int8"] = "fp32"
    external_data: dict[str, Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = Field(default_factory=dict)

    @field_validator("external_data")
    @classmethod
    def _plain_file_names(cls, shards: dict[str, str]) -> dict[str, str]:
        for name in shards:
            _plain_file_name(name, "external_data names")
        return shards


class NgramSpec(_Strict):
    """The n-gram half of a text model (`service.text.ngram_model`): a TF-IDF logistic regression over hashed
    word and character n-grams (`service.text.ngrams`). Its LLR (its own Platt `calibration`) times `weight` is
    added to every window's logit difference before the card's calibration, so the card's thresholds were
    fitted on exactly that sum."""

    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    buckets: int = Field(ge=256, le=1 << 24)
    weight: float = Field(gt=0, le=10)
    calibration: Calibration

    @field_validator("file")
    @classmethod
    def _plain_file(cls, file: str) -> str:
        return _plain_file_name(file, "n-gram model files")


class ModelCard(BaseModel):
    """Known fields are validated; unknown top-level fields (notes, plots) are kept and shown by /v1/models."""

    model_config = ConfigDict(extra="allow", frozen=True)

    schema_version: Literal[1]
    name: str = Field(min_length=1)
    task: Literal["voice", "text"]
    version: str = Field(min_length=1)
    created: str
    labels: tuple[str, str]
    input: VoiceInput | TextInput
    calibration: Calibration
    thresholds: dict[str, float] = Field(
        description="lowest LLR of each band above the first, e.g. inconclusive, likely_fake, fake"
    )
    variants: dict[str, Variant]
    default_variant: str
    onnx: dict[str, Any] = Field(default_factory=dict, description="opset, exporter, library versions")
    training_data: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    ngram: NgramSpec | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ModelCard:
        expected_input = VoiceInput if self.task == "voice" else TextInput
        if not isinstance(self.input, expected_input):
            raise ValueError(f"a {self.task} card needs a {expected_input.__name__} input spec")
        if self.ngram is not None and self.task != "text":
            raise ValueError("only a text card can name an n-gram model")
        if tuple(self.labels) != LABELS[self.task]:
            raise ValueError(f"labels must be {list(LABELS[self.task])} (index 1 = the positive class)")
        bands = BANDS[self.task][1:]
        if set(self.thresholds) != set(bands):
            raise ValueError(f"thresholds must name exactly {list(bands)}")
        values = [self.thresholds[band] for band in bands]
        if any(not math.isfinite(v) for v in values) or values != sorted(values):
            raise ValueError(f"thresholds must be finite and non-decreasing in the order {list(bands)}")
        if self.default_variant not in self.variants:
            raise ValueError(f"default_variant {self.default_variant!r} is not among variants")
        return self

    @property
    def bands(self) -> tuple[str, ...]:
        return BANDS[self.task]
