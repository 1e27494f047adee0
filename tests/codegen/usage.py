"""A small typed program on the generated Python client: mypy checks it, the live test runs it."""

from __future__ import annotations

from collections.abc import AsyncIterator

from jobql_client import (
    GetJobJob,
    GraphQLClientGraphQLMultiError,
    GraphQLClientHttpError,
    JobFilter,
    JobqlClient,
    JobStatus,
    JobStatusFilter,
    JobSummary,
    MeMe,
    StringFilter,
    TaxonomyLevel,
)

FINISHED = [JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.TIMEOUT, JobStatus.CANCELLED]


def connect(url: str, api_key: str) -> JobqlClient:
    return JobqlClient(url=url, headers={"Authorization": f"Bearer {api_key}"})


async def whoami(client: JobqlClient) -> MeMe:
    return (await client.me()).me


async def finished_jobs(client: JobqlClient, *, data_type: str, first: int = 5) -> list[JobSummary]:
    """The latest finished jobs on one data type, through the typed filter input."""
    where = JobFilter(
        status=JobStatusFilter(in_=FINISHED),
        data_type=StringFilter(eq=data_type),
    )
    page = await client.list_jobs(filter_=where, first=first)
    return [edge.node for edge in page.jobs.edges]


async def job_ids(client: JobqlClient, tql: str, *, page_size: int = 50) -> AsyncIterator[str]:
    """Every job matching a TQL filter, one page after another."""
    after: str | None = None
    while True:
        page = await client.list_jobs(tql=tql, first=page_size, after=after)
        for edge in page.jobs.edges:
            yield edge.node.id
        if not page.jobs.page_info.has_next_page:
            return
        after = page.jobs.page_info.end_cursor


async def job_with_report(client: JobqlClient, job_id: str) -> GetJobJob | None:
    return (await client.get_job(id=job_id)).job


async def tql_error(client: JobqlClient, tql: str) -> dict[str, object] | None:
    """The extensions of the error a TQL text gets (code, offset, line, column), if any."""
    try:
        await client.list_jobs(tql=tql, first=1)
    except GraphQLClientGraphQLMultiError as failure:
        return failure.errors[0].extensions or {}
    return None


async def is_authorized(client: JobqlClient) -> bool:
    """False when the server refuses the key (HTTP 401)."""
    try:
        await client.me()
    except GraphQLClientHttpError as failure:
        if failure.status_code == 401:
            return False
        raise
    return True


def malicious_verdicts(job: GetJobJob) -> list[str]:
    """`report` is nullable in the schema, so mypy insists on the check."""
    if job.report is None:
        return []
    taxonomies = job.report.summary.taxonomies
    return [
        f"{t.namespace}:{t.predicate}={t.value}"
        for t in taxonomies
        if t.level is TaxonomyLevel.MALICIOUS
    ]


def rejected(job: GetJobJob) -> None:
    """Each line must fail type checking: strict mypy flags an ignore that is no longer needed."""
    print(job.report.success)  # type: ignore[union-attr]
    size: str = job.attachment.size if job.attachment else ""  # type: ignore[assignment]
    print(size, job.analyzer.version)  # type: ignore[union-attr]
