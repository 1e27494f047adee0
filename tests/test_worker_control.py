"""`jobql worker` and its live signals (workerControl): a real uvicorn (or a `jobql serve`
process), the real worker subprocess, SQLite and PostgreSQL. The heartbeat stays the worker's
safety net: cutting the signal path (an option, refused WebSockets, a dropped connection) only
slows it down."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from tests.queue_support import UPDATE_ANALYZER
from tests.served import bearer, serve
from tests.support import Env
from tests.test_ops import samples, value
from tests.test_queue_races import serving
from tests.test_worker import (
    CANCEL,
    EICAR_SHA256,
    WorkerProcess,
    analyzer_id,
    submit,
    wait_status,
    worker,
)

LONG_LEASE = "900"  # heartbeats every 300 s: within this test only a signal explains a stop
SLOW = {"sleepSeconds": 600}
SIGNAL_SECONDS = 30.0  # generous (two shared cores), and far below one heartbeat interval


class Proxy:
    """A TCP relay in front of the server: it can drop every connection, or refuse WebSocket
    upgrades, so that the worker's signal path is cut for real while HTTP goes through."""

    def __init__(self, target: str) -> None:
        self.host, port = target.removeprefix("http://").split(":")
        self.port = int(port)
        self.refuse_websockets = False
        self.refused = 0
        self._writers: set[asyncio.StreamWriter] = set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.read(65536)
        if self.refuse_websockets and b"upgrade: websocket" in head.lower():
            self.refused += 1
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        self._writers |= {writer, up_writer}
        up_writer.write(head)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for end in (writer, up_writer):
                self._writers.discard(end)
                end.transport.abort()

    def drop(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    writer.transport.abort()


@contextlib.asynccontextmanager
async def proxied(url: str) -> AsyncIterator[tuple[str, Proxy]]:
    proxy = Proxy(url)
    server = await asyncio.start_server(proxy._handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", proxy
    finally:
        proxy.drop()
        server.close()


@pytest.fixture
async def url(env: Env) -> AsyncIterator[str]:
    async with serve(env) as served:
        yield served


async def until(condition: Callable[[], bool], seconds: float = SIGNAL_SECONDS) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.05)


def subscribed(env: Env) -> Callable[[], bool]:
    """Whether the worker's workerControl subscription has joined the server's hub (it is
    the only live subscriber of these tests): from then on every cancel is signalled."""
    hub = env.app.state.hub
    return lambda: bool(hub.subscribers >= 1)


async def _running(env: Env, running: WorkerProcess, classifier: str, data: str) -> str:
    job_id = await submit(env, classifier, "ip", data=data, parameters=SLOW)
    await running.wait_for(f"job {job_id} claimed")
    await wait_status(env, job_id, "IN_PROGRESS")
    return job_id


async def test_a_cancel_reaches_the_running_job_by_signal_not_heartbeat(
    env: Env, url: str, tmp_path: Path
) -> None:
    classifier = await analyzer_id(env, "Observable_Classifier")
    async with worker(url, tmp_path / "w.log", "--lease-seconds", LONG_LEASE) as running:
        await until(subscribed(env))
        slow = await _running(env, running, classifier, "8.8.8.8")
        await env.data(CANCEL, {"id": slow}, key="demo.analyze")
        await running.wait_for(f"job {slow}: cancel signal, heartbeat now", SIGNAL_SECONDS)
        await running.wait_for(f"job {slow} stopped: the lease is CANCELLED", SIGNAL_SECONDS)
        quick = await submit(env, classifier, "ip", data="1.1.1.1")
        assert (await wait_status(env, quick, "SUCCESS"))["report"]["success"]
        assert f"job {slow} finished" not in running.output()
    cancelled = await wait_status(env, slow, "CANCELLED")
    assert cancelled["report"] is None


async def test_new_work_wakes_a_claim_loop_held_back_by_a_rate_limit(
    env: Env, url: str, tmp_path: Path
) -> None:
    """A rate limit makes the worker pause (retryAfterSeconds, up to 8 s); a job of another
    analyzer that arrives meanwhile is claimed at once, because the signal says so."""
    classifier = await analyzer_id(env, "Observable_Classifier")
    file_info = await analyzer_id(env, "File_Info")
    settings = {"rate": 1, "rateUnit": "HOUR"}
    await env.data(UPDATE_ANALYZER, {"id": classifier, "settings": settings}, key="demo.admin")
    first = await submit(env, classifier, "ip", data="10.0.0.1")
    held = await submit(env, classifier, "ip", data="10.0.0.2")
    # No long-poll: the worker spends its time in the pause that the rate limit asks for.
    args = ("--lease-seconds", LONG_LEASE, "--wait-seconds", "0")
    async with worker(url, tmp_path / "w.log", *args) as running:
        await until(subscribed(env))
        await wait_status(env, first, "SUCCESS")
        await asyncio.sleep(0.5)
        attachment = await _an_attachment(env)
        woke = await submit(env, file_info, "file", attachmentId=attachment)
        await running.wait_for("work arrived (signal): claiming now", SIGNAL_SECONDS)
        await wait_status(env, woke, "SUCCESS")
    assert (await wait_status(env, held, "WAITING"))["status"] == "WAITING"


async def _an_attachment(env: Env) -> str:
    found = await env.data(
        "query($sha: String!) { jobs(first: 1, filter: {attachmentSha256: {eq: $sha}}) "
        "{ nodes { attachment { id } } } }",
        {"sha": EICAR_SHA256},
    )
    return str(found["jobs"]["nodes"][0]["attachment"]["id"])


async def test_without_its_signals_the_heartbeat_still_brings_the_cancel(
    env: Env, url: str, tmp_path: Path
) -> None:
    classifier = await analyzer_id(env, "Observable_Classifier")
    async with worker(url, tmp_path / "w.log", "--no-control") as running:  # heartbeats: 2 s
        slow = await _running(env, running, classifier, "9.9.9.9")
        assert env.app.state.hub.subscribers == 0
        await env.data(CANCEL, {"id": slow}, key="demo.analyze")
        await running.wait_for(f"job {slow} stopped: the lease is CANCELLED")
        assert "cancel signal" not in running.output()


async def test_refused_then_dropped_signals_fall_back_to_heartbeats_and_come_back(
    env: Env, url: str, tmp_path: Path
) -> None:
    classifier = await analyzer_id(env, "Observable_Classifier")
    async with proxied(url) as (front, proxy):
        proxy.refuse_websockets = True
        async with worker(front, tmp_path / "w.log") as running:  # heartbeats every 2 s
            await until(lambda: proxy.refused >= 2)  # refused, and tried again after a pause
            first = await _running(env, running, classifier, "9.9.9.1")
            await env.data(CANCEL, {"id": first}, key="demo.analyze")
            await running.wait_for(f"job {first} stopped: the lease is CANCELLED")
            assert f"job {first}: cancel signal" not in running.output()
            assert "control signals lost" in running.output()

            proxy.refuse_websockets = False
            await until(subscribed(env))  # re-subscribed by itself, within its back-off
            proxy.drop()  # every connection cut at once, the subscription's too
            await until(lambda: env.app.state.hub.subscribers == 0)
            await until(subscribed(env))
            second = await _running(env, running, classifier, "9.9.9.2")
            await env.data(CANCEL, {"id": second}, key="demo.analyze")
            await running.wait_for(f"job {second}: cancel signal, heartbeat now", SIGNAL_SECONDS)
            await running.wait_for(f"job {second} stopped: the lease is CANCELLED")


async def _websockets_held(url: str) -> float:
    """jobql_subscriptions{transport="websocket"} of the server at `url` (read from this host)."""
    async with httpx.AsyncClient(base_url=url) as http:
        page = samples((await http.get("/metrics")).text)
    return value(page, "jobql_subscriptions", transport="websocket")


async def test_a_real_server_process_signals_the_cancel_to_a_real_worker(
    env: Env, tmp_path: Path
) -> None:
    """`jobql serve` and `jobql worker` as processes of their own; the worker's subscription
    is seen on the server's /metrics, and the cancel comes through the server's HTTP."""
    classifier = await analyzer_id(env, "Observable_Classifier")
    with serving(env, tmp_path, 1) as ([url], _):
        async with worker(url, tmp_path / "w.log", "--lease-seconds", LONG_LEASE) as running:
            async with asyncio.timeout(SIGNAL_SECONDS):
                while await _websockets_held(url) < 1:
                    await asyncio.sleep(0.1)
            slow = await _running(env, running, classifier, "8.8.4.4")
            async with httpx.AsyncClient(base_url=url) as http:
                body = {"query": CANCEL, "variables": {"id": slow}}
                answer = await http.post("/graphql", json=body, headers=bearer("demo.analyze"))
                assert answer.json()["data"]["cancelJob"]["status"] == "CANCELLED", answer.text
            await running.wait_for(f"job {slow}: cancel signal, heartbeat now", SIGNAL_SECONDS)
            await running.wait_for(f"job {slow} stopped: the lease is CANCELLED", SIGNAL_SECONDS)
