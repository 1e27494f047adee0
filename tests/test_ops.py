"""Operation through HTTP: request ids and access lines, /readyz, /metrics, CORS."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from app.main import create_app
from tests.conftest import make_settings
from tests.queue_support import claim, new_analyzer, submit, worker_key
from tests.support import KEYS, Env

JOBS = "query RecentJobs { jobs(first: 2) { edges { node { id } } } }"
LOCAL = "http://jobql.test"


Page = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Page:
    """Every sample of a Prometheus text page, keyed by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(page: Page, name: str, **labels: str) -> float:
    return page.get((name, frozenset(labels.items())), 0.0)


async def scrape(env: Env) -> Page:
    response = await env.client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(response.text)


async def test_request_id_is_honoured_returned_and_logged(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="jobql.access")
    headers = {"Authorization": f"Bearer {KEYS['demo.read']}", "X-Request-Id": "trace-42.a"}
    response = await env.client.post("/graphql", json={"query": JOBS}, headers=headers)
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "trace-42.a"
    (line,) = [r for r in caplog.records if r.name == "jobql.access"]
    assert line.getMessage().startswith("POST /graphql RecentJobs 200 ")
    assert (line.method, line.path, line.operation, line.status) == (  # type: ignore[attr-defined]
        "POST",
        "/graphql",
        "RecentJobs",
        200,
    )
    assert line.request_id == "trace-42.a"  # type: ignore[attr-defined]
    assert line.duration_ms >= 0  # type: ignore[attr-defined]


async def test_a_request_id_that_is_not_plain_is_replaced(env: Env) -> None:
    for given in ("x" * 129, "a b", "new\nline"):
        response = await env.client.get("/healthz", headers={"X-Request-Id": given})
        returned = response.headers["x-request-id"]
        assert returned != given and len(returned) == 32
    first = (await env.client.get("/healthz")).headers["x-request-id"]
    second = (await env.client.get("/healthz")).headers["x-request-id"]
    assert first != second


async def test_access_line_never_shows_the_query_string(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="jobql.access")
    headers = {"Authorization": f"Bearer {KEYS['demo.read']}"}
    response = await env.client.get("/graphql", params={"query": JOBS}, headers=headers)
    assert response.status_code == 200
    (line,) = [r for r in caplog.records if r.name == "jobql.access"]
    assert line.path == "/graphql" and "jobs(" not in line.getMessage()  # type: ignore[attr-defined]


async def test_an_unexpected_error_names_the_request_id(
    env: Env, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The masked message's correlation id is the request id, so logs and client agree."""

    async def broken(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(env.app.state.graphql, "_execute", broken)
    headers = {"Authorization": f"Bearer {KEYS['demo.read']}", "X-Request-Id": "bug-1"}
    response = await env.client.post("/graphql", json={"query": JOBS}, headers=headers)
    assert response.status_code == 500
    assert "correlation id bug-1" in response.json()["errors"][0]["message"]


async def test_readyz_is_ready_on_a_migrated_database(env: Env) -> None:
    response = await env.client.get("/readyz")
    assert (response.status_code, response.text) == (200, "ready\n")


async def test_readyz_is_503_behind_the_migrations(env: Env) -> None:
    async with env.app.state.db.write() as conn:
        await conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
    response = await env.client.get("/readyz")
    assert response.status_code == 503
    assert "at migration 0001" in response.text and "expects" in response.text


async def test_readyz_is_503_without_migrations(env: Env) -> None:
    async with env.app.state.db.write() as conn:
        await conn.exec_driver_sql("DROP TABLE alembic_version")
    response = await env.client.get("/readyz")
    assert response.status_code == 503
    assert "no migrations applied" in response.text


async def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://nobody@127.0.0.1:9/absent"  # port 9: nothing listens
    app = create_app(make_settings(url, tmp_path, pool_timeout_seconds=0.5))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=LOCAL
        ) as client:
            response = await client.get("/readyz")
            health = await client.get("/healthz")
    finally:
        await app.state.db.dispose()
    assert response.status_code == 503
    assert response.text == "not ready: the database is unreachable\n"
    assert health.status_code == 200  # alive, not ready


async def test_metrics_count_requests_by_operation_and_status(env: Env) -> None:
    before = await scrape(env)
    await env.gql(JOBS)
    await env.gql(JOBS)
    await env.post(JOBS, key=None)
    after = await scrape(env)
    name = "jobql_http_requests_total"
    ok = {"route": "graphql", "operation": "RecentJobs", "status": "200"}
    refused = {"route": "graphql", "operation": "-", "status": "401"}
    assert value(after, name, **ok) - value(before, name, **ok) == 2
    assert value(after, name, **refused) - value(before, name, **refused) == 1
    count = "jobql_http_request_duration_seconds_count"
    assert value(after, count, route="graphql") - value(before, count, route="graphql") == 3
    assert value(after, "jobql_db_pool_size") == env.settings.pool_size
    assert value(after, "jobql_db_pool_in_use") >= 0
    for transport in ("websocket", "sse"):
        assert ("jobql_subscriptions", frozenset({("transport", transport)})) in after
    assert ("jobql_live_lag_seconds_count", frozenset()) in after


async def test_metrics_show_queue_depth_and_claims(env: Env) -> None:
    analyzer = await new_analyzer(env)
    for n in range(3):
        await submit(env, analyzer, data=f"198.51.100.{n}")
    before = await scrape(env)
    assert value(before, "jobql_queue_depth", analyzer=analyzer) == 3
    leases = await claim(env, await worker_key(env), analyzer, max=2)
    assert len(leases["leases"]) == 2
    after = await scrape(env)
    assert value(after, "jobql_queue_depth", analyzer=analyzer) == 1
    claimed = "jobql_queue_claimed_jobs_total"
    assert value(after, claimed, analyzer=analyzer) - value(before, claimed, analyzer=analyzer) == 2


async def test_metrics_answer_only_this_host_without_a_token(env: Env) -> None:
    transport = httpx.ASGITransport(app=env.app, client=("203.0.113.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url=LOCAL) as remote:
        response = await remote.get("/metrics")
    assert response.status_code == 403
    assert "JOBQL_METRICS_TOKEN" in response.text and "jobql_" not in response.text


async def test_metrics_with_a_token_need_it_from_everywhere(env: Env, tmp_path: Path) -> None:
    token = "metrics-token-" + "t" * 20
    app = create_app(env.settings.model_copy(update={"metrics_token": SecretStr(token)}))
    try:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4000))
        async with httpx.AsyncClient(transport=transport, base_url=LOCAL) as remote:
            missing = await remote.get("/metrics")
            wrong = await remote.get("/metrics", headers={"Authorization": "Bearer nope"})
            api_key = await remote.get(
                "/metrics", headers={"Authorization": f"Bearer {KEYS['demo.admin']}"}
            )
            right = await remote.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        local = await httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=LOCAL).get(
            "/metrics"
        )
    finally:
        await app.state.db.dispose()
    assert [r.status_code for r in (missing, wrong, api_key, local)] == [401] * 4
    assert right.status_code == 200 and "jobql_http_requests_total" in right.text


async def test_cors_is_off_by_default(env: Env) -> None:
    response = await env.client.options(
        "/graphql",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in response.headers
    answer = await env.client.post(
        "/graphql",
        json={"query": JOBS},
        headers={"Origin": "https://app.example", "Authorization": f"Bearer {KEYS['demo.read']}"},
    )
    assert "access-control-allow-origin" not in answer.headers


async def test_cors_allows_listed_origins_only(env: Env) -> None:
    settings = env.settings.model_copy(update={"cors_origins": ("https://app.example",)})
    app = create_app(settings)
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=LOCAL
        ) as client:
            allowed = await client.options(
                "/graphql", headers={"Origin": "https://app.example", **preflight}
            )
            refused = await client.options(
                "/graphql", headers={"Origin": "https://evil.example", **preflight}
            )
            answer = await client.post(
                "/graphql",
                json={"query": JOBS},
                headers={
                    "Origin": "https://app.example",
                    "Authorization": f"Bearer {KEYS['demo.read']}",
                },
            )
    finally:
        await app.state.db.dispose()
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert answer.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-request-id" in answer.headers["access-control-expose-headers"].lower()
