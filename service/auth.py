"""API keys and per-key rate limits.

Keys are stored only as sha256 hashes (`id:sha256hex[:admin]`, one per line in the keys file or
comma-separated in NEPCHECK_API_KEYS), so a leaked config does not leak usable keys. Keys are long random
tokens, so a plain hash (no salt, no slow KDF) is the right tool here.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import time
from dataclasses import dataclass, field

from service.errors import Forbidden, RateLimited, Unauthorized
from service.settings import Settings

_ENTRY = re.compile(r"^(?P<id>[A-Za-z0-9_.-]{1,64}):(?P<hash>[0-9a-f]{64})(?::(?P<role>admin))?$")


@dataclass(frozen=True)
class ApiKey:
    id: str
    admin: bool = False


ANONYMOUS = ApiKey(id="anonymous", admin=True)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return "nck_" + secrets.token_urlsafe(32)


def parse_entries(lines: list[str], source: str) -> dict[str, ApiKey]:
    keys: dict[str, ApiKey] = {}
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ENTRY.match(line)
        if match is None:
            raise ValueError(f"{source}:{number}: expected 'id:sha256hex' or 'id:sha256hex:admin'")
        keys[match["hash"]] = ApiKey(id=match["id"], admin=match["role"] == "admin")
    return keys


def load_keys(settings: Settings) -> dict[str, ApiKey]:
    keys = parse_entries(list(settings.api_keys), "NEPCHECK_API_KEYS")
    if settings.api_keys_file is not None:
        lines = settings.api_keys_file.read_text(encoding="utf-8").splitlines()
        keys.update(parse_entries(lines, str(settings.api_keys_file)))
    return keys


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    if x_api_key:
        return x_api_key.strip()
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self.disabled = settings.auth_disabled
        self._keys = {} if self.disabled else load_keys(settings)
        if not self.disabled and not self._keys:
            # Fail at start-up: a server that answers 401 to everyone looks healthy and is useless.
            raise ValueError(
                "no API keys configured: set NEPCHECK_API_KEYS_FILE or NEPCHECK_API_KEYS (make one with "
                "`nepcheck keys new ID`), or NEPCHECK_AUTH_DISABLED=true for local use only"
            )

    def authenticate(self, key: str | None) -> ApiKey:
        if self.disabled:
            return ANONYMOUS
        if not key:
            raise Unauthorized("missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                               code="missing_api_key", headers={"WWW-Authenticate": "Bearer"})
        found = self._keys.get(hash_key(key))
        if found is None:
            raise Unauthorized("unknown API key", code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
        return found

    @staticmethod
    def require_admin(key: ApiKey) -> None:
        if not key.admin:
            raise Forbidden("this endpoint needs an admin key", code="admin_required")


@dataclass
class _Bucket:
    tokens: float
    updated: float = field(default_factory=time.monotonic)


class RateLimiter:
    """A token bucket per key: `burst` requests at once, refilled at `per_minute` a minute."""

    def __init__(self, per_minute: float, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def check(self, key_id: str) -> None:
        now = time.monotonic()
        bucket = self._buckets.setdefault(key_id, _Bucket(tokens=float(self.burst), updated=now))
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens < 1.0:
            retry = math.ceil((1.0 - bucket.tokens) / self.rate)
            raise RateLimited(f"rate limit of {self.rate * 60:g} requests a minute reached for this key",
                              headers={"Retry-After": str(retry)})
        bucket.tokens -= 1.0
