"""API keys and rate limits per caller.

Keys are stored only as sha256 hashes (`id:sha256hex[:admin]`, one per line in the keys file or
comma-separated in NEPCHECK_API_KEYS), so a leaked config does not leak usable keys. Keys are long random
tokens, so a plain hash (no salt, no slow KDF) is the right tool here.

A caller is its API key; with authentication off it is its client address: the socket peer, or, when the peer
is one of NEPCHECK_TRUSTED_PROXIES, the nearest address in X-Forwarded-For that is not a trusted proxy. Nobody
else's X-Forwarded-For is believed, so a client cannot pick its own bucket.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
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


class ClientAddresses:
    """Where a request comes from, believing X-Forwarded-For only from trusted proxies."""

    def __init__(self, trusted_proxies: Iterable[str] = ()) -> None:
        self._trusted = [ipaddress.ip_network(entry, strict=False) for entry in trusted_proxies]

    def _is_trusted(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._trusted)

    def resolve(self, peer: str | None, forwarded_for: Sequence[str] = ()) -> str:
        """The client's address. Each proxy appends the address it was called from, so the list is read from the
        right, past the trusted proxies, to the first address that no trusted proxy vouches for beyond."""
        host = peer or "unknown"
        if not self._trusted or not self._is_trusted(host):
            return host
        hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
        for hop in reversed(hops):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                return host  # a trusted proxy writes addresses only: stop at the last address it vouched for
            if not self._is_trusted(hop):
                return hop
            host = hop
        return host


def address_bucket(address: str) -> str:
    """The rate-limit bucket of a client address: IPv6 clients get a /64 each, as one host usually has all of it."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"addr:{address}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"addr:{ip.ipv4_mapped}"
        return f"addr:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"addr:{ip}"


@dataclass
class _Bucket:
    tokens: float
    updated: float = field(default_factory=time.monotonic)


class RateLimiter:
    """A token bucket per caller: `burst` requests at once, refilled at `per_minute` a minute.

    A caller is an API key, or with authentication off (`ANONYMOUS`) a client address (`bucket_for`). At most
    `max_buckets` are kept, so that many client addresses cannot grow memory without bound: the least recently
    used goes first, usually one idle long enough to have refilled anyway.
    """

    def __init__(
        self, per_minute: float, burst: int, *, trusted_proxies: Iterable[str] = (), max_buckets: int = 65536
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self.max_buckets = max_buckets
        self.clients = ClientAddresses(trusted_proxies)
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def bucket_for(self, key: ApiKey, peer: str | None, forwarded_for: Sequence[str] = ()) -> str:
        """The bucket of a request: its key's id, or with authentication off its client's address."""
        if key is ANONYMOUS:
            return address_bucket(self.clients.resolve(peer, forwarded_for))
        return key.id

    def check(self, bucket_id: str) -> None:
        now = time.monotonic()
        bucket = self._buckets.get(bucket_id)
        if bucket is None:
            bucket = self._buckets[bucket_id] = _Bucket(tokens=float(self.burst), updated=now)
            if len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(bucket_id)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens < 1.0:
            retry = math.ceil((1.0 - bucket.tokens) / self.rate)
            whom = "client address" if bucket_id.startswith("addr:") else "key"
            raise RateLimited(f"rate limit of {self.rate * 60:g} requests a minute reached for this {whom}",
                              headers={"Retry-After": str(retry)})
        bucket.tokens -= 1.0
