"""Job, Analyzer and their connections: the types that refer to one another live together."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Generic, TypeVar

import strawberry
from graphql import FieldNode

from app.auth import Role
from app.config import Settings
from app.graphql.attachments import Attachment, Report, TaxonomyLevel
from app.graphql.context import Info, ListingBatch
from app.graphql.enums import describe_values
from app.graphql.filter_tree import compile_filter
from app.graphql.filters import JobFilterArg, TqlArg
from app.graphql.loaded import optional, shared, then
from app.graphql.node import Node
from app.graphql.permissions import RoleEnum
from app.graphql.queue_types import JobPriority, JobQueueInfo, QueueReason, QueueState, RateUnit
from app.graphql.scalars import JSON
from app.pagination import PageSize, window
from app.services.eventlog import Position
from app.services.jobs import JobScope, excludes_deleted, job_listing, job_ordering
from app.services.jobs import JobStatus as DomainJobStatus
from app.services.listing import Listing, PageRows
from app.services.verdicts import verdict_name
from app.tql import JOB_FIELDS

JobStatus = describe_values(
    strawberry.enum(
        DomainJobStatus,
        name="JobStatus",
        description="Where a job is in its lifecycle: WAITING → IN_PROGRESS → SUCCESS | FAILURE | "
        "TIMEOUT; CANCELLED by a user; DELETED (soft) by a user. Sorts in this order.",
    ),
    {
        "WAITING": "Submitted; no analyzer has taken it yet.",
        "IN_PROGRESS": "An analyzer is running it.",
        "SUCCESS": "Finished; the report holds the results.",
        "FAILURE": "Finished with an error; report.errorMessage says which.",
        "TIMEOUT": "Finished because the analyzer ran out of time.",
        "CANCELLED": "Stopped by a user before it finished (cancelJob).",
        "DELETED": "Soft-deleted by a user (deleteJob): kept, but listed only with includeDeleted.",
    },
)
T = TypeVar("T")
ACTIVE_STATUSES = (JobStatus.WAITING, JobStatus.IN_PROGRESS)
CHANGERS = frozenset({Role.ANALYZE, Role.ORGADMIN})  # may cancel and delete jobs


@strawberry.type(description="Where a page sits in its listing, in Relay's terms.")
class PageInfo:
    start_cursor: str | None = strawberry.field(description="Cursor of the first edge.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last edge.")
    rows: strawberry.Private[PageRows | None]
    batch: strawberry.Private[ListingBatch | None]
    group: strawberry.Private[Any]
    # (hasNextPage, hasPreviousPage) of a page that knows them already (the job event log).
    known: strawberry.Private[tuple[bool, bool] | None] = None

    @strawberry.field(description="Whether more rows follow the last edge.")
    async def has_next_page(self) -> bool:
        if self.known is not None:
            return self.known[0]
        assert self.batch is not None and self.rows is not None
        if self.batch.listing.window.backward:
            return bool(await self.batch.behind.load(self.group))
        return self.rows.has_more

    @strawberry.field(description="Whether rows precede the first edge.")
    async def has_previous_page(self) -> bool:
        if self.known is not None:
            return self.known[1]
        assert self.batch is not None and self.rows is not None
        if self.batch.listing.window.backward:
            return self.rows.has_more
        return bool(await self.batch.behind.load(self.group))


@strawberry.type(description="A node and the cursor that points at it.")
class Edge(Generic[T]):
    node: T = strawberry.field(description="The item.")
    row: strawberry.Private[Any]
    batch: strawberry.Private[ListingBatch]

    @strawberry.field(description="Opaque: pass it as `after` or `before` to continue from here.")
    def cursor(self) -> str:
        return self.batch.listing.ordering.cursor(self.row)


@strawberry.type(description="One page of a listing (a Relay connection with keyset cursors).")
class Connection(Generic[T]):
    nodes: list[T] = strawberry.field(description="The items of this page, without cursors.")
    rows: strawberry.Private[PageRows]
    batch: strawberry.Private[ListingBatch]
    group: strawberry.Private[Any]

    @strawberry.field(description="The items of this page with their cursors.")
    def edges(self) -> list[Edge[T]]:
        return [
            Edge(node=node, row=row, batch=self.batch)
            for node, row in zip(self.nodes, self.rows.rows, strict=True)
        ]

    @strawberry.field(description="Cursors of this page and whether more pages exist.")
    def page_info(self) -> PageInfo:
        ordering, rows = self.batch.listing.ordering, self.rows.rows
        return PageInfo(
            start_cursor=ordering.cursor(rows[0]) if rows else None,
            end_cursor=ordering.cursor(rows[-1]) if rows else None,
            rows=self.rows,
            batch=self.batch,
            group=self.group,
        )

    @strawberry.field(
        description="How many items match, all pages together. Counted only when asked for."
    )
    async def total_count(self) -> int:
        return await self.batch.counts.load(self.group) or 0


async def load_connection(
    batch: ListingBatch, group: Any, to_node: Callable[[Any], T]
) -> Connection[T]:
    rows = await batch.pages.load(group)
    assert rows is not None
    return Connection(nodes=[to_node(r) for r in rows.rows], rows=rows, batch=batch, group=group)


def page_size(info: Info) -> PageSize:
    return settings_page_size(info.context.settings)


def settings_page_size(settings: Settings) -> PageSize:
    return PageSize(default=settings.default_page_size, maximum=settings.max_page_size)


@strawberry.enum(description="Sort direction. NULLs sort last in both directions.")
class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


describe_values(
    OrderDirection,
    {
        "ASC": "Smallest, oldest, first in lifecycle first.",
        "DESC": "Largest, newest, last in lifecycle first.",
    },
)


@strawberry.enum(
    description="What jobs can be sorted by. Strings sort by code point; STATUS in lifecycle order."
)
class JobOrderField(Enum):
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    START_DATE = "START_DATE"
    END_DATE = "END_DATE"
    STATUS = "STATUS"
    TLP = "TLP"
    ANALYZER_NAME = "ANALYZER_NAME"
    DATA_TYPE = "DATA_TYPE"
    VERDICT = "VERDICT"


describe_values(
    JobOrderField,
    {
        "CREATED_AT": "When the job was submitted.",
        "UPDATED_AT": "When it last changed.",
        "START_DATE": "When it started running.",
        "END_DATE": "When it finished.",
        "STATUS": "Its status, in lifecycle order (WAITING first, DELETED last).",
        "TLP": "Its Traffic Light Protocol level, 0 to 3.",
        "ANALYZER_NAME": "Its analyzer's name.",
        "DATA_TYPE": "Its data type (ip, domain, file…).",
        "VERDICT": "Its verdict, in the enum's order (INFO first, MALICIOUS last; none last).",
    },
)


@strawberry.input(
    description="One sort key. Several keys sort by the first, then the next…; "
    "the job id always breaks ties."
)
class JobOrder:
    field: JobOrderField = strawberry.field(description="What to sort by.")
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.ASC, description="ASC (default) or DESC."
    )


def order_pairs(order_by: list[JobOrder] | None) -> tuple[tuple[str, bool], ...]:
    return tuple((o.field.value, o.direction is OrderDirection.DESC) for o in order_by or ())


First = Annotated[
    int | None,
    strawberry.argument(description="Page size from the start or `after` (1 to 100, default 25)."),
]
After = Annotated[str | None, strawberry.argument(description="Items after this cursor.")]
Last = Annotated[int | None, strawberry.argument(description="Page size from the end or `before`.")]
Before = Annotated[str | None, strawberry.argument(description="Items before this cursor.")]
OrderBy = Annotated[
    list[JobOrder] | None,
    strawberry.argument(description="Sort keys; default newest first (CREATED_AT DESC)."),
]


@dataclass(frozen=True)
class JobListArgs:
    """A jobs listing as asked for; equal args share one batched statement across parents."""

    order_by: tuple[tuple[str, bool], ...]
    first: int | None
    after: str | None
    last: int | None
    before: str | None
    include_deleted: bool = False
    filter_key: Any = None  # identity of the caller's filter, for sharing
    predicate: Any = field(default=None, compare=False)  # compiled filter (a SQL expression)

    @classmethod
    def of(
        cls,
        settings: Settings,
        filter: Any,
        tql: str | None,
        order_by: list[JobOrder] | None,
        first: int | None,
        after: str | None,
        last: int | None,
        before: str | None,
        include_deleted: bool = False,
    ) -> JobListArgs:
        """From a jobs field's arguments; BadUserInput if the filter or TQL is wrong."""
        where = compile_filter(JOB_FIELDS, filter, tql, settings)
        pairs = order_pairs(order_by)
        return cls(pairs, first, after, last, before, include_deleted, where.key, where.where)

    def listing(self, organization: str, size: PageSize, *, by_analyzer: bool = False) -> Listing:
        """The listing asked for, of the organization's jobs (of each analyzer's, batched);
        BadUserInput if the page arguments are wrong."""
        ordering = job_ordering(self.order_by)
        page = window(
            ordering, size, first=self.first, after=self.after, last=self.last, before=self.before
        )
        # A filter that already leaves deleted jobs out needs no scope to do it again.
        scope = JobScope(organization, self.include_deleted or excludes_deleted(self.filter_key))
        return job_listing(scope, self.predicate, ordering, page, by_analyzer=by_analyzer)


async def job_connection(
    info: Info, args: JobListArgs, *, analyzer_id: str | None = None
) -> Connection[Job]:
    """A page of the caller's jobs; of one analyzer's, batched with its siblings, if given."""
    organization, size = info.context.principal.organization, page_size(info)
    listing = args.listing(organization, size, by_analyzer=analyzer_id is not None)
    batch = info.context.loaders.listing(("jobs", analyzer_id is None, args), lambda: listing)
    return await load_connection(batch, analyzer_id, Job.from_row)


@strawberry.type(description="A state change in a job's life.")
class JobEvent:
    at: datetime = strawberry.field(description="When it happened.")
    status: JobStatus = strawberry.field(description="The status entered.")  # type: ignore[valid-type]
    previous_status: JobStatus | None = strawberry.field(  # type: ignore[valid-type]
        description="The status left; null for the submission."
    )
    actor: str = strawberry.field(description="Login of the user or worker that caused it.")
    message: str | None = strawberry.field(description="Why, e.g. the reason of a cancel.")
    id: strawberry.ID = strawberry.field(description="The event's id in the job event log.")
    cursor: str = strawberry.field(
        description="Where the event stands in the log: `jobUpdates(after:)` and "
        "`jobEvents(after:)` resume right after it."
    )
    job_id: strawberry.ID = strawberry.field(description="The job it happened to.")
    attempt: int | None = strawberry.field(
        description="The job's attempt when it happened (0 before the first claim)."
    )

    @classmethod
    def from_row(cls, row: Any) -> JobEvent:
        previous = row.previous_status
        return cls(
            id=strawberry.ID(str(row.id)),
            cursor=Position(int(row.xid), row.id).cursor,
            job_id=strawberry.ID(row.job_id),
            attempt=row.attempt,
            at=row.at,
            status=JobStatus(row.status),
            actor=row.actor,
            message=row.message,
            previous_status=JobStatus(previous) if previous else None,
        )


@strawberry.type(description="One run of an analyzer on an observable.")
class Job(Node):
    id: strawberry.ID = strawberry.field(description="Unique identifier of the job.")
    organization: str = strawberry.field(description="The organization that owns the job.")
    analyzer_id: str = strawberry.field(description="Id of the analyzer that ran (or runs) it.")
    analyzer_name: str = strawberry.field(description='Analyzer name, e.g. "Abuse_Finder_3_0".')
    analyzer_definition_id: str = strawberry.field(description="The analyzer's definition.")
    data_type: str = strawberry.field(description='Kind of observable: "ip", "domain", "file"…')
    status: JobStatus = strawberry.field(description="Where the job is in its lifecycle.")  # type: ignore[valid-type]
    data: str | None = strawberry.field(description="The observable; null for file jobs.")
    parameters: JSON = strawberry.field(description="Parameters the job was submitted with.")
    message: str = strawberry.field(description="Free text given at submission.")
    tlp: int = strawberry.field(description="Traffic Light Protocol level, 0 (white) to 3 (red).")
    pap: int = strawberry.field(description="Permissible Actions Protocol level, 0 to 3.")
    start_date: datetime | None = strawberry.field(description="When an analyzer picked it up.")
    end_date: datetime | None = strawberry.field(description="When it finished.")
    created_at: datetime = strawberry.field(description="When it was submitted.")
    created_by: str = strawberry.field(description="Login of the submitter.")
    updated_at: datetime | None = strawberry.field(description="Last change of status.")
    updated_by: str | None = strawberry.field(description="Who made the last change.")
    priority: JobPriority = strawberry.field(description="How soon it is claimed.")
    verdict: TaxonomyLevel | None = strawberry.field(
        description="The report's highest taxonomy level; null without a report or taxonomies."
    )
    attempt: int = strawberry.field(
        description="Attempts started so far (0 until a worker claims it)."
    )
    max_attempts: int = strawberry.field(
        description="Attempts it may take: retryable failures and lost leases queue it again "
        "while attempts are left."
    )
    attachment_id: strawberry.Private[str | None]

    @classmethod
    def from_row(cls, row: Any) -> Job:
        return cls(
            id=strawberry.ID(row.id),
            organization=row.organization_id,
            analyzer_id=row.analyzer_id,
            analyzer_name=row.analyzer_name,
            analyzer_definition_id=row.analyzer_definition_id,
            data_type=row.data_type,
            status=JobStatus(row.status),
            data=row.data,
            parameters=row.parameters,
            message=row.message,
            tlp=row.tlp,
            pap=row.pap,
            start_date=row.start_date,
            end_date=row.end_date,
            created_at=row.created_at,
            created_by=row.created_by,
            updated_at=row.updated_at,
            updated_by=row.updated_by,
            priority=JobPriority(row.priority),
            verdict=None if row.verdict is None else TaxonomyLevel(verdict_name(row.verdict)),
            attempt=row.attempt,
            max_attempts=row.max_attempts,
            attachment_id=row.attachment_id,
        )

    @strawberry.field(description="Its place in the queue; null once it has finished.")
    async def queue(self, info: Info) -> JobQueueInfo | None:
        if self.status not in ACTIVE_STATUSES:
            return None
        view = await info.context.loaders.queue_by_job_id.load(self.id)
        if view is None:
            return None
        row = view.row
        return JobQueueInfo(
            state=QueueState(row.state),
            reason=QueueReason(view.reason) if view.reason else None,
            available_at=row.available_at,
            worker_id=row.worker_id,
            lease_expires_at=row.lease_expires_at,
            last_heartbeat_at=row.last_heartbeat_at,
            cancel_requested=row.cancel_requested,
        )

    @strawberry.field(description="Whether the caller may cancel it now (cancelJob).")
    def viewer_can_cancel(self, info: Info) -> bool:
        roles = info.context.principal.roles
        return bool(roles & CHANGERS) and self.status in ACTIVE_STATUSES

    @strawberry.field(description="Whether the caller may delete it now (deleteJob).")
    def viewer_can_delete(self, info: Info) -> bool:
        roles = info.context.principal.roles
        return bool(roles & CHANGERS) and self.status is not JobStatus.DELETED

    # Relations return their loader's future, mapped (see app/graphql/loaded.py): no coroutine
    # and no task per job; `graphql_type` says what the future holds.
    @strawberry.field(
        graphql_type=Annotated["Analyzer", strawberry.lazy("app.graphql.types")] | None,
        description="The analyzer; null when it no longer exists.",
    )
    def analyzer(self, info: Info) -> Awaitable[Analyzer | None]:
        loaders = info.context.loaders
        convert = optional(Analyzer.from_row)
        return shared(loaders.analyzers_made, loaders.analyzer_by_id, self.analyzer_id, convert)

    @strawberry.field(
        graphql_type=Attachment | None, description="The submitted file; null for non-file jobs."
    )
    def attachment(self, info: Info) -> Awaitable[Attachment | None] | None:
        if self.attachment_id is None:
            return None
        loading = info.context.loaders.attachment_by_id.load(self.attachment_id)
        return then(loading, optional(Attachment.from_row))

    @strawberry.field(
        graphql_type=Report | None,
        description="The analyzer's report; null until the job has finished.",
    )
    def report(self, info: Info) -> Awaitable[Report | None]:
        loaders = info.context.loaders
        # With `full` asked for, read it with the rest: Report.full then finds it loaded.
        loader = (
            loaders.report_full_by_job_id if _asks_for(info, "full") else loaders.report_by_job_id
        )
        return then(loader.load(self.id), optional(Report.from_row))

    @strawberry.field(graphql_type=list[JobEvent], description="The job's lifecycle, oldest first.")
    def events(self, info: Info) -> Awaitable[list[JobEvent]]:
        loading = info.context.loaders.events_by_job_id.load(self.id)
        return then(loading, lambda rows: [JobEvent.from_row(r) for r in rows or []])


def _asks_for(info: Info, name: str) -> bool:
    """Whether the field's own selection names `name` (fragments aside: then it says no)."""
    return any(
        isinstance(selection, FieldNode) and selection.name.value == name
        for node in info._raw_info.field_nodes
        if node.selection_set
        for selection in node.selection_set.selections
    )


@strawberry.type(
    description="A program that analyzes one kind of observable, as enabled in an organization."
)
class Analyzer(Node):
    id: strawberry.ID = strawberry.field(description="Unique identifier of the analyzer.")
    name: str = strawberry.field(description='Name with version, e.g. "MaxMind_GeoIP_4_0".')
    definition_id: str = strawberry.field(description="The analyzer definition it runs.")
    version: str = strawberry.field(description="Version of the definition.")
    description: str | None = strawberry.field(description="What it does.")
    author: str | None = strawberry.field(description="Who wrote it.")
    license: str | None = strawberry.field(description="Its license.")
    url: str | None = strawberry.field(description="Where it is documented.")
    data_types: list[str] = strawberry.field(description="Kinds of observable it accepts.")
    max_tlp: int = strawberry.field(description="Highest TLP of data it may be sent.")
    job_cache_minutes: int | None = strawberry.field(
        description="How long a finished job is reused for the same input; null: default."
    )
    enabled: bool = strawberry.field(description="Whether it accepts new jobs.")
    created_at: datetime = strawberry.field(description="When it was enabled here.")
    rate: int | None = strawberry.field(
        description="At most this many starts per rateUnit, fleet-wide; further jobs wait."
    )
    rate_unit: RateUnit | None = strawberry.field(description="The rate's unit.")
    max_concurrent: int | None = strawberry.field(
        description="At most this many of its jobs claimed at once, fleet-wide."
    )
    max_attempts: int = strawberry.field(
        description="Attempts per job (default 1: a failure is final, as in Cortex)."
    )
    timeout_seconds: int = strawberry.field(
        description="Run time per attempt (default 1800): past it the job ends TIMEOUT."
    )

    @classmethod
    def from_row(cls, row: Any) -> Analyzer:
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            definition_id=row.definition_id,
            version=row.version,
            description=row.description,
            author=row.author,
            license=row.license,
            url=row.url,
            data_types=list(row.data_types),
            max_tlp=row.max_tlp,
            job_cache_minutes=row.job_cache_minutes,
            enabled=row.enabled,
            created_at=row.created_at,
            rate=row.rate,
            rate_unit=RateUnit(row.rate_unit) if row.rate_unit else None,
            max_concurrent=row.max_concurrent,
            max_attempts=row.max_attempts,
            timeout_seconds=row.timeout_seconds,
        )

    @strawberry.field(description="Its jobs QUEUED now.")
    async def queue_depth(self, info: Info) -> int:
        return await info.context.loaders.queue_depth_by_analyzer_id.load(self.id) or 0

    @strawberry.field(description="Its newest job (its last execution); deleted jobs aside.")
    async def last_job(self, info: Info) -> Job | None:
        row = await info.context.loaders.last_job_by_analyzer_id.load(self.id)
        return Job.from_row(row) if row else None

    @strawberry.field(description="This analyzer's jobs, newest first unless ordered otherwise.")
    async def jobs(
        self,
        info: Info,
        filter: JobFilterArg = None,
        tql: TqlArg = None,
        order_by: OrderBy = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Job]:
        settings = info.context.settings
        args = JobListArgs.of(settings, filter, tql, order_by, first, after, last, before)
        return await job_connection(info, args, analyzer_id=self.id)


@strawberry.type(description="The caller.")
class Viewer:
    login: str = strawberry.field(description="Login of the user the API key belongs to.")
    name: str = strawberry.field(description="Display name.")
    organization: str = strawberry.field(description="The one organization the user sees.")
    roles: list[RoleEnum] = strawberry.field(description="What the user may do.")  # type: ignore[valid-type]


JobConnection = Connection[Job]
AnalyzerConnection = Connection[Analyzer]
