import time
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from service.auth import (
    ANONYMOUS,
    ApiKey,
    Authenticator,
    ClientAddresses,
    RateLimiter,
    address_bucket,
    hash_key,
    new_key,
    parse_entries,
    presented_key,
)
from service.errors import Forbidden, RateLimited, Unauthorized
from service.settings import Settings


def settings(**kw) -> Settings:
    return Settings(_env_file=None, **kw)


def test_keys_are_random_and_stored_hashed(tmp_path: Path) -> None:
    key = new_key()
    assert key != new_key() and len(key) > 40
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"# comment\n\npartner-1:{hash_key(key)}\nops:{hash_key('adminkey')}:admin\n")
    auth = Authenticator(settings(api_keys_file=keys_file))
    assert auth.authenticate(key).id == "partner-1" and not auth.authenticate(key).admin
    assert auth.authenticate("adminkey").admin
    assert key not in keys_file.read_text()


def test_missing_and_wrong_keys_are_401() -> None:
    auth = Authenticator(settings(api_keys=[f"a:{hash_key('right')}"]))
    with pytest.raises(Unauthorized) as missing:
        auth.authenticate(None)
    assert missing.value.code == "missing_api_key" and missing.value.headers["WWW-Authenticate"] == "Bearer"
    with pytest.raises(Unauthorized) as wrong:
        auth.authenticate("wrong")
    assert wrong.value.code == "invalid_api_key"
    with pytest.raises(Forbidden):
        auth.require_admin(auth.authenticate("right"))


def test_no_keys_without_explicit_opt_out_fails_at_start() -> None:
    with pytest.raises(ValueError, match="no API keys configured"):
        Authenticator(settings())
    assert Authenticator(settings(auth_disabled=True)).authenticate(None) is ANONYMOUS


def test_env_list_of_keys_is_parsed_from_csv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEPCHECK_API_KEYS", f"a:{hash_key('k1')}, b:{hash_key('k2')}:admin")
    auth = Authenticator(Settings())
    assert auth.authenticate("k2").id == "b" and auth.authenticate("k2").admin


@pytest.mark.parametrize("line", ["nohash", "id:xyz", f"bad id:{'0' * 64}", f"a:{'0' * 64}:root"])
def test_malformed_key_lines_are_refused_with_their_place(line: str) -> None:
    with pytest.raises(ValueError, match="keys:1"):
        parse_entries([line], "keys")


def test_presented_key_sources() -> None:
    assert presented_key("Bearer abc", None) == "abc"
    assert presented_key("bearer  abc ", None) == "abc"
    assert presented_key("Basic abc", None) is None
    assert presented_key("Bearer a", "b") == "b"


def test_rate_limiter_allows_burst_then_429_with_retry_after() -> None:
    limiter = RateLimiter(per_minute=60, burst=3)
    for _ in range(3):
        limiter.check("k")
    with pytest.raises(RateLimited) as info:
        limiter.check("k")
    assert info.value.status == 429 and int(info.value.headers["Retry-After"]) >= 1
    limiter.check("other")  # buckets are per key


def test_rate_limiter_refills_over_time(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    limiter = RateLimiter(per_minute=60, burst=1)
    limiter.check("k")
    with pytest.raises(RateLimited):
        limiter.check("k")
    now[0] += 1.01
    limiter.check("k")


def test_with_auth_off_two_client_addresses_do_not_share_a_bucket() -> None:
    limiter = RateLimiter(per_minute=60, burst=2)
    a, b = limiter.bucket_for(ANONYMOUS, "192.0.2.1"), limiter.bucket_for(ANONYMOUS, "192.0.2.2")
    assert a != b
    limiter.check(a)
    limiter.check(a)
    with pytest.raises(RateLimited) as info:
        limiter.check(a)
    assert "client address" in info.value.detail
    limiter.check(b)
    limiter.check(b)


def test_with_keys_the_bucket_is_the_key_wherever_it_calls_from() -> None:
    limiter = RateLimiter(per_minute=60, burst=1)
    key = ApiKey(id="partner-1")
    assert limiter.bucket_for(key, "192.0.2.1") == limiter.bucket_for(key, "198.51.100.7") == "partner-1"


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() -> None:
    untrusting = ClientAddresses()
    assert untrusting.resolve("192.0.2.1", ["203.0.113.9"]) == "192.0.2.1"
    clients = ClientAddresses(["10.0.0.5", "10.1.0.0/16"])
    assert clients.resolve("192.0.2.1", ["203.0.113.9"]) == "192.0.2.1"  # not a proxy: its header is a claim
    assert clients.resolve("10.0.0.5", ["203.0.113.9"]) == "203.0.113.9"
    assert clients.resolve("10.0.0.5", []) == "10.0.0.5"
    # read from the right: what the client wrote itself (the left part) is never believed
    assert clients.resolve("10.0.0.5", ["198.51.100.1, 203.0.113.9, 10.1.2.3"]) == "203.0.113.9"
    assert clients.resolve("10.0.0.5", ["198.51.100.1", "203.0.113.9"]) == "203.0.113.9"
    assert clients.resolve("10.0.0.5", ["not-an-address, 10.1.2.3"]) == "10.1.2.3"
    assert clients.resolve(None) == "unknown"


def test_ipv6_clients_are_limited_per_64_and_mapped_ipv4_as_ipv4() -> None:
    assert address_bucket("2001:db8:1:2::1") == address_bucket("2001:db8:1:2:ffff::9") == "addr:2001:db8:1:2::/64"
    assert address_bucket("2001:db8:1:3::1") != address_bucket("2001:db8:1:2::1")
    assert address_bucket("::ffff:192.0.2.1") == address_bucket("192.0.2.1") == "addr:192.0.2.1"


def test_rate_limiter_keeps_a_bounded_number_of_buckets() -> None:
    limiter = RateLimiter(per_minute=60, burst=1, max_buckets=3)
    for n in range(10):
        limiter.check(f"addr:192.0.2.{n}")
    assert len(limiter._buckets) == 3


def test_trusted_proxies_and_timeouts_are_validated() -> None:
    assert settings(trusted_proxies="10.0.0.5, 10.1.0.0/16").trusted_proxies == ["10.0.0.5/32", "10.1.0.0/16"]
    with pytest.raises(ValidationError, match="proxy.local"):
        settings(trusted_proxies="10.0.0.5,proxy.local")
    for field in ("header_timeout_s", "body_timeout_s"):
        with pytest.raises(ValidationError):
            settings(**{field: 0})


async def test_caller_dependency_limits_each_client_address_with_auth_off() -> None:
    from service.app import create_app

    app = create_app(settings(auth_disabled=True, rate_limit_burst=1, rate_limit_per_minute=1))

    async def status(client: str, headers: dict[str, str] | None = None) -> int:
        transport = httpx.ASGITransport(app=app, client=(client, 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            r = await c.get("/v1/models", headers=headers)
            return r.status_code if r.status_code != 503 else 200  # 503 not_ready: past the limiter (no models)

    assert await status("192.0.2.1") == 200
    assert await status("192.0.2.1", {"X-Forwarded-For": "198.51.100.1"}) == 429  # no trusted proxy: ignored
    assert await status("192.0.2.2") == 200
