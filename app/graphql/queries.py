"""The root Query: thin resolvers that translate arguments and call services."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated

import strawberry

from app.auth import Role
from app.errors import BadUserInput
from app.graphql.attachments import Attachment
from app.graphql.context import Info, ListingBatch
from app.graphql.filter_tree import compile_filter
from app.graphql.filters import (
    AnalyzerFilterArg,
    AnalyzerTqlArg,
    IncludeDeleted,
    JobFilterArg,
    TqlArg,
)
from app.graphql.node import Node
from app.graphql.permissions import guarded
from app.graphql.queue_types import WorkerInfo
from app.graphql.stats import Bucket, GroupBy, JobStats, TimeBucket, stats_statement, to_graphql
from app.graphql.tql_fields import TqlEntity, TqlField, tql_fields
from app.graphql.types import (
    After,
    Analyzer,
    Before,
    Connection,
    First,
    Job,
    JobListArgs,
    Last,
    OrderBy,
    Viewer,
    job_connection,
    load_connection,
    page_size,
)
from app.pagination import window
from app.services import queue_status
from app.services.analyzers import ANALYZER_ORDERING, analyzer_listing
from app.services.stats import stats_of
from app.tql import ANALYZER_FIELDS

JobId = Annotated[strawberry.ID, strawberry.argument(description="The job's id.")]
AnalyzerId = Annotated[strawberry.ID, strawberry.argument(description="The analyzer's id.")]
NodeId = Annotated[
    strawberry.ID, strawberry.argument(description="The id of a Job, an Analyzer or an Attachment.")
]
NodeIds = Annotated[
    list[strawberry.ID],
    strawberry.argument(
        description="Ids of Jobs, Analyzers or Attachments; at most JOBQL_MAX_PAGE_SIZE."
    ),
]


@strawberry.type(
    description="Everything that can be read. All of it is scoped to the caller's organization."
)
class Query:
    @strawberry.field(description="The caller: login, organization and roles.")
    def me(self, info: Info) -> Viewer:
        principal = info.context.principal
        return Viewer(
            login=principal.login,
            name=principal.name,
            organization=principal.organization,
            roles=sorted(principal.roles),
        )

    @strawberry.field(
        description="One job by id (a deleted one too); null when absent or "
        "in another organization."
    )
    async def job(self, info: Info, id: JobId) -> Job | None:
        row = await info.context.loaders.job_by_id.load(id)
        return Job.from_row(row) if row else None

    @strawberry.field(
        description="The Job, Analyzer or Attachment with this id (a deleted job too), as Relay "
        "refetches it; null when absent or in another organization."
    )
    async def node(self, info: Info, id: NodeId) -> Node | None:
        return (await find_nodes(info, [id]))[0]

    @strawberry.field(
        description="The objects with these ids, one entry per id in the same order: null for "
        "an id absent or in another organization. Up to JOBQL_MAX_PAGE_SIZE (100) ids."
    )
    async def nodes(self, info: Info, ids: NodeIds) -> list[Node | None]:
        maximum = info.context.settings.max_page_size
        if len(ids) > maximum:
            raise BadUserInput(f"nodes takes at most {maximum} ids", argument="ids")
        return await find_nodes(info, ids)

    @strawberry.field(
        description="The organization's jobs, newest first unless ordered "
        "otherwise; deleted jobs aside unless includeDeleted."
    )
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
        include_deleted: IncludeDeleted = False,
    ) -> Connection[Job]:
        settings = info.context.settings
        args = JobListArgs.of(
            settings, filter, tql, order_by, first, after, last, before, include_deleted
        )
        return await job_connection(info, args)

    @strawberry.field(
        description="Counts of the organization's jobs grouped by 1 to 3 dimensions, under the "
        "same filter, tql and includeDeleted rules as jobs: groups biggest first, at most 1,000 "
        "(truncated says more exist); TIME groups by the UTC bucket of createdAt and needs a "
        "bounded createdAt range."
    )
    async def job_stats(
        self,
        info: Info,
        group_by: GroupBy,
        filter: JobFilterArg = None,
        tql: TqlArg = None,
        include_deleted: IncludeDeleted = False,
        bucket: Bucket = TimeBucket.DAY,
    ) -> JobStats:
        organization = info.context.principal.organization
        statement, dimensions = stats_statement(
            info.context.settings, organization, filter, tql, include_deleted, group_by, bucket
        )
        async with info.context.db.read() as conn:
            rows = (await conn.execute(statement)).all()
        return to_graphql(stats_of(rows, dimensions))

    @strawberry.field(
        description="One analyzer by id; null when absent or in another organization."
    )
    async def analyzer(self, info: Info, id: AnalyzerId) -> Analyzer | None:
        row = await info.context.loaders.analyzer_by_id.load(id)
        return Analyzer.from_row(row) if row else None

    @strawberry.field(description="The organization's analyzers, by name.")
    async def analyzers(
        self,
        info: Info,
        filter: AnalyzerFilterArg = None,
        tql: AnalyzerTqlArg = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Analyzer]:
        page = window(
            ANALYZER_ORDERING, page_size(info), first=first, after=after, last=last, before=before
        )
        where = compile_filter(ANALYZER_FIELDS, filter, tql, info.context.settings)
        listing = analyzer_listing(info.context.principal.organization, where.where, page)
        return await load_connection(
            ListingBatch(info.context.db, listing), None, Analyzer.from_row
        )

    @strawberry.field(
        description="The organization's analyzer runners, most recently seen first: who is "
        "claiming, for which analyzers, how many leases each holds.",
        extensions=guarded(Role.ORGADMIN),
    )
    async def workers(self, info: Info) -> list[WorkerInfo]:
        found = await queue_status.list_workers(
            info.context.db, info.context.principal.organization
        )
        return [
            WorkerInfo(
                id=row.id,
                login=row.login,
                analyzer_ids=list(row.analyzer_ids),
                last_seen_at=row.last_seen_at,
                leases=leases,
            )
            for row, leases in found
        ]

    @strawberry.field(
        description="What TQL and the typed filters can filter on: each field's name, type, "
        "operators and enum values."
    )
    def tql_fields(
        self,
        entity: Annotated[TqlEntity, strawberry.argument(description="JOB or ANALYZER.")],
    ) -> list[TqlField]:
        return tql_fields(entity)


async def find_nodes(info: Info, ids: Sequence[str]) -> list[Node | None]:
    """Each id looked up in the three tables at once: three batched statements, however many
    ids (and however many node fields the query has: the loaders batch them together). An id
    of another organization finds nothing in any of them, exactly as an absent one. Ids come
    from one generator of 80 random bits; were one ever shared, the Job wins, then the
    Analyzer."""
    loaders = info.context.loaders
    jobs, analyzers, attachments = await asyncio.gather(
        loaders.job_by_id.load_many(ids),
        loaders.analyzer_by_id.load_many(ids),
        loaders.attachment_by_id.load_many(ids),
    )
    return [
        Job.from_row(job)
        if job
        else Analyzer.from_row(analyzer)
        if analyzer
        else Attachment.from_row(attachment)
        if attachment
        else None
        for job, analyzer, attachment in zip(jobs, analyzers, attachments, strict=True)
    ]
