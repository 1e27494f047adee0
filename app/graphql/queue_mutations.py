"""Mutations of the write side: submitting jobs, workers' leases, queue administration."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from app.auth import Role
from app.errors import BadUserInput, DomainError
from app.graphql.context import Info
from app.graphql.filter_tree import compile_filter
from app.graphql.filters import JobFilterArg, TqlArg
from app.graphql.mutations import MAX_REASON_LENGTH, Reason, condition, fresh, names_a_field
from app.graphql.permissions import guarded
from app.graphql.queue_types import (
    AnalyzerSettingsInput,
    ClaimJobsInput,
    LeaseRef,
    LeaseState,
    LeaseStatus,
    ReportInput,
    SubmitJobInput,
    UserError,
)
from app.graphql.types import Analyzer, Job
from app.services import analyzers, lifecycle, queue, submission
from app.services import leases as lease_service
from app.tql import JOB_FIELDS

IDEMPOTENCY_HEADER = "idempotency-key"
Input = Annotated[SubmitJobInput, strawberry.argument(description="What to run, on what.")]
Inputs = Annotated[
    list[SubmitJobInput], strawberry.argument(description="The submissions, at most 100.")
]
Claim = Annotated[ClaimJobsInput, strawberry.argument(description="What to claim.")]
Lease = Annotated[LeaseRef, strawberry.argument(description="The lease the claim returned.")]
Leases = Annotated[list[LeaseRef], strawberry.argument(description="The leases to extend.")]
Report = Annotated[ReportInput, strawberry.argument(description="The analyzer's findings.")]
Settings = Annotated[
    AnalyzerSettingsInput, strawberry.argument(description="The settings to change.")
]
MAX_ERROR_MESSAGE = 10_000
MAX_HEARTBEAT = 100


@strawberry.type(description="What a submission returned: a job, and how it was found.")
class SubmitJobPayload:
    job: Job = strawberry.field(description="The job: new, or the one that answers this input.")
    from_cache: bool = strawberry.field(
        description="A SUCCESS job within the analyzer's cache window was returned; no new job."
    )
    deduplicated: bool = strawberry.field(
        description="An identical job was already WAITING or IN_PROGRESS: that one was returned."
    )
    replayed: bool = strawberry.field(
        description="This idempotency key was used before with the same input: the first "
        "answer again."
    )
    cache_age_seconds: int | None = strawberry.field(
        description="Age of the returned report, when fromCache."
    )

    @classmethod
    def of(cls, info: Info, submitted: submission.Submitted) -> SubmitJobPayload:
        return cls(
            job=fresh(info, submitted.job),
            from_cache=submitted.from_cache,
            deduplicated=submitted.deduplicated,
            replayed=submitted.replayed,
            cache_age_seconds=submitted.cache_age_seconds,
        )


@strawberry.type(description="The answer to one input of submitJobs: a result or an error.")
class SubmitJobResult:
    index: int = strawberry.field(description="The input's position, from 0.")
    result: SubmitJobPayload | None = strawberry.field(description="Its job, when accepted.")
    error: UserError | None = strawberry.field(description="Why it was refused; nothing stored.")


@strawberry.type(description="A claimed job and the lease that lets its worker report on it.")
class JobLease:
    job: Job = strawberry.field(description="The job, now IN_PROGRESS.")
    lease_token: str = strawberry.field(description="Present it with every write on this job.")
    attempt: int = strawberry.field(description="Which attempt this is, from 1.")
    lease_expires_at: datetime = strawberry.field(description="Heartbeat before this.")
    deadline: datetime = strawberry.field(
        description="The analyzer's timeoutSeconds from now: past it the job ends TIMEOUT."
    )


@strawberry.type(description="The jobs a claim obtained.")
class ClaimJobsPayload:
    leases: list[JobLease] = strawberry.field(description="One per job claimed; maybe none.")
    retry_after_seconds: int | None = strawberry.field(
        description="Set when an analyzer's limits held queued work back: when to ask again."
    )


def _principal(info: Info) -> Any:
    return info.context.principal


def _lease(ref: LeaseRef) -> lease_service.LeaseRef:
    return lease_service.LeaseRef(str(ref.job_id), ref.lease_token)


@strawberry.type
class QueueMutation:
    @strawberry.mutation(
        description="Submits an observable (or an uploaded file) to an analyzer. Unless "
        "`force`, an identical job still WAITING or IN_PROGRESS is returned (deduplicated), "
        "else an identical SUCCESS job within the analyzer's cache window (fromCache). Past "
        "the analyzer's queue depth cap it is RATE_LIMITED; limits otherwise make jobs wait.",
        extensions=guarded(Role.ANALYZE, Role.ORGADMIN),
    )
    async def submit_job(self, info: Info, input: Input) -> SubmitJobPayload:
        header = info.context.request.headers.get(IDEMPOTENCY_HEADER)
        if header is not None and input.idempotency_key not in (None, header):
            raise BadUserInput(
                "The Idempotency-Key header and input.idempotencyKey differ",
                argument="input.idempotencyKey",
            )
        return SubmitJobPayload.of(info, await _submit(info, input.to_domain(header)))

    @strawberry.mutation(
        description=f"Submits up to {submission.MAX_BATCH} jobs, each as submitJob would, one "
        "result per input in order; not atomic: a refused input stores nothing and the others "
        "go on.",
        extensions=guarded(Role.ANALYZE, Role.ORGADMIN),
    )
    async def submit_jobs(self, info: Info, inputs: Inputs) -> list[SubmitJobResult]:
        if len(inputs) > submission.MAX_BATCH:
            message = f"At most {submission.MAX_BATCH} inputs per call"
            raise BadUserInput(message, argument="inputs")
        results = []
        for index, one in enumerate(inputs):
            try:
                payload = SubmitJobPayload.of(info, await _submit(info, one.to_domain()))
                results.append(SubmitJobResult(index=index, result=payload, error=None))
            except DomainError as error:
                argument = error.extensions.get("argument")
                refused = UserError(code=error.code, message=error.message, argument=argument)
                results.append(SubmitJobResult(index=index, result=None, error=refused))
        return results

    @strawberry.mutation(
        description="Cancels the organization's WAITING and IN_PROGRESS jobs that match "
        "`filter` AND `tql`, and returns how many. The condition must name a field. Workers "
        "holding them hear it on their next heartbeat.",
        extensions=guarded(Role.ORGADMIN),
    )
    async def cancel_jobs(
        self, info: Info, filter: JobFilterArg = None, tql: TqlArg = None, reason: Reason = None
    ) -> int:
        if reason is not None and len(reason) > MAX_REASON_LENGTH:
            message = f"reason: at most {MAX_REASON_LENGTH} characters"
            raise BadUserInput(message, argument="reason")
        compiled = compile_filter(JOB_FIELDS, filter, tql, info.context.settings)
        if compiled.where is None or not names_a_field(compiled.key):
            raise BadUserInput(
                "Give a filter or tql that names a field: cancelJobs never cancels every job "
                "by default",
                argument="filter",
            )
        principal = _principal(info)
        cancelled = await lifecycle.cancel_matching(
            info.context.db,
            organization=principal.organization,
            predicate=compiled.where,
            actor=principal.login,
            reason=reason,
            details=condition(filter, tql),
        )
        return len(cancelled)

    @strawberry.mutation(
        description="Claims up to `max` queued jobs of these analyzers (URGENT first, then "
        "oldest first), each with a new lease; long-polls up to `waitSeconds` while none is "
        "available. Analyzer limits (rate, maxConcurrent) are applied here, fleet-wide.",
        extensions=guarded(Role.WORKER),
    )
    async def claim_jobs(self, info: Info, input: Claim) -> ClaimJobsPayload:
        principal = _principal(info)
        request = queue.ClaimRequest(
            organization=principal.organization,
            login=principal.login,
            worker_id=input.worker_id,
            analyzer_ids=[str(a) for a in input.analyzer_ids],
            max_jobs=input.max,
            wait_seconds=input.wait_seconds,
            lease_seconds=input.lease_seconds,
        )
        claimed = await queue.claim(info.context.db, request, info.context.wakeup)
        return ClaimJobsPayload(
            leases=[
                JobLease(
                    job=fresh(info, lease.job),
                    lease_token=lease.token,
                    attempt=lease.attempt,
                    lease_expires_at=lease.expires_at,
                    deadline=lease.deadline,
                )
                for lease in claimed.leases
            ],
            retry_after_seconds=claimed.retry_after_seconds,
        )

    @strawberry.mutation(
        description=f"Extends these leases (at most {MAX_HEARTBEAT}) by their length. Each "
        "answer says HELD, CANCELLED (stop: the job was cancelled) or LOST (stop: the lease "
        "expired or was superseded).",
        extensions=guarded(Role.WORKER),
    )
    async def heartbeat(self, info: Info, leases: Leases) -> list[LeaseStatus]:
        if not 0 < len(leases) <= MAX_HEARTBEAT:
            raise BadUserInput(f"1 to {MAX_HEARTBEAT} leases", argument="leases")
        answers = await lease_service.heartbeat(
            info.context.db,
            organization=_principal(info).organization,
            leases=[_lease(ref) for ref in leases],
        )
        return [
            LeaseStatus(
                job_id=strawberry.ID(a.job_id),
                state=LeaseState(a.state.value),
                lease_expires_at=a.expires_at,
            )
            for a in answers
        ]

    @strawberry.mutation(
        description="Ends the job SUCCESS with this report (taxonomies, full JSON, artifacts), "
        "in one transaction. With a lost lease it is CONFLICT (reason LEASE_LOST), on a "
        "cancelled job CONFLICT (status CANCELLED), and nothing is written; completing twice "
        "with one lease returns the job unchanged.",
        extensions=guarded(Role.WORKER),
    )
    async def complete_job(self, info: Info, lease: Lease, report: Report) -> Job:
        if report.full is not None and not isinstance(report.full, dict):
            raise BadUserInput("full: a JSON object, or null", argument="report.full")
        principal = _principal(info)
        row = await lease_service.complete(
            info.context.db,
            organization=principal.organization,
            actor=principal.login,
            lease=_lease(lease),
            report=report.to_domain(),
        )
        return fresh(info, row)

    @strawberry.mutation(
        description="Ends the job FAILURE with this error; when `retryable` and attempts are "
        "left, it goes back to the queue instead (after a short backoff). Fenced by the lease "
        "as completeJob is.",
        extensions=guarded(Role.WORKER),
    )
    async def fail_job(
        self,
        info: Info,
        lease: Lease,
        error_message: Annotated[str, strawberry.argument(description="What went wrong.")],
        retryable: Annotated[
            bool, strawberry.argument(description="Whether another attempt may succeed.")
        ] = False,
    ) -> Job:
        if not 0 < len(error_message) <= MAX_ERROR_MESSAGE:
            message = f"errorMessage: 1 to {MAX_ERROR_MESSAGE} characters"
            raise BadUserInput(message, argument="errorMessage")
        principal = _principal(info)
        row = await lease_service.fail(
            info.context.db,
            organization=principal.organization,
            actor=principal.login,
            lease=_lease(lease),
            error_message=error_message,
            retryable=retryable,
        )
        return fresh(info, row)

    @strawberry.mutation(
        description="Gives the job back to the queue (the worker is shutting down): WAITING "
        "again, no attempt spent. Fenced by the lease as completeJob is.",
        extensions=guarded(Role.WORKER),
    )
    async def release_job(self, info: Info, lease: Lease) -> Job:
        principal = _principal(info)
        row = await lease_service.release(
            info.context.db,
            organization=principal.organization,
            actor=principal.login,
            lease=_lease(lease),
        )
        return fresh(info, row)

    @strawberry.mutation(
        description="Changes an analyzer's settings: enabled, job cache window, rate, "
        "concurrency, attempts, timeout. A field left out stays as it is; null clears rate, "
        "rateUnit, maxConcurrent and jobCacheMinutes.",
        extensions=guarded(Role.ORGADMIN),
    )
    async def update_analyzer(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The analyzer's id.")],
        settings: Settings,
    ) -> Analyzer:
        row = await analyzers.update_settings(
            info.context.db,
            organization=_principal(info).organization,
            analyzer_id=str(id),
            changes=settings.changes(),
            actor=_principal(info).login,
        )
        return Analyzer.from_row(row)


async def _submit(info: Info, one: submission.Submission) -> submission.Submitted:
    principal = _principal(info)
    submitted = await submission.submit(
        info.context.db,
        organization=principal.organization,
        actor=principal.login,
        submission=one,
    )
    if not (submitted.from_cache or submitted.deduplicated or submitted.replayed):
        info.context.wakeup.notify()
    return submitted
