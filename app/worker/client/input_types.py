from datetime import datetime
from typing import Any, Optional

from pydantic import Field

from .base_model import BaseModel
from .enums import (
    JobOrderField,
    JobPriority,
    JobStatus,
    JobTimeField,
    OrderDirection,
    RateUnit,
    TaxonomyLevel,
    TimeMatch,
)


class AnalyzerFilter(BaseModel):
    """A condition on analyzers, the typed twin of TQL. Several fields in one object are ANDed; an empty object is no condition."""

    and_: Optional[list["AnalyzerFilter"]] = Field(alias="and", default=None)
    "All of these hold (an empty list: no condition)."
    or_: Optional[list["AnalyzerFilter"]] = Field(alias="or", default=None)
    "At least one holds (an empty list: matches nothing)."
    not_: Optional["AnalyzerFilter"] = Field(alias="not", default=None)
    "SQL's NOT (null fields match neither way)."
    id: Optional["IDFilter"] = None
    "The analyzer's id."
    name: Optional["StringFilter"] = None
    "Its name."
    definition_id: Optional["StringFilter"] = Field(alias="definitionId", default=None)
    "Its definition id."
    version: Optional["StringFilter"] = None
    "Its version."
    data_type: Optional["StringListFilter"] = Field(alias="dataType", default=None)
    "The data types it accepts (element match, exact)."
    max_tlp: Optional["IntFilter"] = Field(alias="maxTlp", default=None)
    "Its highest TLP."
    enabled: Optional["BooleanFilter"] = None
    "Enabled or not."
    created_at: Optional["DateTimeFilter"] = Field(alias="createdAt", default=None)
    "Created."
    job_cache_minutes: Optional["IntFilter"] = Field(
        alias="jobCacheMinutes", default=None
    )
    "Job cache duration (null when caching is off)."


class AnalyzerSettingsInput(BaseModel):
    """Analyzer settings to change; a field left out stays as it is."""

    enabled: Optional[bool] = None
    "Whether it accepts new jobs."
    job_cache_minutes: Optional[int] = Field(alias="jobCacheMinutes", default=None)
    "The job cache window (0 turns the cache off; null: the default, 10)."
    rate: Optional[int] = None
    "At most this many starts per rateUnit; null: none."
    rate_unit: Optional[RateUnit] = Field(alias="rateUnit", default=None)
    "The rate's unit; given with rate."
    max_concurrent: Optional[int] = Field(alias="maxConcurrent", default=None)
    "At most this many claimed at once; null: no limit."
    max_attempts: Optional[int] = Field(alias="maxAttempts", default=None)
    "Attempts per job, 1 to 10."
    timeout_seconds: Optional[int] = Field(alias="timeoutSeconds", default=None)
    "Run time per attempt, 1 to 86400 seconds."


class ArtifactFilter(BaseModel):
    """A condition on one artifact of a job's report. All conditions hold for one and the same artifact (TQL: artifact has (…)); and/or/not combine them."""

    and_: Optional[list["ArtifactFilter"]] = Field(alias="and", default=None)
    "All of these hold."
    or_: Optional[list["ArtifactFilter"]] = Field(alias="or", default=None)
    "At least one holds."
    not_: Optional["ArtifactFilter"] = Field(alias="not", default=None)
    "SQL's NOT."
    data_type: Optional["StringFilter"] = Field(alias="dataType", default=None)
    "Its data type."
    data: Optional["StringFilter"] = None
    "The observable found (null for files)."
    message: Optional["StringFilter"] = None
    "Its message."
    tlp: Optional["IntFilter"] = None
    "Its TLP."
    tags: Optional["StringListFilter"] = None
    "Its tags (element match, exact)."


class ArtifactInput(BaseModel):
    """An observable or file the analyzer found."""

    data_type: str = Field(alias="dataType")
    "Its kind."
    data: Optional[str] = None
    "Its value, or null for a file."
    attachment_id: Optional[str] = Field(alias="attachmentId", default=None)
    "A file uploaded with POST /attachments."
    tlp: int = 2
    "Its TLP, 0 to 3."
    message: Optional[str] = None
    "A note."
    tags: list[str] = Field(default_factory=lambda: [])
    "Labels."


class BooleanFilter(BaseModel):
    """Conditions on a boolean field. Explicit null means the same as leaving the operator out."""

    eq: Optional[bool] = None
    "Equal to."
    neq: Optional[bool] = None
    "Not equal to."


class ClaimJobsInput(BaseModel):
    """Which jobs to claim, how many, and for how long."""

    worker_id: str = Field(alias="workerId")
    "This worker process's stable name (shown in `workers` and on jobs)."
    analyzer_ids: list[str] = Field(alias="analyzerIds")
    "The analyzers this worker runs."
    max: int = 1
    "At most this many jobs (1 to 100)."
    wait_seconds: int = Field(alias="waitSeconds", default=0)
    "Long-poll up to this long (0 to 8) while no job is available."
    lease_seconds: int = Field(alias="leaseSeconds", default=60)
    "The lease's length (1 to 3600): heartbeat well within it."


class DateTimeFilter(BaseModel):
    """Conditions on a time field, ANDed; bounds are exact instants. Explicit null means the same as leaving the operator out. A null time matches no operator but isNull: true."""

    eq: Optional[datetime] = None
    "At exactly this instant."
    neq: Optional[datetime] = None
    "At any other instant."
    lt: Optional[datetime] = None
    "Before."
    lte: Optional[datetime] = None
    "At or before."
    gt: Optional[datetime] = None
    "After."
    gte: Optional[datetime] = None
    "At or after."
    is_null: Optional[bool] = Field(alias="isNull", default=None)
    "true: the time is null; false: it is not."


class IDFilter(BaseModel):
    """Conditions on an id, ANDed. Explicit null means the same as leaving the operator out."""

    eq: Optional[str] = None
    "This id."
    neq: Optional[str] = None
    "Any other id."
    in_: Optional[list[str]] = Field(alias="in", default=None)
    "One of these; an empty list matches nothing."
    not_in: Optional[list[str]] = Field(alias="notIn", default=None)
    "None of these; an empty list is no condition."


class IntFilter(BaseModel):
    """Conditions on an integer field, ANDed. Explicit null means the same as leaving the operator out."""

    eq: Optional[int] = None
    "Equal to."
    neq: Optional[int] = None
    "Not equal to."
    in_: Optional[list[int]] = Field(alias="in", default=None)
    "One of these; an empty list matches nothing."
    not_in: Optional[list[int]] = Field(alias="notIn", default=None)
    "None of these; an empty list is no condition."
    lt: Optional[int] = None
    "Less than."
    lte: Optional[int] = None
    "Less than or equal to."
    gt: Optional[int] = None
    "Greater than."
    gte: Optional[int] = None
    "Greater than or equal to."
    is_null: Optional[bool] = Field(alias="isNull", default=None)
    "true: the field is null; false: it is not."


class JobFilter(BaseModel):
    """A condition on jobs, the typed twin of TQL. Several fields in one object are ANDed; an empty object is no condition."""

    and_: Optional[list["JobFilter"]] = Field(alias="and", default=None)
    "All of these hold (an empty list: no condition)."
    or_: Optional[list["JobFilter"]] = Field(alias="or", default=None)
    "At least one holds (an empty list: matches nothing)."
    not_: Optional["JobFilter"] = Field(alias="not", default=None)
    "SQL's NOT: a job whose field is null matches neither a condition nor its NOT."
    id: Optional["IDFilter"] = None
    "The job's id."
    status: Optional["JobStatusFilter"] = None
    "Its status."
    data_type: Optional["StringFilter"] = Field(alias="dataType", default=None)
    "Data type."
    data: Optional["StringFilter"] = None
    "The observable (null for file jobs)."
    message: Optional["StringFilter"] = None
    "Its message."
    analyzer_id: Optional["StringFilter"] = Field(alias="analyzerId", default=None)
    "Analyzer id."
    analyzer_name: Optional["StringFilter"] = Field(alias="analyzerName", default=None)
    "Analyzer name."
    analyzer_definition_id: Optional["StringFilter"] = Field(
        alias="analyzerDefinitionId", default=None
    )
    "Analyzer definition id."
    created_by: Optional["StringFilter"] = Field(alias="createdBy", default=None)
    "Submitter."
    updated_by: Optional["StringFilter"] = Field(alias="updatedBy", default=None)
    "Last updater (null when never updated)."
    attachment_sha_256: Optional["StringFilter"] = Field(
        alias="attachmentSha256", default=None
    )
    "SHA-256 of the attachment, any case (null for non-file jobs)."
    attachment_sha_1: Optional["StringFilter"] = Field(
        alias="attachmentSha1", default=None
    )
    "SHA-1 of the attachment, any case."
    attachment_md_5: Optional["StringFilter"] = Field(
        alias="attachmentMd5", default=None
    )
    "MD5 of the attachment, any case."
    attachment_name: Optional["StringFilter"] = Field(
        alias="attachmentName", default=None
    )
    "File name of the attachment."
    hash: Optional["StringFilter"] = None
    "A digest, any case (eq or in): the attachment's sha256, sha1 or md5, or the data of a `hash` job."
    verdict: Optional["TaxonomyLevelFilter"] = None
    "The report's highest taxonomy level (null without taxonomies)."
    priority: Optional["JobPriorityFilter"] = None
    "Queue priority."
    report_success: Optional["BooleanFilter"] = Field(
        alias="reportSuccess", default=None
    )
    "The report's success flag (null: no report)."
    taxonomy: Optional["TaxonomyFilter"] = None
    "A job with one taxonomy matching all of this."
    artifact: Optional["ArtifactFilter"] = None
    "A job with one artifact matching all of this."
    tlp: Optional["IntFilter"] = None
    "TLP, 0..3."
    pap: Optional["IntFilter"] = None
    "PAP, 0..3."
    created_at: Optional["DateTimeFilter"] = Field(alias="createdAt", default=None)
    "Submitted."
    updated_at: Optional["DateTimeFilter"] = Field(alias="updatedAt", default=None)
    "Changed."
    start_date: Optional["DateTimeFilter"] = Field(alias="startDate", default=None)
    "Started."
    end_date: Optional["DateTimeFilter"] = Field(alias="endDate", default=None)
    "Finished."
    time_range: Optional["TimeRangeFilter"] = Field(alias="timeRange", default=None)
    "Argus-style search over several times at once."


class JobOrder(BaseModel):
    """One sort key. Several keys sort by the first, then the next…; the job id always breaks ties."""

    field: JobOrderField
    "What to sort by."
    direction: OrderDirection = OrderDirection.ASC
    "ASC (default) or DESC."


class JobPriorityFilter(BaseModel):
    """Conditions on a job's priority, ANDed. Explicit null means the same as leaving the operator out."""

    eq: Optional[JobPriority] = None
    "This one."
    neq: Optional[JobPriority] = None
    "Another."
    in_: Optional[list[JobPriority]] = Field(alias="in", default=None)
    "One of these; an empty list matches nothing."
    not_in: Optional[list[JobPriority]] = Field(alias="notIn", default=None)
    "None of these; an empty list is no condition."


class JobStatusFilter(BaseModel):
    """Conditions on a job's status, ANDed. Explicit null means the same as leaving the operator out."""

    eq: Optional[JobStatus] = None
    "This status."
    neq: Optional[JobStatus] = None
    "Any other status."
    in_: Optional[list[JobStatus]] = Field(alias="in", default=None)
    "One of these; an empty list matches nothing."
    not_in: Optional[list[JobStatus]] = Field(alias="notIn", default=None)
    "None of these; an empty list is no condition."


class LeaseRef(BaseModel):
    """A lease, as a worker presents it with every write."""

    job_id: str = Field(alias="jobId")
    "The job."
    lease_token: str = Field(alias="leaseToken")
    "The token its claim returned."


class ReportInput(BaseModel):
    """What a worker hands in when its analyzer succeeded."""

    taxonomies: list["TaxonomyInput"]
    "The summary's findings."
    full: Optional[Any] = None
    "The full report, any JSON."
    artifacts: list["ArtifactInput"] = Field(default_factory=lambda: [])
    "Observables and files found."


class StringFilter(BaseModel):
    """Conditions on a text field, ANDed. Explicit null means the same as leaving the operator out. Equality is exact and case-sensitive; contains/startsWith/endsWith ignore the case of ASCII letters (other letters compare exactly) and match % _ \\ literally. A null field matches no operator but isNull: true (SQL's three-valued logic)."""

    eq: Optional[str] = None
    "Equal to."
    neq: Optional[str] = None
    "Not equal to (null fields never match)."
    in_: Optional[list[str]] = Field(alias="in", default=None)
    "Equal to one of these; an empty list matches nothing."
    not_in: Optional[list[str]] = Field(alias="notIn", default=None)
    "Equal to none of these; an empty list is no condition."
    contains: Optional[str] = None
    "Contains this text."
    starts_with: Optional[str] = Field(alias="startsWith", default=None)
    "Starts with this text."
    ends_with: Optional[str] = Field(alias="endsWith", default=None)
    "Ends with this text."
    is_null: Optional[bool] = Field(alias="isNull", default=None)
    "true: the field is null; false: it is not."


class StringListFilter(BaseModel):
    """Conditions on a list of strings, ANDed. Explicit null means the same as leaving the operator out."""

    eq: Optional[str] = None
    "The list holds this value."
    neq: Optional[str] = None
    "The list lacks this value."
    in_: Optional[list[str]] = Field(alias="in", default=None)
    "The list holds one of these (at least one)."
    not_in: Optional[list[str]] = Field(alias="notIn", default=None)
    "The list holds none of these."


class SubmitJobInput(BaseModel):
    """An observable (or a file) to run an analyzer on."""

    analyzer_id: str = Field(alias="analyzerId")
    "The analyzer to run."
    data_type: str = Field(alias="dataType")
    'Kind of observable: "ip", "domain", "file"…'
    data: Optional[str] = None
    "The observable's value; exactly one of data and attachmentId."
    attachment_id: Optional[str] = Field(alias="attachmentId", default=None)
    'A file from POST /attachments, for dataType "file".'
    tlp: int = 2
    "Traffic Light Protocol level, 0 to 3."
    pap: int = 2
    "Permissible Actions Protocol, 0 to 3."
    message: str = ""
    "Free text kept with the job."
    parameters: Any = Field(
        default_factory=lambda: globals()["JSON"].model_validate({})
    )
    "Analyzer parameters, a JSON object."
    priority: JobPriority = JobPriority.NORMAL
    "How soon it is claimed."
    force: bool = False
    "Skip the job cache and in-flight de-duplication: always a new job."
    idempotency_key: Optional[str] = Field(alias="idempotencyKey", default=None)
    "1 to 255 visible ASCII characters: the same key with the same input answers the first result again for 24 hours (the Idempotency-Key header means the same)."


class TaxonomyFilter(BaseModel):
    """A condition on one taxonomy of a job's report. All conditions hold for one and the same taxonomy (TQL: taxonomy has (…)); and/or/not combine them."""

    and_: Optional[list["TaxonomyFilter"]] = Field(alias="and", default=None)
    "All of these hold."
    or_: Optional[list["TaxonomyFilter"]] = Field(alias="or", default=None)
    "At least one holds."
    not_: Optional["TaxonomyFilter"] = Field(alias="not", default=None)
    "SQL's NOT."
    level: Optional["TaxonomyLevelFilter"] = None
    "Its level."
    namespace: Optional["StringFilter"] = None
    "Its namespace (e.g. VT)."
    predicate: Optional["StringFilter"] = None
    "Its predicate (e.g. GetReport)."
    value: Optional["StringFilter"] = None
    "Its value (e.g. 12/70)."


class TaxonomyInput(BaseModel):
    """One finding of a report."""

    level: TaxonomyLevel
    "How worrying it is."
    namespace: str
    'Source, e.g. "VT".'
    predicate: str
    'What was measured, e.g. "GetReport".'
    value: str
    'The result, e.g. "9/70".'


class TaxonomyLevelFilter(BaseModel):
    """Conditions on a taxonomy level, ANDed, in the enum's order (INFO < SAFE < SUSPICIOUS < MALICIOUS). Explicit null means the same as leaving the operator out. A null verdict matches no operator but isNull: true."""

    eq: Optional[TaxonomyLevel] = None
    "This level."
    neq: Optional[TaxonomyLevel] = None
    "Another level."
    in_: Optional[list[TaxonomyLevel]] = Field(alias="in", default=None)
    "One of these; an empty list matches nothing."
    not_in: Optional[list[TaxonomyLevel]] = Field(alias="notIn", default=None)
    "None of these; an empty list is no condition."
    lt: Optional[TaxonomyLevel] = None
    "Below."
    lte: Optional[TaxonomyLevel] = None
    "At most."
    gt: Optional[TaxonomyLevel] = None
    "Above."
    gte: Optional[TaxonomyLevel] = None
    "At least."
    is_null: Optional[bool] = Field(alias="isNull", default=None)
    "true: no verdict (null); false: one."


class TimeRangeFilter(BaseModel):
    """Argus-style time search: jobs whose times lie in [from, to], bounds included. A null time is never in range, so with match: ALL a job with any of the fields null does not match. At least one bound is needed."""

    from_: Optional[str] = Field(alias="from", default=None)
    'Lower bound: ISO-8601 (no offset means UTC) or relative: "now", "now - 1 week", "now-36h"; units s, m, h, d, w or their names.'
    to: Optional[str] = None
    "Upper bound, written like `from`."
    fields: Optional[list[JobTimeField]] = Field(
        default_factory=lambda: [JobTimeField.CREATED_AT]
    )
    "The times to look at; null means [CREATED_AT]."
    match: Optional[TimeMatch] = TimeMatch.ANY
    "ANY (default, also for null): one field in range is enough; ALL: all."


AnalyzerFilter.model_rebuild()
ArtifactFilter.model_rebuild()
JobFilter.model_rebuild()
ReportInput.model_rebuild()
TaxonomyFilter.model_rebuild()
