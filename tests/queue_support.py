"""Helpers for the queue tests: worker keys, analyzers of their own, and the worker's calls."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.auth import Role
from app.db.ids import new_id
from app.db.models import analyzers
from app.services.users import create_api_key
from tests.mutation_support import database
from tests.support import Env

SUBMIT = """
mutation($input: SubmitJobInput!) {
  submitJob(input: $input) {
    fromCache deduplicated replayed cacheAgeSeconds
    job { id status priority attempt maxAttempts createdBy queue { state reason workerId } }
  }
}
"""
CLAIM = """
mutation($input: ClaimJobsInput!) {
  claimJobs(input: $input) {
    retryAfterSeconds
    leases { leaseToken attempt leaseExpiresAt deadline job { id status attempt data } }
  }
}
"""
HEARTBEAT = """
mutation($leases: [LeaseRef!]!) { heartbeat(leases: $leases) { jobId state leaseExpiresAt } }
"""
COMPLETE = """
mutation($lease: LeaseRef!, $report: ReportInput!) {
  completeJob(lease: $lease, report: $report) {
    id status attempt report { success summary { taxonomies { level value } } artifacts { data } }
  }
}
"""
FAIL = """
mutation($lease: LeaseRef!, $error: String!, $retryable: Boolean) {
  failJob(lease: $lease, errorMessage: $error, retryable: $retryable) {
    id status attempt queue { state reason } report { errorMessage }
  }
}
"""
RELEASE = "mutation($lease: LeaseRef!) { releaseJob(lease: $lease) { id status attempt } }"
UPDATE_ANALYZER = """
mutation($id: ID!, $settings: AnalyzerSettingsInput!) {
  updateAnalyzer(id: $id, settings: $settings) {
    id rate rateUnit maxConcurrent maxAttempts timeoutSeconds jobCacheMinutes enabled queueDepth
  }
}
"""
JOB = """
query($id: ID!) {
  job(id: $id) {
    id status attempt queue { state reason workerId cancelRequested }
    events { status previousStatus actor message }
  }
}
"""
REPORT = {
    "taxonomies": [{"level": "SAFE", "namespace": "Test", "predicate": "Ran", "value": "ok"}],
    "full": {"ok": True},
    "artifacts": [{"dataType": "domain", "data": "example.org"}],
}


async def worker_key(env: Env, organization: str = "demo", login: str = "") -> str:
    """A new WORKER key (the demo set's users hold the human roles)."""
    login = login or f"runner-{new_id()[:8]}@{organization}"
    return await create_api_key(
        database(env), organization=organization, login=login, roles=[Role.WORKER]
    )


async def new_analyzer(env: Env, organization: str = "demo", **settings: Any) -> str:
    """An analyzer of the test's own, so no demo job is in its queue."""
    analyzer_id = new_id()
    async with database(env).write() as conn:
        await conn.execute(
            analyzers.insert().values(
                id=analyzer_id,
                organization_id=organization,
                name=f"Test_{analyzer_id[:6]}_1_0",
                definition_id="Test_1_0",
                version="1.0",
                data_types=["ip", "domain", "file"],
                created_at=datetime.now(UTC),
                **{"max_tlp": 2, "enabled": True, **settings},
            )
        )
    return analyzer_id


def job_input(analyzer_id: str, data: str = "198.51.100.7", **more: Any) -> dict[str, Any]:
    return {"analyzerId": analyzer_id, "dataType": "ip", "data": data, **more}


async def submit(env: Env, analyzer_id: str, data: str = "198.51.100.7", **more: Any) -> Any:
    body = await env.data(
        SUBMIT, {"input": job_input(analyzer_id, data, **more)}, key="demo.analyze"
    )
    return body["submitJob"]


async def claim(env: Env, key: str, analyzer_id: str, **more: Any) -> Any:
    claim_input = {"workerId": "w1", "analyzerIds": [analyzer_id], **more}
    data = await env.data(CLAIM, {"input": claim_input}, key=key)
    return data["claimJobs"]


def lease_of(lease: dict[str, Any]) -> dict[str, str]:
    return {"jobId": lease["job"]["id"], "leaseToken": lease["leaseToken"]}


def codes(body: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (e["extensions"]["code"], e["extensions"].get("reason") or e["extensions"].get("argument"))
        for e in body.get("errors", [])
    ]
