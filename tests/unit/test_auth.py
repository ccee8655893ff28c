import time
from pathlib import Path

import pytest

from service.auth import ANONYMOUS, Authenticator, RateLimiter, hash_key, new_key, parse_entries, presented_key
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
