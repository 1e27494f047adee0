"""One claimed job: fetch its input, honour `sleepSeconds`, run the built-in, shape the report."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any

import httpx

from app.worker.analyzers import AnalyzerInputError, BuiltIn, Observable, Report
from app.worker.client import ArtifactInput, ClaimJobsClaimJobsLeasesJob, ReportInput, TaxonomyInput
from app.worker.client.enums import TaxonomyLevel

# The built-ins take one parameter of their own: `sleepSeconds` delays the analysis, so that
# tests and demos can watch a job IN_PROGRESS, cancel it, or stop the worker under it.
SLEEP_PARAMETER = "sleepSeconds"
MAX_SLEEP_SECONDS = 3600.0
DOWNLOAD_CHUNK = 1 << 16


class RetryableFailure(Exception):
    """Not the observable's fault (the download failed): another attempt may succeed."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """A report to complete the job with, or an error message to fail it with."""

    report: ReportInput | None = None
    error: str | None = None
    retryable: bool = False


def sleep_seconds(parameters: Any) -> float:
    """`parameters.sleepSeconds` as a number of seconds (0 when absent); bad values are refused."""
    value = parameters.get(SLEEP_PARAMETER, 0) if isinstance(parameters, dict) else 0
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AnalyzerInputError(f"parameter {SLEEP_PARAMETER} must be a number of seconds")
    if not 0 <= value <= MAX_SLEEP_SECONDS:
        raise AnalyzerInputError(f"parameter {SLEEP_PARAMETER} must be 0 to {MAX_SLEEP_SECONDS:g}")
    return float(value)


async def execute(
    job: ClaimJobsClaimJobsLeasesJob, analyzer: BuiltIn, http: httpx.AsyncClient, max_bytes: int
) -> Outcome:
    """Runs the job to an outcome; cancelling the task stops it at the next await."""
    try:
        pause = sleep_seconds(job.parameters)
        observable = await _observable(job, http, max_bytes)
        if pause:
            await asyncio.sleep(pause)
        # The analyzers are pure but may hash large files: off the event loop, so heartbeats
        # keep their rhythm meanwhile.
        report = await asyncio.to_thread(analyzer.run, observable)
    except AnalyzerInputError as error:
        return Outcome(error=str(error))
    except RetryableFailure as error:
        return Outcome(error=str(error), retryable=True)
    return Outcome(report=report_input(report, tlp=job.tlp))


async def _observable(
    job: ClaimJobsClaimJobsLeasesJob, http: httpx.AsyncClient, max_bytes: int
) -> Observable:
    if job.attachment is None:
        return Observable(job.data_type, job.data)
    content = await download(http, job.attachment.download_url, max_bytes)
    return Observable(job.data_type, content=content, filename=job.attachment.name)


async def download(http: httpx.AsyncClient, url: str, max_bytes: int) -> bytes:
    """The attachment's bytes through its signed link (no API key is sent with it)."""
    chunks, size = [], 0
    try:
        async with http.stream("GET", url) as response:
            if response.status_code != 200:
                raise RetryableFailure(f"downloading the attachment: HTTP {response.status_code}")
            async for chunk in response.aiter_bytes(DOWNLOAD_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise AnalyzerInputError(f"the file is larger than {max_bytes} bytes")
                chunks.append(chunk)
    except httpx.HTTPError as error:
        raise RetryableFailure(f"downloading the attachment: {error!r}") from None
    return b"".join(chunks)


def report_input(report: Report, *, tlp: int) -> ReportInput:
    """The analyzer's report as the API's ReportInput; artifacts keep the job's TLP."""
    return ReportInput(
        taxonomies=[
            TaxonomyInput(
                level=TaxonomyLevel(t.level.value),
                namespace=t.namespace,
                predicate=t.predicate,
                value=t.value,
            )
            for t in report.taxonomies
        ],
        full=report.full,
        artifacts=[
            ArtifactInput(
                data_type=a.data_type, data=a.data, tlp=tlp, message=a.message, tags=list(a.tags)
            )
            for a in report.artifacts
        ],
    )
