"""The live metrics through /metrics: subscriptions running by transport, and the lag from an
event's commit to its hand-over to the subscriptions. Real uvicorn, both databases."""

from __future__ import annotations

import asyncio

import httpx

from tests.live_support import CANCEL, UPDATES, live
from tests.mutation_support import job_ids
from tests.served import bearer, serve
from tests.support import Env
from tests.test_ops import Page, scrape, value

RUNNING = "jobql_subscriptions"
LAG = "jobql_live_lag_seconds"


async def _until_running(env: Env, before: Page, websocket: int, sse: int) -> Page:
    """The page on which both transports show the subscriptions expected beyond `before`."""
    async with asyncio.timeout(30):
        while True:
            page = await scrape(env)
            ws = value(page, RUNNING, transport="websocket") - value(
                before, RUNNING, transport="websocket"
            )
            es = value(page, RUNNING, transport="sse") - value(before, RUNNING, transport="sse")
            if (ws, es) == (websocket, sse):
                return page
            await asyncio.sleep(0.05)


async def test_subscriptions_by_transport_and_the_lag_of_their_deliveries(env: Env) -> None:
    [job] = await job_ids(env, "WAITING")
    before = await scrape(env)
    sse_headers = {**bearer(), "Accept": "text/event-stream"}
    body = {"query": UPDATES, "variables": {"ids": [job]}}
    async with (
        serve(env) as url,
        live(url) as client,
        httpx.AsyncClient(base_url=url, timeout=60) as http,
    ):
        await client.subscribe("1", UPDATES, {"ids": [job]})
        async with http.stream("POST", "/graphql", json=body, headers=sse_headers) as response:
            await _until_running(env, before, websocket=1, sse=1)
            async with asyncio.timeout(30):  # both joined the hub: the cancel is live news
                while env.app.state.hub.subscribers < 2:
                    await asyncio.sleep(0.05)
            await env.data(CANCEL, {"id": job}, key="demo.analyze")
            assert (await client.data("1"))["jobUpdates"]["event"]["jobId"] == job
            lines = response.aiter_lines()
            assert await anext(lines) == "event: next"
            delivered = await scrape(env)
        await _until_running(env, before, websocket=1, sse=0)  # the stream closed
    await _until_running(env, before, websocket=0, sse=0)  # and the WebSocket
    count = value(delivered, f"{LAG}_count") - value(before, f"{LAG}_count")
    total = value(delivered, f"{LAG}_sum") - value(before, f"{LAG}_sum")
    assert count == 2  # one event, handed to two subscriptions
    assert 0 <= total / count < 5
    fast = value(delivered, f"{LAG}_bucket", le="5.0") - value(before, f"{LAG}_bucket", le="5.0")
    assert fast == 2
