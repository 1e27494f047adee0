"""Reading jobs and analyzers through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.support import Env, operation


async def test_me_is_the_caller(env: Env) -> None:
    data = await env.data("{ me { login name organization roles } }", key="demo.admin")
    assert data["me"] == {
        "login": "admin@demo",
        "name": "Ada Admin",
        "organization": "demo",
        "roles": ["ANALYZE", "ORGADMIN", "READ"],
    }


async def test_jobs_are_newest_first_with_their_relations(env: Env) -> None:
    data = await env.data(operation("job_page"), {"first": 50})
    edges = data["jobs"]["edges"]
    assert len(edges) == 50
    created = [e["node"]["createdAt"] for e in edges]
    assert created == sorted(created, reverse=True)
    assert all(e["node"]["organization"] == "demo" for e in edges)
    assert all(e["node"]["status"] != "DELETED" for e in edges)
    for edge in edges:
        node = edge["node"]
        assert node["analyzer"]["name"]
        assert [ev["status"] for ev in node["events"]][0] == "WAITING"
        assert node["events"][-1]["status"] == node["status"]
        assert (node["report"] is not None) == (node["status"] in ("SUCCESS", "FAILURE", "TIMEOUT"))
        assert (node["attachment"] is not None) == (node["dataType"] == "file")
        assert (node["data"] is None) == (node["dataType"] == "file")


async def test_job_detail_has_every_field(env: Env) -> None:
    page = await env.data(
        "{ jobs(first: 100) { nodes { id status report { artifacts { tags } } } } }"
    )
    job_id = next(
        n["id"]
        for n in page["jobs"]["nodes"]
        if n["status"] == "SUCCESS" and n["report"]["artifacts"]
    )
    job = (await env.data(operation("job_detail"), {"id": job_id}))["job"]
    assert job["id"] == job_id and job["status"] == "SUCCESS"
    assert job["report"]["success"] is True and job["report"]["errorMessage"] is None
    assert isinstance(job["report"]["full"], dict)
    assert job["report"]["artifacts"]
    assert job["createdAt"].endswith("+00:00")
    assert job["startDate"] <= job["endDate"]
    assert job["updatedBy"] == "cortex-worker"


async def test_failed_job_reports_its_error(env: Env) -> None:
    data = await env.data(
        "{ jobs(first: 100) { nodes { status report { success errorMessage } } } }"
    )
    failed = [n for n in data["jobs"]["nodes"] if n["status"] == "FAILURE"]
    assert failed
    assert all(n["report"]["success"] is False and n["report"]["errorMessage"] for n in failed)


async def test_unknown_job_is_null(env: Env) -> None:
    assert (await env.data('{ job(id: "nope") { id } }'))["job"] is None


async def test_analyzers_with_last_job_and_nested_jobs(env: Env) -> None:
    data = await env.data(operation("analyzers"), {"first": 20, "jobs": 3})
    analyzers = data["analyzers"]["nodes"]
    assert data["analyzers"]["totalCount"] == len(analyzers) == 10  # 8 + the 2 built-ins
    assert [a["name"] for a in analyzers] == sorted(a["name"] for a in analyzers)
    for analyzer in analyzers:
        jobs = analyzer["jobs"]["nodes"]
        assert all(j["analyzerId"] == analyzer["id"] for j in jobs)
        assert [j["createdAt"] for j in jobs] == sorted(
            (j["createdAt"] for j in jobs), reverse=True
        )
        if jobs:
            assert analyzer["lastJob"]["id"] == jobs[0]["id"]
        assert analyzer["jobs"]["pageInfo"]["hasNextPage"] == (analyzer["jobs"]["totalCount"] > 3)


async def test_analyzer_by_id(env: Env) -> None:
    first = (await env.data("{ analyzers(first: 1) { nodes { id name } } }"))["analyzers"]["nodes"][
        0
    ]
    found = await env.data("query($id: ID!) { analyzer(id: $id) { id name } }", {"id": first["id"]})
    assert found["analyzer"] == first


async def test_report_full_is_read_only_when_selected(env: Env) -> None:
    query = "{ jobs(first: 100) { nodes { report { success %s } } } }"
    with env.statements() as without_full:
        await env.data(query % "")
    with env.statements() as with_full:
        await env.data(query % "full")
    assert not any('"full"' in s or "report.full" in s for s in without_full)
    assert any('"full"' in s or "report.full" in s for s in with_full)
