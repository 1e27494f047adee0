"""The typed filter inputs (JobFilter, AnalyzerFilter, …) and the filter arguments."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, TypeAlias

import strawberry

if TYPE_CHECKING:
    from app.graphql.attachments import TaxonomyLevel
    from app.graphql.queue_types import JobPriority
    from app.services.jobs import JobStatus

# Lazy: app.graphql.types registers the JobStatus enum and imports this module for its
# resolvers' arguments, so a direct import would be circular.
Status: TypeAlias = Annotated["JobStatus", strawberry.lazy("app.graphql.types")]
Level: TypeAlias = Annotated["TaxonomyLevel", strawberry.lazy("app.graphql.attachments")]
Priority: TypeAlias = Annotated["JobPriority", strawberry.lazy("app.graphql.queue_types")]
_NULL = "Explicit null means the same as leaving the operator out."


_STRING = (
    f"Conditions on a text field, ANDed. {_NULL} Equality is exact and case-sensitive; "
    "contains/startsWith/endsWith ignore the case of ASCII letters (other letters compare "
    "exactly) and match % _ \\ literally. A null field matches no operator but isNull: true "
    "(SQL's three-valued logic)."
)


@strawberry.input(description=_STRING)
class StringFilter:
    eq: str | None = strawberry.field(default=strawberry.UNSET, description="Equal to.")
    neq: str | None = strawberry.field(
        default=strawberry.UNSET, description="Not equal to (null fields never match)."
    )
    in_: list[str] | None = strawberry.field(
        default=strawberry.UNSET,
        name="in",
        description="Equal to one of these; an empty list matches nothing.",
    )
    not_in: list[str] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Equal to none of these; an empty list is no condition.",
    )
    contains: str | None = strawberry.field(
        default=strawberry.UNSET, description="Contains this text."
    )
    starts_with: str | None = strawberry.field(
        default=strawberry.UNSET, description="Starts with this text."
    )
    ends_with: str | None = strawberry.field(
        default=strawberry.UNSET, description="Ends with this text."
    )
    is_null: bool | None = strawberry.field(
        default=strawberry.UNSET, description="true: the field is null; false: it is not."
    )


@strawberry.input(description=f"Conditions on an integer field, ANDed. {_NULL}")
class IntFilter:
    eq: int | None = strawberry.field(default=strawberry.UNSET, description="Equal to.")
    neq: int | None = strawberry.field(default=strawberry.UNSET, description="Not equal to.")
    in_: list[int] | None = strawberry.field(
        default=strawberry.UNSET,
        name="in",
        description="One of these; an empty list matches nothing.",
    )
    not_in: list[int] | None = strawberry.field(
        default=strawberry.UNSET, description="None of these; an empty list is no condition."
    )
    lt: int | None = strawberry.field(default=strawberry.UNSET, description="Less than.")
    lte: int | None = strawberry.field(
        default=strawberry.UNSET, description="Less than or equal to."
    )
    gt: int | None = strawberry.field(default=strawberry.UNSET, description="Greater than.")
    gte: int | None = strawberry.field(
        default=strawberry.UNSET, description="Greater than or equal to."
    )
    is_null: bool | None = strawberry.field(
        default=strawberry.UNSET, description="true: the field is null; false: it is not."
    )


@strawberry.input(description=f"Conditions on a time field, ANDed; bounds are exact instants. "
                  f"{_NULL} A null time matches no operator but isNull: true.")  # fmt: skip
class DateTimeFilter:
    eq: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="At exactly this instant."
    )
    neq: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="At any other instant."
    )
    lt: datetime | None = strawberry.field(default=strawberry.UNSET, description="Before.")
    lte: datetime | None = strawberry.field(default=strawberry.UNSET, description="At or before.")
    gt: datetime | None = strawberry.field(default=strawberry.UNSET, description="After.")
    gte: datetime | None = strawberry.field(default=strawberry.UNSET, description="At or after.")
    is_null: bool | None = strawberry.field(
        default=strawberry.UNSET, description="true: the time is null; false: it is not."
    )


@strawberry.input(description=f"Conditions on a job's status, ANDed. {_NULL}")
class JobStatusFilter:
    eq: Status | None = strawberry.field(default=strawberry.UNSET, description="This status.")
    neq: Status | None = strawberry.field(default=strawberry.UNSET, description="Any other status.")
    in_: list[Status] | None = strawberry.field(
        default=strawberry.UNSET,
        name="in",
        description="One of these; an empty list matches nothing.",
    )
    not_in: list[Status] | None = strawberry.field(
        default=strawberry.UNSET, description="None of these; an empty list is no condition."
    )


@strawberry.input(
    description=f"Conditions on a taxonomy level, ANDed, in the enum's order (INFO < SAFE < "
    f"SUSPICIOUS < MALICIOUS). {_NULL} A null verdict matches no operator but isNull: true."
)
class TaxonomyLevelFilter:
    eq: Level | None = strawberry.field(default=strawberry.UNSET, description="This level.")
    neq: Level | None = strawberry.field(default=strawberry.UNSET, description="Another level.")
    in_: list[Level] | None = strawberry.field(
        default=strawberry.UNSET,
        name="in",
        description="One of these; an empty list matches nothing.",
    )
    not_in: list[Level] | None = strawberry.field(
        default=strawberry.UNSET, description="None of these; an empty list is no condition."
    )
    lt: Level | None = strawberry.field(default=strawberry.UNSET, description="Below.")
    lte: Level | None = strawberry.field(default=strawberry.UNSET, description="At most.")
    gt: Level | None = strawberry.field(default=strawberry.UNSET, description="Above.")
    gte: Level | None = strawberry.field(default=strawberry.UNSET, description="At least.")
    is_null: bool | None = strawberry.field(
        default=strawberry.UNSET, description="true: no verdict (null); false: one."
    )


@strawberry.input(description=f"Conditions on a job's priority, ANDed. {_NULL}")
class JobPriorityFilter:
    eq: Priority | None = strawberry.field(default=strawberry.UNSET, description="This one.")
    neq: Priority | None = strawberry.field(default=strawberry.UNSET, description="Another.")
    in_: list[Priority] | None = strawberry.field(
        default=strawberry.UNSET,
        name="in",
        description="One of these; an empty list matches nothing.",
    )
    not_in: list[Priority] | None = strawberry.field(
        default=strawberry.UNSET, description="None of these; an empty list is no condition."
    )


@strawberry.input(description=f"Conditions on an id, ANDed. {_NULL}")
class IDFilter:
    eq: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="This id.")
    neq: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="Any other id."
    )
    in_: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET,
        name="in",
        description="One of these; an empty list matches nothing.",
    )
    not_in: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="None of these; an empty list is no condition."
    )


@strawberry.input(description=f"Conditions on a list of strings, ANDed. {_NULL}")
class StringListFilter:
    eq: str | None = strawberry.field(
        default=strawberry.UNSET, description="The list holds this value."
    )
    neq: str | None = strawberry.field(
        default=strawberry.UNSET, description="The list lacks this value."
    )
    in_: list[str] | None = strawberry.field(
        default=strawberry.UNSET,
        name="in",
        description="The list holds one of these (at least one).",
    )
    not_in: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="The list holds none of these."
    )


@strawberry.input(description=f"Conditions on a boolean field. {_NULL}")
class BooleanFilter:
    eq: bool | None = strawberry.field(default=strawberry.UNSET, description="Equal to.")
    neq: bool | None = strawberry.field(default=strawberry.UNSET, description="Not equal to.")


@strawberry.enum(description="A job time that a timeRange can look at.")
class JobTimeField(Enum):
    CREATED_AT = strawberry.enum_value("CREATED_AT", description="When the job was submitted.")
    START_DATE = strawberry.enum_value("START_DATE", description="When it started running.")
    END_DATE = strawberry.enum_value("END_DATE", description="When it finished.")
    UPDATED_AT = strawberry.enum_value("UPDATED_AT", description="When it last changed.")


@strawberry.enum(description="How many of a timeRange's fields must lie in the range.")
class TimeMatch(Enum):
    ANY = strawberry.enum_value("ANY", description="At least one of the fields.")
    ALL = strawberry.enum_value("ALL", description="Every field (a null time fails).")


_TIME_RANGE = (
    "Argus-style time search: jobs whose times lie in [from, to], bounds included. A null time "
    "is never in range, so with match: ALL a job with any of the fields null does not match. "
    "At least one bound is needed."
)


@strawberry.input(description=_TIME_RANGE)
class TimeRangeFilter:
    from_: str | None = strawberry.field(
        default=strawberry.UNSET,
        name="from",
        description='Lower bound: ISO-8601 (no offset means UTC) or relative: "now", '
        '"now - 1 week", "now-36h"; units s, m, h, d, w or their names.',
    )
    to: str | None = strawberry.field(
        default=strawberry.UNSET, description="Upper bound, written like `from`."
    )
    fields: list[JobTimeField] | None = strawberry.field(
        default_factory=lambda: [JobTimeField.CREATED_AT],
        description="The times to look at; null means [CREATED_AT].",
    )
    match: TimeMatch | None = strawberry.field(
        default=TimeMatch.ANY,
        description="ANY (default, also for null): one field in range is enough; ALL: all.",
    )


_TREE = "Several fields in one object are ANDed; an empty object is no condition."
_ONE = "All conditions hold for one and the same {0} (TQL: {1} has (…)); and/or/not combine them."


@strawberry.input(description="A condition on one taxonomy of a job's report. " + _ONE.format(
    "taxonomy", "taxonomy"))  # fmt: skip
class TaxonomyFilter:
    and_: list[TaxonomyFilter] | None = strawberry.field(
        default=strawberry.UNSET, name="and", description="All of these hold."
    )
    or_: list[TaxonomyFilter] | None = strawberry.field(
        default=strawberry.UNSET, name="or", description="At least one holds."
    )
    not_: TaxonomyFilter | None = strawberry.field(
        default=strawberry.UNSET, name="not", description="SQL's NOT."
    )
    level: TaxonomyLevelFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Its level."
    )
    namespace: StringFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Its namespace (e.g. VT)."
    )
    predicate: StringFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Its predicate (e.g. GetReport)."
    )
    value: StringFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Its value (e.g. 12/70)."
    )


@strawberry.input(description="A condition on one artifact of a job's report. " + _ONE.format(
    "artifact", "artifact"))  # fmt: skip
class ArtifactFilter:
    and_: list[ArtifactFilter] | None = strawberry.field(
        default=strawberry.UNSET, name="and", description="All of these hold."
    )
    or_: list[ArtifactFilter] | None = strawberry.field(
        default=strawberry.UNSET, name="or", description="At least one holds."
    )
    not_: ArtifactFilter | None = strawberry.field(
        default=strawberry.UNSET, name="not", description="SQL's NOT."
    )
    data_type: StringFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Its data type."
    )
    data: StringFilter | None = strawberry.field(
        default=strawberry.UNSET, description="The observable found (null for files)."
    )
    message: StringFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Its message."
    )
    tlp: IntFilter | None = strawberry.field(default=strawberry.UNSET, description="Its TLP.")
    tags: StringListFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Its tags (element match, exact)."
    )


@strawberry.input(description=f"A condition on jobs, the typed twin of TQL. {_TREE}")
class JobFilter:
    and_: list[JobFilter] | None = strawberry.field(
        default=strawberry.UNSET,
        name="and",
        description="All of these hold (an empty list: no condition).",
    )
    or_: list[JobFilter] | None = strawberry.field(
        default=strawberry.UNSET,
        name="or",
        description="At least one holds (an empty list: matches nothing).",
    )
    not_: JobFilter | None = strawberry.field(
        default=strawberry.UNSET, name="not",
        description="SQL's NOT: a job whose field is null matches neither a condition nor its NOT.",
    )  # fmt: skip
    id: IDFilter | None = strawberry.field(default=strawberry.UNSET, description="The job's id.")
    status: JobStatusFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Its status."
    )
    data_type: StringFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Data type."
    )
    data: StringFilter | None = strawberry.field(
        default=strawberry.UNSET, description="The observable (null for file jobs)."
    )
    message: StringFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Its message."
    )
    analyzer_id: StringFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Analyzer id."
    )
    analyzer_name: StringFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Analyzer name."
    )
    analyzer_definition_id: StringFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Analyzer definition id."
    )
    created_by: StringFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Submitter."
    )
    updated_by: StringFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Last updater (null when never updated)."
    )
    attachment_sha256: StringFilter | None = strawberry.field(
        default=strawberry.UNSET,
        description="SHA-256 of the attachment, any case (null for non-file jobs).",
    )
    attachment_sha1: StringFilter | None = strawberry.field(
        default=strawberry.UNSET, description="SHA-1 of the attachment, any case."
    )
    attachment_md5: StringFilter | None = strawberry.field(
        default=strawberry.UNSET, description="MD5 of the attachment, any case."
    )
    attachment_name: StringFilter | None = strawberry.field(
        default=strawberry.UNSET, description="File name of the attachment."
    )
    hash: StringFilter | None = strawberry.field(
        default=strawberry.UNSET,
        description="A digest, any case (eq or in): the attachment's sha256, sha1 or md5, or "
        "the data of a `hash` job.",
    )
    verdict: TaxonomyLevelFilter | None = strawberry.field(
        default=strawberry.UNSET,
        description="The report's highest taxonomy level (null without taxonomies).",
    )
    priority: JobPriorityFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Queue priority."
    )
    report_success: BooleanFilter | None = strawberry.field(
        default=strawberry.UNSET, description="The report's success flag (null: no report)."
    )
    taxonomy: TaxonomyFilter | None = strawberry.field(
        default=strawberry.UNSET, description="A job with one taxonomy matching all of this."
    )
    artifact: ArtifactFilter | None = strawberry.field(
        default=strawberry.UNSET, description="A job with one artifact matching all of this."
    )
    tlp: IntFilter | None = strawberry.field(default=strawberry.UNSET, description="TLP, 0..3.")
    pap: IntFilter | None = strawberry.field(default=strawberry.UNSET, description="PAP, 0..3.")
    created_at: DateTimeFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Submitted."
    )
    updated_at: DateTimeFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Changed."
    )
    start_date: DateTimeFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Started."
    )
    end_date: DateTimeFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Finished."
    )
    time_range: TimeRangeFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Argus-style search over several times at once."
    )


@strawberry.input(description=f"A condition on analyzers, the typed twin of TQL. {_TREE}")
class AnalyzerFilter:
    and_: list[AnalyzerFilter] | None = strawberry.field(
        default=strawberry.UNSET,
        name="and",
        description="All of these hold (an empty list: no condition).",
    )
    or_: list[AnalyzerFilter] | None = strawberry.field(
        default=strawberry.UNSET,
        name="or",
        description="At least one holds (an empty list: matches nothing).",
    )
    not_: AnalyzerFilter | None = strawberry.field(
        default=strawberry.UNSET,
        name="not",
        description="SQL's NOT (null fields match neither way).",
    )
    id: IDFilter | None = strawberry.field(
        default=strawberry.UNSET, description="The analyzer's id."
    )
    name: StringFilter | None = strawberry.field(default=strawberry.UNSET, description="Its name.")
    definition_id: StringFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Its definition id."
    )
    version: StringFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Its version."
    )
    data_type: StringListFilter | None = strawberry.field(
        default=strawberry.UNSET, description="The data types it accepts (element match, exact)."
    )
    max_tlp: IntFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Its highest TLP."
    )
    enabled: BooleanFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Enabled or not."
    )
    created_at: DateTimeFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Created."
    )
    job_cache_minutes: IntFilter | None = strawberry.field(
        default=strawberry.UNSET, description="Job cache duration (null when caching is off)."
    )


JobFilterArg = Annotated[
    JobFilter | None,
    strawberry.argument(description="Typed condition on the jobs; ANDed with `tql` if both."),
]
AnalyzerFilterArg = Annotated[
    AnalyzerFilter | None,
    strawberry.argument(description="Typed condition on the analyzers; ANDed with `tql`."),
]
TqlArg = Annotated[
    str | None,
    strawberry.argument(
        description='Condition as TQL text, e.g. status in ("SUCCESS","FAILURE") and '
        'createdAt > "now - 7 days". See tqlFields for the fields.'
    ),
]
AnalyzerTqlArg = Annotated[
    str | None,
    strawberry.argument(
        description='Condition on the analyzers as TQL text, e.g. dataType = "ip" and '
        "enabled = true. See tqlFields(entity: ANALYZER) for the fields."
    ),
]
IncludeDeleted = Annotated[
    bool, strawberry.argument(description="Also list DELETED jobs (default false).")
]
