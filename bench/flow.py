"""End to end (submit → claim → heartbeat → complete) and `submitJob` latency, over HTTP.

End to end: `submitters` loops submit new observables (cache misses) while `workers` loops each
claim up to 10 (long-polling 1 s), heartbeat the batch once and complete every job, as
`jobql worker` does; jobs per second are completions in the timed window. Submit latency:
`concurrency` loops of submitJob, each a new observable (cache miss: a new job) or one of 50
whose SUCCESS is within the cache window (cache hit: `fromCache`).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from typing import Any

import httpx
import orjson

from bench.claimers import CLAIM, Run
from bench.queue_data import FLOW

SUBMIT = """
mutation($input: SubmitJobInput!) {
  submitJob(input: $input) { fromCache deduplicated job { id status } }
}
"""
HEARTBEAT = "mutation($leases: [LeaseRef!]!) { heartbeat(leases: $leases) { jobId state } }"
COMPLETE = """
mutation($lease: LeaseRef!, $report: ReportInput!) {
  completeJob(lease: $lease, report: $report) { id status }
}
"""
REPORT = {
    "taxonomies": [{"level": "SAFE", "namespace": "Bench", "predicate": "Ran", "value": "ok"}],
    "full": {"bench": True},
}


class Client:
    def __init__(self, url: str, key: str, connections: int) -> None:
        headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        limits = httpx.Limits(max_connections=connections)
        self.http = httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=30)

    async def call(self, query: str, variables: dict[str, Any]) -> Any:
        body = orjson.dumps({"query": query, "variables": variables})
        response = await self.http.post("/graphql", content=body)
        answer = orjson.loads(response.content)
        if response.status_code != 200 or answer.get("errors"):
            raise RuntimeError(f"{response.status_code}: {answer}")
        return answer["data"]

    async def close(self) -> None:
        await self.http.aclose()


_numbers = itertools.count(random.randrange(1 << 24) << 8)


def observable() -> str:
    """An IPv4 address this run has not submitted."""
    n = next(_numbers) % (1 << 32)
    return ".".join(str((n >> shift) & 255) for shift in (24, 16, 8, 0))


def submission(data: str) -> dict[str, Any]:
    return {"input": {"analyzerId": FLOW, "dataType": "ip", "data": data}}


async def work_once(worker: Client, name: str) -> int:
    """One worker round: claim, heartbeat, complete each; returns the jobs completed."""
    claim = {"input": {"workerId": name, "analyzerIds": [FLOW], "max": 10, "waitSeconds": 1}}
    leases = (await worker.call(CLAIM, claim))["claimJobs"]["leases"]
    if not leases:
        return 0
    refs = [{"jobId": lease["job"]["id"], "leaseToken": lease["leaseToken"]} for lease in leases]
    await worker.call(HEARTBEAT, {"leases": refs})
    await asyncio.gather(*(worker.call(COMPLETE, {"lease": r, "report": REPORT}) for r in refs))
    return len(refs)


async def end_to_end(
    url: str, analyst: str, worker_key: str, *, submitters: int, workers: int, seconds: float
) -> Run:
    submit, work = Client(url, analyst, submitters), Client(url, worker_key, workers * 10)
    done, errors, counting = [0], [0], [False]
    stop = time.monotonic() + 2.0 + seconds  # 2 s to fill the queue and warm up

    async def submitter() -> None:
        while time.monotonic() < stop:
            try:
                await submit.call(SUBMIT, submission(observable()))
            except RuntimeError:
                errors[0] += 1

    async def worker(n: int) -> None:
        while time.monotonic() < stop:
            try:
                got = await work_once(work, f"bench-flow-{n}")
            except RuntimeError:
                errors[0] += 1
                continue
            if counting[0]:
                done[0] += got

    async def clock() -> float:
        await asyncio.sleep(2.0)
        counting[0] = True
        started = time.monotonic()
        await asyncio.sleep(max(0.0, stop - time.monotonic()))
        return time.monotonic() - started

    try:
        tasks = [submitter() for _ in range(submitters)] + [worker(n) for n in range(workers)]
        timer = asyncio.ensure_future(clock())
        await asyncio.gather(timer, *tasks)
        elapsed = timer.result()
    finally:
        await submit.close()
        await work.close()
    return Run(jobs=done[0], errors=errors[0], seconds=elapsed)


async def prepare_hits(url: str, analyst: str, worker_key: str, count: int = 50) -> list[str]:
    """`count` observables with a SUCCESS job just now, so submitting them again is a hit."""
    submit, work = Client(url, analyst, 4), Client(url, worker_key, 10)
    try:
        data = [observable() for _ in range(count)]
        for item in data:
            await submit.call(SUBMIT, submission(item))
        while await work_once(work, "bench-hits"):
            pass
        return data
    finally:
        await submit.close()
        await work.close()


async def latencies(
    url: str, analyst: str, data: list[str] | None, *, concurrency: int, calls: int
) -> tuple[list[float], int]:
    """Seconds per submitJob (misses when `data` is None, else hits on `data`), and the
    answers that were not what was asked for (a miss that hit, a hit that missed)."""
    client, found, wrong = Client(url, analyst, concurrency), [], [0]
    todo = itertools.count()

    async def loop() -> None:
        while (i := next(todo)) < calls:
            item = observable() if data is None else data[i % len(data)]
            started = time.perf_counter()
            answer = (await client.call(SUBMIT, submission(item)))["submitJob"]
            found.append(time.perf_counter() - started)
            wrong[0] += answer["fromCache"] != (data is not None)

    try:
        await asyncio.gather(*(loop() for _ in range(concurrency)))
    finally:
        await client.close()
    return found, wrong[0]
