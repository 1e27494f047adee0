"""The worker loop: claim (long-poll), heartbeat, run, complete or fail; release on shutdown.
Live signals (app/worker/control.py) hurry the cancels and the claims."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import httpx

from app.worker.analyzers import BuiltIn
from app.worker.client import (
    ClaimJobsClaimJobsLeases,
    ClaimJobsInput,
    GraphQLClientGraphQLMultiError,
    GraphQLClientHttpError,
    JobqlWorkerClient,
    LeaseRef,
)
from app.worker.client.async_base_client import HttpClient
from app.worker.client.enums import LeaseState, WorkerSignalKind
from app.worker.control import Signal, listen, ws_endpoint
from app.worker.discovery import runnable_analyzers
from app.worker.execution import Outcome, execute
from app.worker.retry import RETRY_SECONDS, backoff

log = logging.getLogger("jobql.worker")

CLAIM_WAIT_SECONDS = 8  # the server's long-poll maximum, and the default
MAX_CLAIM = 100  # the server's most jobs per claim
REPORT_ATTEMPTS = 5


class WorkerRefused(Exception):
    """The server refuses this worker's requests (a key without the WORKER role, a bad lease
    length…): trying again would not help."""


@dataclass(frozen=True)
class WorkerOptions:
    url: str  # the server's base URL, or its /graphql endpoint
    key: str
    worker_id: str
    analyzers: Sequence[str] = ()
    concurrency: int = 4
    lease_seconds: int = 60
    wait_seconds: int = CLAIM_WAIT_SECONDS
    max_download_bytes: int = 100 * 1024 * 1024
    control: bool = True  # subscribe to workerControl (--no-control: heartbeats and claims only)

    @property
    def endpoint(self) -> str:
        base = self.url.rstrip("/")
        return base if base.endswith("/graphql") else f"{base}/graphql"


@dataclass
class Running:
    """A job this worker holds a lease on."""

    lease: ClaimJobsClaimJobsLeases
    task: asyncio.Task[None] | None = None
    reporting: bool = False  # completing or failing now: let it finish, do not release
    stopped: LeaseState | None = None  # the heartbeat said CANCELLED or LOST

    @property
    def ref(self) -> LeaseRef:
        return LeaseRef(job_id=self.lease.job.id, lease_token=self.lease.lease_token)


@dataclass
class Worker:
    options: WorkerOptions
    client: JobqlWorkerClient
    http: httpx.AsyncClient  # for downloads: no API key on it
    analyzers: dict[str, BuiltIn] = field(default_factory=dict)
    running: dict[str, Running] = field(default_factory=dict)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    work: asyncio.Event = field(default_factory=asyncio.Event)  # JOBS_AVAILABLE since the claim
    beats: set[asyncio.Task[None]] = field(default_factory=set)  # heartbeats a CANCEL asked for

    async def run(self) -> None:
        self.analyzers = await self._discover()
        if self.stopping.is_set():
            return
        names = sorted({f"{b.name} ({i})" for i, b in self.analyzers.items()})
        log.info("worker %s runs %s", self.options.worker_id, ", ".join(names))
        background = [asyncio.create_task(self._heartbeats())]
        if self.options.control:
            control = listen(self.client, self.options.worker_id, self._on_signal)
            background.append(asyncio.create_task(control))
        try:
            await self._claim_loop()
        finally:
            for task in (*background, *self.beats):
                task.cancel()
            await self._shut_down()

    async def _discover(self) -> dict[str, BuiltIn]:
        """The analyzers to run; waits for a server that is not up yet (`make demo` starts both)."""
        failures = 0
        while True:
            try:
                return await runnable_analyzers(self.client, self.options.analyzers)
            except GraphQLClientGraphQLMultiError as error:
                raise WorkerRefused(f"the server refuses to list the analyzers: {error}") from None
            except httpx.TransportError as error:
                if self.stopping.is_set():
                    return {}
                delay = backoff(failures)
                failures += 1
                log.warning(
                    "cannot reach %s (%r); again in %ss", self.options.endpoint, error, delay
                )
                await self._pause(delay)

    # --- claiming ------------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        failures = 0
        while not self.stopping.is_set():
            free = self.options.concurrency - len(self.running)
            if free <= 0:
                await self._until_a_slot_frees()
                continue
            self.work.clear()  # a signal from now on is news to the claim below
            try:
                payload = (await self.client.claim_jobs(input=self._claim(free))).claim_jobs
            except GraphQLClientGraphQLMultiError as error:
                raise WorkerRefused(f"the server refuses the claims: {error}") from None
            except (httpx.TransportError, GraphQLClientHttpError) as error:
                if isinstance(error, GraphQLClientHttpError) and not _passing(error):
                    raise
                delay = backoff(failures)
                failures += 1
                log.warning("claim failed (%r); again in %ss", error, delay)
                await self._idle(delay)
                continue
            failures = 0
            for lease in payload.leases:
                self._start(lease)
            if not payload.leases:
                # Limits held work back (retryAfterSeconds), or the long-poll ended empty.
                await self._idle(min(payload.retry_after_seconds or 0.2, CLAIM_WAIT_SECONDS))

    def _claim(self, free: int) -> ClaimJobsInput:
        # Claims run to the end even when a signal comes meanwhile (at most the long-poll,
        # `wait_seconds`): a claim abandoned mid-way could take jobs nobody would run or release.
        return ClaimJobsInput(
            worker_id=self.options.worker_id,
            analyzer_ids=list(self.analyzers),
            max=min(free, MAX_CLAIM),
            wait_seconds=self.options.wait_seconds,
            lease_seconds=self.options.lease_seconds,
        )

    def _start(self, lease: ClaimJobsClaimJobsLeases) -> None:
        job = lease.job
        held = Running(lease)
        self.running[job.id] = held
        if self.stopping.is_set():
            return  # claimed while shutting down: released with the others
        log.info(
            "job %s claimed: %s on %s %s (attempt %s)",
            job.id,
            job.analyzer_name,
            job.data_type,
            job.data if job.data is not None else (job.attachment and job.attachment.name),
            lease.attempt,
        )
        held.task = asyncio.create_task(self._run_job(held), name=f"job {job.id}")

    async def _until_a_slot_frees(self) -> None:
        tasks = [r.task for r in self.running.values() if r.task is not None]
        stop = asyncio.create_task(self.stopping.wait())
        try:
            await asyncio.wait([*tasks, stop], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def _idle(self, seconds: float) -> None:
        """The claim loop's pause: cut short by stopping, or by work that a signal announced."""
        stop = asyncio.create_task(self.stopping.wait())
        work = asyncio.create_task(self.work.wait())
        try:
            await asyncio.wait([stop, work], timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            work.cancel()
        if self.work.is_set() and not self.stopping.is_set():
            log.info("work arrived (signal): claiming now")

    # --- one job -------------------------------------------------------------------------------

    async def _run_job(self, held: Running) -> None:
        job = held.lease.job
        try:
            outcome = await execute(
                job, self.analyzers[job.analyzer_id], self.http, self.options.max_download_bytes
            )
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a bug in an analyzer must not take the worker down
            log.exception("job %s: the analyzer failed", job.id)
            outcome = Outcome(error=f"{type(error).__name__}: {error}")
        if held.stopped is not None:
            return
        held.reporting = True
        try:
            await self._report(held, outcome)
        finally:
            self.running.pop(job.id, None)

    async def _report(self, held: Running, outcome: Outcome) -> None:
        job_id = held.lease.job.id
        for attempt in range(REPORT_ATTEMPTS):
            try:
                if outcome.report is not None:
                    done = await self.client.complete_job(lease=held.ref, report=outcome.report)
                    status = done.complete_job.status.value
                else:
                    failed = await self.client.fail_job(
                        lease=held.ref,
                        error_message=outcome.error or "failed",
                        retryable=outcome.retryable,
                    )
                    status = failed.fail_job.status.value
            except GraphQLClientGraphQLMultiError as error:
                # LEASE_LOST or a cancelled job: the server wrote nothing and will not; done.
                log.warning("job %s: the server refused the result: %s", job_id, error)
                return
            except (httpx.TransportError, GraphQLClientHttpError) as error:
                if isinstance(error, GraphQLClientHttpError) and not _passing(error):
                    log.error("job %s: the server refused the result: %s", job_id, error)
                    return
                # The same lease may present the same result again: the server writes it once.
                log.warning("job %s: reporting failed (%r), again", job_id, error)
                await asyncio.sleep(RETRY_SECONDS[attempt])
                continue
            log.info("job %s finished: %s%s", job_id, status, _because(outcome))
            return
        log.error("job %s: the result could not be reported; the lease will expire", job_id)

    # --- heartbeats ----------------------------------------------------------------------------

    async def _heartbeats(self) -> None:
        """Every third of the lease, one heartbeat for every lease held."""
        interval = self.options.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            held = [r for r in self.running.values() if not r.reporting and r.stopped is None]
            if held:
                await self._beat(held, f"the next one in {interval:g}s")

    async def _beat(self, held: list[Running], then: str) -> None:
        try:
            answers = (await self.client.heartbeat(leases=[r.ref for r in held])).heartbeat
        except Exception:  # the heartbeats must go on whatever one of them met
            log.warning("heartbeat failed; %s", then, exc_info=True)
            return
        for answer in answers:
            if answer.state is not LeaseState.HELD:
                self._stop_job(answer.job_id, answer.state)

    def _on_signal(self, signal: Signal) -> None:
        if signal.kind is WorkerSignalKind.JOBS_AVAILABLE:
            if signal.analyzer_id is None or signal.analyzer_id in self.analyzers:
                self.work.set()
            return
        held = self.running.get(signal.job_id or "")
        if held is None or held.reporting or held.stopped is not None:
            return
        # The signal says "ask now": the heartbeat's answer is what stops the job, so a
        # signal about another lease of the job (or a stale one) changes nothing.
        log.info("job %s: cancel signal, heartbeat now", held.lease.job.id)
        beat = asyncio.create_task(self._beat([held], "the periodic one will ask again"))
        self.beats.add(beat)
        beat.add_done_callback(self.beats.discard)

    def _stop_job(self, job_id: str, state: LeaseState) -> None:
        held = self.running.get(job_id)
        if held is None or held.reporting:
            return
        held.stopped = state
        if held.task is not None:
            held.task.cancel()
        self.running.pop(job_id, None)
        log.info("job %s stopped: the lease is %s", job_id, state.value)

    # --- shutting down -------------------------------------------------------------------------

    def request_stop(self) -> None:
        if not self.stopping.is_set():
            log.info("stopping: releasing the leases held")
        self.stopping.set()

    async def _shut_down(self) -> None:
        """Jobs being reported finish; the others stop and go back to the queue unspent."""
        reporting = [r.task for r in self.running.values() if r.reporting and r.task]
        to_release = [r for r in self.running.values() if not r.reporting]
        for held in to_release:
            if held.task is not None:
                held.task.cancel()
        await asyncio.gather(*reporting, *(self._release(r) for r in to_release))

    async def _release(self, held: Running) -> None:
        job_id = held.lease.job.id
        if held.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await held.task
        try:
            await self.client.release_job(lease=held.ref)
            log.info("job %s released", job_id)
        except (
            httpx.TransportError,
            GraphQLClientHttpError,
            GraphQLClientGraphQLMultiError,
        ) as error:
            log.warning("job %s: release failed (%s); the lease will expire", job_id, error)
        finally:
            self.running.pop(job_id, None)


def _passing(error: GraphQLClientHttpError) -> bool:
    """Whether the same request may succeed later: rate limited (429) or the server's trouble."""
    return error.status_code == 429 or error.status_code >= 500


def _because(outcome: Outcome) -> str:
    if outcome.error is None:
        return ""
    return f" ({'retryable: ' if outcome.retryable else ''}{outcome.error})"


async def run_worker(options: WorkerOptions) -> None:
    """Runs until SIGTERM or SIGINT, then releases its leases and returns."""
    headers = {"Authorization": f"Bearer {options.key}"}
    ws_url = ws_endpoint(options.endpoint)
    # The client's timeout must outlast the claim's long-poll.
    timeout = httpx.Timeout(options.wait_seconds + 30.0, connect=10.0)
    async with (
        httpx.AsyncClient(headers=headers, timeout=timeout) as api,
        httpx.AsyncClient(timeout=timeout) as downloads,
        # ariadne-codegen's HttpClient protocol spells httpx's post() less strictly than httpx
        # does; an httpx.AsyncClient is what the generated client builds by default.
        JobqlWorkerClient(
            url=options.endpoint,
            http_client=cast(HttpClient, api),
            ws_url=ws_url,
            ws_headers=headers,  # the server takes the key in the upgrade request's header too
        ) as client,
    ):
        worker = Worker(options, client, downloads)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.request_stop)
        try:
            await worker.run()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
