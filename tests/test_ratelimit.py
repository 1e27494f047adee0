"""Per-API-key rate limiting: a token bucket keyed on the authenticated key, 429 + Retry-After."""

from __future__ import annotations

import httpx
import pytest

from app.ratelimit import RateLimiter
from tests.served import bearer, serve
from tests.support import Env

ME = {"query": "{ me { login } }"}


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(per_second=2, burst=3, clock=clock)
    assert [limiter.take("k") for _ in range(4)] == [0, 0, 0, 1]
    clock.now += 0.5  # one token back
    assert limiter.take("k") == 0
    assert limiter.take("k") == 1
    clock.now += 60  # refills up to the burst, never beyond
    assert [limiter.take("k") for _ in range(4)] == [0, 0, 0, 1]


def test_keys_have_their_own_buckets_and_zero_turns_it_off() -> None:
    limiter = RateLimiter(per_second=1, burst=1, clock=Clock())
    assert (limiter.take("a"), limiter.take("a"), limiter.take("b")) == (0, 1, 0)
    off = RateLimiter(per_second=0, burst=1)
    assert all(off.take("a") == 0 for _ in range(100))


def test_retry_after_is_whole_seconds_until_the_next_token() -> None:
    limiter = RateLimiter(per_second=0.25, burst=1, clock=Clock())
    assert (limiter.take("k"), limiter.take("k")) == (0, 4)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_429_per_key_not_per_client_header(env: Env) -> None:
    async with serve(env, rate_limit_per_second=0.5, rate_limit_burst=3) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            ok = [await client.post("/graphql", json=ME, headers=bearer()) for _ in range(3)]
            assert [r.status_code for r in ok] == [200, 200, 200]
            # A forged client address changes nothing: the bucket belongs to the key.
            spoofed = bearer() | {"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9"}
            limited = await client.post("/graphql", json=ME, headers=spoofed)
            assert limited.status_code == 429
            assert limited.headers["retry-after"] == "2"
            assert limited.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
            other = await client.post("/graphql", json=ME, headers=bearer("demo.admin"))
            assert other.status_code == 200  # same organization, another key: its own bucket
            # A wrong secret for the limited key id is a 401, and spends nothing of anyone's.
            forged = {"Authorization": "Bearer jq_demoanalyze_not-the-secret"}
            assert (await client.post("/graphql", json=ME, headers=forged)).status_code == 401
            analyst = await client.post("/graphql", json=ME, headers=bearer("demo.analyze"))
            assert analyst.status_code == 200
