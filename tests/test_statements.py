"""The number of SQL statements of a request depends on its shape, never on its page size."""

from __future__ import annotations

import pytest

from tests.support import Env, operation


@pytest.mark.parametrize("size", [5, 100])
@pytest.mark.parametrize("compiled", [True, False])
async def test_job_page_with_every_relation_costs_a_fixed_number_of_statements(
    env: Env, size: int, compiled: bool
) -> None:
    if not compiled:
        env.app.state.graphql.compiled = None
    with env.statements() as seen:
        data = await env.data(operation("job_page"), {"first": size})
    assert len(data["jobs"]["edges"]) == size
    if compiled:  # auth, page joined with analyzers, attachments and reports, events, totalCount
        assert len(seen) == 4, seen
    else:  # auth, page, analyzers, attachments, reports, events, totalCount
        assert len(seen) == 7, seen


async def test_nested_analyzer_jobs_are_batched(env: Env) -> None:
    counts = []
    for jobs in (1, 20):
        with env.statements() as seen:
            await env.data(operation("analyzers"), {"first": 20, "jobs": jobs})
        counts.append(len(seen))
    # auth, analyzers, their count, lastJob, nested pages, nested counts
    assert counts == [6, 6]


async def test_job_detail_statements(env: Env) -> None:
    page = await env.data("{ jobs(first: 1) { nodes { id } } }")
    job_id = page["jobs"]["nodes"][0]["id"]
    with env.statements() as seen:
        await env.data(operation("job_detail"), {"id": job_id})
    # auth, job, analyzer, attachment, report, report.full, artifacts, events, lastJob,
    # artifact attachments (only when an artifact has one)
    assert len(seen) <= 10, seen
