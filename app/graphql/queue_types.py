"""Types of the write side: submission inputs and payloads, the queue, leases and reports."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from app.graphql.attachments import TaxonomyLevel
from app.graphql.enums import describe_values
from app.graphql.scalars import JSON
from app.services.lifecycle import ArtifactData, ReportData
from app.services.submission import Submission


@strawberry.enum(description="How soon a job is claimed: URGENT first, then oldest first.")
class JobPriority(Enum):
    LOW = "LOW"
    NORMAL = "NORMAL"
    HIGH = "HIGH"
    URGENT = "URGENT"


describe_values(
    JobPriority,
    {
        "LOW": "After every other waiting job of its analyzer.",
        "NORMAL": "The default.",
        "HIGH": "Before NORMAL and LOW jobs.",
        "URGENT": "Before every other waiting job of its analyzer.",
    },
)


@strawberry.enum(description="The unit of an analyzer's rate limit (Cortex's units).")
class RateUnit(Enum):
    SECOND = "SECOND"
    MINUTE = "MINUTE"
    HOUR = "HOUR"
    DAY = "DAY"
    MONTH = "MONTH"


describe_values(
    RateUnit,
    {
        "SECOND": "Per second.",
        "MINUTE": "Per minute.",
        "HOUR": "Per hour.",
        "DAY": "Per day (24 hours).",
        "MONTH": "Per 30 days.",
    },
)


@strawberry.enum(description="Where an active job is in the queue.")
class QueueState(Enum):
    QUEUED = "QUEUED"
    CLAIMED = "CLAIMED"


describe_values(
    QueueState,
    {"QUEUED": "Waiting for a worker.", "CLAIMED": "A worker holds a lease on it."},
)


@strawberry.enum(description="Why a queued job is not being claimed yet.")
class QueueReason(Enum):
    RATE_LIMITED = "RATE_LIMITED"
    CONCURRENCY_LIMITED = "CONCURRENCY_LIMITED"
    RETRY_BACKOFF = "RETRY_BACKOFF"


describe_values(
    QueueReason,
    {
        "RATE_LIMITED": "Its analyzer used its rate for the current window.",
        "CONCURRENCY_LIMITED": "Its analyzer runs as many jobs as maxConcurrent allows.",
        "RETRY_BACKOFF": "It failed and waits before its next attempt (availableAt).",
    },
)


@strawberry.enum(description="What a heartbeat says of a lease.")
class LeaseState(Enum):
    HELD = "HELD"
    CANCELLED = "CANCELLED"
    LOST = "LOST"


describe_values(
    LeaseState,
    {
        "HELD": "Still yours: go on, it was extended.",
        "CANCELLED": "The job was cancelled or deleted: stop, report nothing.",
        "LOST": "The lease expired or was superseded: stop, report nothing.",
    },
)


@strawberry.type(description="A WAITING or IN_PROGRESS job's place in the queue.")
class JobQueueInfo:
    state: QueueState = strawberry.field(description="QUEUED or CLAIMED.")
    reason: QueueReason | None = strawberry.field(
        description="Why a QUEUED job waits beyond its turn; null when nothing holds it back."
    )
    available_at: datetime = strawberry.field(description="From when it may be claimed.")
    worker_id: str | None = strawberry.field(description="The worker holding it, if claimed.")
    lease_expires_at: datetime | None = strawberry.field(
        description="When the lease ends without a heartbeat."
    )
    last_heartbeat_at: datetime | None = strawberry.field(description="The worker's last sign.")
    cancel_requested: bool = strawberry.field(
        description="The job was stopped while claimed: its worker is told on its next heartbeat."
    )


@strawberry.input(description="An observable (or a file) to run an analyzer on.")
class SubmitJobInput:
    analyzer_id: strawberry.ID = strawberry.field(description="The analyzer to run.")
    data_type: str = strawberry.field(description='Kind of observable: "ip", "domain", "file"…')
    data: str | None = strawberry.field(
        default=None, description="The observable's value; exactly one of data and attachmentId."
    )
    attachment_id: strawberry.ID | None = strawberry.field(
        default=None, description='A file from POST /attachments, for dataType "file".'
    )
    tlp: int = strawberry.field(default=2, description="Traffic Light Protocol level, 0 to 3.")
    pap: int = strawberry.field(default=2, description="Permissible Actions Protocol, 0 to 3.")
    message: str = strawberry.field(default="", description="Free text kept with the job.")
    parameters: JSON = strawberry.field(
        default_factory=dict, description="Analyzer parameters, a JSON object."
    )
    priority: JobPriority = strawberry.field(
        default=JobPriority.NORMAL, description="How soon it is claimed."
    )
    force: bool = strawberry.field(
        default=False,
        description="Skip the job cache and in-flight de-duplication: always a new job.",
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="1 to 255 visible ASCII characters: the same key with the same input "
        "answers the first result again for 24 hours (the Idempotency-Key header means the same).",
    )

    def to_domain(self, idempotency_key: str | None = None) -> Submission:
        return Submission(
            analyzer_id=str(self.analyzer_id),
            data_type=self.data_type,
            data=self.data,
            attachment_id=str(self.attachment_id) if self.attachment_id is not None else None,
            tlp=self.tlp,
            pap=self.pap,
            message=self.message,
            parameters=self.parameters,  # type: ignore[arg-type]  # checked by the service
            priority=self.priority.value,
            force=self.force,
            idempotency_key=idempotency_key or self.idempotency_key,
        )


@strawberry.type(description="A refusal of one input of a batch.")
class UserError:
    code: str = strawberry.field(description="As extensions.code of a GraphQL error.")
    message: str = strawberry.field(description="What is wrong.")
    argument: str | None = strawberry.field(description="The input field at fault.")


@strawberry.input(description="Which jobs to claim, how many, and for how long.")
class ClaimJobsInput:
    worker_id: str = strawberry.field(
        description="This worker process's stable name (shown in `workers` and on jobs)."
    )
    analyzer_ids: list[strawberry.ID] = strawberry.field(
        description="The analyzers this worker runs."
    )
    max: int = strawberry.field(default=1, description="At most this many jobs (1 to 100).")
    wait_seconds: int = strawberry.field(
        default=0, description="Long-poll up to this long (0 to 8) while no job is available."
    )
    lease_seconds: int = strawberry.field(
        default=60, description="The lease's length (1 to 3600): heartbeat well within it."
    )


@strawberry.input(description="A lease, as a worker presents it with every write.")
class LeaseRef:
    job_id: strawberry.ID = strawberry.field(description="The job.")
    lease_token: str = strawberry.field(description="The token its claim returned.")


@strawberry.type(description="What a heartbeat says of one lease.")
class LeaseStatus:
    job_id: strawberry.ID = strawberry.field(description="The job.")
    state: LeaseState = strawberry.field(description="HELD, CANCELLED or LOST.")
    lease_expires_at: datetime | None = strawberry.field(description="The new expiry, when HELD.")


@strawberry.input(description="One finding of a report.")
class TaxonomyInput:
    level: TaxonomyLevel = strawberry.field(description="How worrying it is.")
    namespace: str = strawberry.field(description='Source, e.g. "VT".')
    predicate: str = strawberry.field(description='What was measured, e.g. "GetReport".')
    value: str = strawberry.field(description='The result, e.g. "9/70".')


@strawberry.input(description="An observable or file the analyzer found.")
class ArtifactInput:
    data_type: str = strawberry.field(description="Its kind.")
    data: str | None = strawberry.field(default=None, description="Its value, or null for a file.")
    attachment_id: strawberry.ID | None = strawberry.field(
        default=None, description="A file uploaded with POST /attachments."
    )
    tlp: int = strawberry.field(default=2, description="Its TLP, 0 to 3.")
    message: str | None = strawberry.field(default=None, description="A note.")
    tags: list[str] = strawberry.field(default_factory=list, description="Labels.")


@strawberry.input(description="What a worker hands in when its analyzer succeeded.")
class ReportInput:
    taxonomies: list[TaxonomyInput] = strawberry.field(description="The summary's findings.")
    full: JSON | None = strawberry.field(default=None, description="The full report, any JSON.")
    artifacts: list[ArtifactInput] = strawberry.field(
        default_factory=list, description="Observables and files found."
    )

    def to_domain(self) -> ReportData:
        return ReportData(
            success=True,
            taxonomies=[
                {
                    "level": t.level.value,
                    "namespace": t.namespace,
                    "predicate": t.predicate,
                    "value": t.value,
                }
                for t in self.taxonomies
            ],
            full=self.full,  # type: ignore[arg-type]  # any JSON, stored as given
            artifacts=[
                ArtifactData(
                    data_type=a.data_type,
                    tlp=a.tlp,
                    data=a.data,
                    attachment_id=str(a.attachment_id) if a.attachment_id else None,
                    message=a.message,
                    tags=tuple(a.tags),
                )
                for a in self.artifacts
            ],
        )


@strawberry.input(description="Analyzer settings to change; a field left out stays as it is.")
class AnalyzerSettingsInput:
    enabled: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Whether it accepts new jobs."
    )
    job_cache_minutes: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="The job cache window (0 turns the cache off; null: the default, 10).",
    )
    rate: int | None = strawberry.field(
        default=strawberry.UNSET, description="At most this many starts per rateUnit; null: none."
    )
    rate_unit: RateUnit | None = strawberry.field(
        default=strawberry.UNSET, description="The rate's unit; given with rate."
    )
    max_concurrent: int | None = strawberry.field(
        default=strawberry.UNSET, description="At most this many claimed at once; null: no limit."
    )
    max_attempts: int | None = strawberry.field(
        default=strawberry.UNSET, description="Attempts per job, 1 to 10."
    )
    timeout_seconds: int | None = strawberry.field(
        default=strawberry.UNSET, description="Run time per attempt, 1 to 86400 seconds."
    )

    def changes(self) -> dict[str, Any]:
        """The fields given, by column name (null included: it clears the setting)."""
        unit = self.rate_unit
        given = {
            "enabled": self.enabled,
            "job_cache_minutes": self.job_cache_minutes,
            "rate": self.rate,
            "rate_unit": unit.value if isinstance(unit, RateUnit) else unit,
            "max_concurrent": self.max_concurrent,
            "max_attempts": self.max_attempts,
            "timeout_seconds": self.timeout_seconds,
        }
        return {k: v for k, v in given.items() if v is not strawberry.UNSET}


@strawberry.type(description="An analyzer runner, as last seen claiming or heartbeating.")
class WorkerInfo:
    id: str = strawberry.field(description="Its workerId.")
    login: str = strawberry.field(description="The login of its WORKER key.")
    analyzer_ids: list[str] = strawberry.field(description="The analyzers it claims for.")
    last_seen_at: datetime = strawberry.field(description="Its last claim or heartbeat.")
    leases: int = strawberry.field(description="Jobs it holds now.")
