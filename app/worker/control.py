"""The worker's live signals: `subscription workerControl` over graphql-transport-ws.

A CANCEL reaches a running job at once instead of at the next heartbeat, and JOBS_AVAILABLE
wakes an idle claim loop. Signals only hurry the worker, they never decide: a cancel is acted
on once a heartbeat confirms it, and a claim finds the work whether or not a signal said so.
So a lost subscription costs only speed: it is opened again with back-off, and meanwhile
heartbeats and claims go on as without it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from app.worker.client import JobqlWorkerClient
from app.worker.client.worker_control import WorkerControlWorkerControl
from app.worker.retry import RETRY_SECONDS, backoff

log = logging.getLogger("jobql.worker")

Signal = WorkerControlWorkerControl


def ws_endpoint(endpoint: str) -> str:
    """The WebSocket URL of a GraphQL endpoint: the same, ws:// for http://, wss:// for https://."""
    if endpoint.startswith("https://"):
        return "wss://" + endpoint.removeprefix("https://")
    return "ws://" + endpoint.removeprefix("http://")


async def listen(client: JobqlWorkerClient, worker_id: str, on: Callable[[Signal], None]) -> None:
    """Hands every signal to `on`, for ever (until cancelled); re-subscribes when it drops."""
    failures = 0
    while True:
        began = time.monotonic()
        try:
            async for message in client.worker_control(worker_id=worker_id):
                failures = 0
                on(message.worker_control)
            why = "the server ended the subscription"
        except asyncio.CancelledError:
            raise
        except Exception as error:  # refused, dropped, timed out: all mean "later"
            why = repr(error)
        if time.monotonic() - began > RETRY_SECONDS[-1]:
            failures = 0  # it was up a while: start the back-off again from its shortest
        delay = backoff(failures)
        # Said once per outage: a proxy that refuses WebSockets for good must not fill the log.
        level = logging.WARNING if failures == 0 else logging.DEBUG
        log.log(level, "control signals lost (%s); again in %ss, heartbeats go on", why, delay)
        failures += 1
        await asyncio.sleep(delay)
