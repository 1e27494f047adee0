"""jobStats: counts of the caller's jobs grouped by up to three dimensions (thin: the work is
in app/services/stats.py, which the compiled path calls too)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry

from app.config import Settings
from app.graphql.attachments import TaxonomyLevel
from app.graphql.enums import describe_values
from app.graphql.filter_tree import compile_filter
from app.graphql.types import JobStatus
from app.services import stats as service
from app.services.jobs import JobScope, excludes_deleted
from app.services.jobs import JobStatus as DomainJobStatus
from app.tql import JOB_FIELDS


@strawberry.enum(description="What jobStats groups jobs by.")
class JobStatsDimension(Enum):
    STATUS = "STATUS"
    ANALYZER = "ANALYZER"
    DATA_TYPE = "DATA_TYPE"
    TLP = "TLP"
    VERDICT = "VERDICT"
    TIME = "TIME"


describe_values(
    JobStatsDimension,
    {
        "STATUS": "The job's status.",
        "ANALYZER": "Its analyzer (id and the name the job keeps).",
        "DATA_TYPE": "Its data type.",
        "TLP": "Its TLP.",
        "VERDICT": "Its verdict (null: no report or no taxonomies).",
        "TIME": "The UTC bucket (see `bucket`) of its createdAt; needs a bounded createdAt range.",
    },
)


@strawberry.enum(description="The width of a TIME group; buckets start on UTC boundaries.")
class TimeBucket(Enum):
    HOUR = "HOUR"
    DAY = "DAY"
    WEEK = "WEEK"


describe_values(
    TimeBucket,
    {"HOUR": "A UTC hour.", "DAY": "A UTC day.", "WEEK": "An ISO week, from Monday 00:00 UTC."},
)


@strawberry.type(description="One group of jobStats: the dimensions asked for, and its count.")
class JobStatsGroup:
    status: JobStatus | None = strawberry.field(description="Its status (STATUS).")  # type: ignore[valid-type]
    analyzer_id: str | None = strawberry.field(description="Its analyzer's id (ANALYZER).")
    analyzer_name: str | None = strawberry.field(description="Its analyzer's name (ANALYZER).")
    data_type: str | None = strawberry.field(description="Its data type (DATA_TYPE).")
    tlp: int | None = strawberry.field(description="Its TLP (TLP).")
    verdict: TaxonomyLevel | None = strawberry.field(description="Its verdict (VERDICT).")
    bucket_start: datetime | None = strawberry.field(description="Its bucket's start (TIME).")
    count: int = strawberry.field(description="How many jobs.")


@strawberry.type(description="Counts of jobs: groups biggest first, at most 1,000 of them.")
class JobStats:
    total: int = strawberry.field(description="Jobs matching, over all groups.")
    groups: list[JobStatsGroup] = strawberry.field(description="The groups, biggest first.")
    truncated: bool = strawberry.field(description="Whether more than 1,000 groups exist.")


GroupBy = Annotated[
    list[JobStatsDimension],
    strawberry.argument(description="1 to 3 dimensions; TIME needs a bounded createdAt range."),
]
Bucket = Annotated[TimeBucket, strawberry.argument(description="The width of TIME groups (UTC).")]


def stats_statement(
    settings: Settings,
    organization: str,
    filter: Any,
    tql: str | None,
    include_deleted: bool,
    group_by: list[Any],
    bucket: Any,
) -> tuple[Any, tuple[str, ...]]:
    """The statement and checked dimensions of a jobStats request; BadUserInput if wrong."""
    where = compile_filter(JOB_FIELDS, filter, tql, settings)
    dimensions = service.check_dimensions([d.value for d in group_by], where.key)
    scope = JobScope(organization, include_deleted or excludes_deleted(where.key))
    statement = service.stats_query(scope, where.where, dimensions, bucket.value, where.key)
    return statement, dimensions


def to_graphql(found: service.Stats) -> JobStats:
    return JobStats(
        total=found.total,
        truncated=found.truncated,
        groups=[
            JobStatsGroup(
                status=DomainJobStatus(g.status) if g.status else None,
                analyzer_id=g.analyzer_id,
                analyzer_name=g.analyzer_name,
                data_type=g.data_type,
                tlp=g.tlp,
                verdict=TaxonomyLevel(g.verdict) if g.verdict else None,
                bucket_start=g.bucket_start,
                count=g.count,
            )
            for g in found.groups
        ],
    )
