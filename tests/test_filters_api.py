"""Filters through HTTP: both spellings, scoping, NULL and case rules, and every error class."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.graphql.filter_tree import build_predicate
from app.graphql.filters import IntFilter, JobFilter, JobStatusFilter, StringFilter
from app.services.jobs import JobStatus
from app.tql import JOB_FIELDS, And, TqlLimits, parse_tql
from tests.support import KEYS, Env

JOBS = """
query ($filter: JobFilter, $tql: String, $deleted: Boolean! = false) {
  jobs(filter: $filter, tql: $tql, includeDeleted: $deleted, first: 100) {
    totalCount
    nodes { id organization status dataType data tlp analyzerName endDate attachment { sha256 } }
  }
}"""
ANALYZERS = """
query ($filter: AnalyzerFilter, $tql: String) {
  analyzers(filter: $filter, tql: $tql, first: 100) { nodes { name dataTypes enabled } }
}"""


async def jobs(env: Env, key: str = "demo.read", **variables: Any) -> dict[str, Any]:
    data = await env.data(JOBS, variables, key=key)
    return data["jobs"]  # type: ignore[no-any-return]


async def total(env: Env, **variables: Any) -> int:
    return (await jobs(env, **variables))["totalCount"]  # type: ignore[no-any-return]


async def test_both_spellings_select_the_same_jobs(env: Env) -> None:
    tql = await jobs(env, tql='status in ("Success","failure") and dataType = "ip"')
    typed = await jobs(
        env, filter={"status": {"in": ["SUCCESS", "FAILURE"]}, "dataType": {"eq": "ip"}}
    )
    assert tql == typed and tql["totalCount"] > 0
    assert {(n["status"], n["dataType"]) for n in tql["nodes"]} <= {
        ("SUCCESS", "ip"), ("FAILURE", "ip")
    }  # fmt: skip


async def test_filter_and_tql_are_anded(env: Env) -> None:
    ip = await total(env, tql='dataType = "ip"')
    success = await total(env, filter={"status": {"eq": "SUCCESS"}})
    both = await jobs(env, tql='dataType = "ip"', filter={"status": {"eq": "SUCCESS"}})
    assert 0 < both["totalCount"] < min(ip, success)
    assert all(n["dataType"] == "ip" and n["status"] == "SUCCESS" for n in both["nodes"])


async def test_empty_filter_and_blank_tql_are_no_condition(env: Env) -> None:
    everything = await total(env)
    assert await total(env, filter={}) == everything
    assert await total(env, filter={"tlp": {}, "and": []}) == everything
    assert await total(env, tql="  ") == everything
    assert await total(env, filter={"or": []}) == 0
    assert await total(env, filter={"not": {}}) == 0
    assert await total(env, filter={"status": {"in": []}}) == 0
    assert await total(env, filter={"status": {"notIn": []}}) == everything
    assert await total(env, filter={"data": {"eq": None, "contains": None}}) == everything


async def test_deleted_jobs_only_when_asked(env: Env) -> None:
    assert await total(env, tql='status = "deleted"') == 0
    deleted = await jobs(env, tql='status = "deleted"', deleted=True)
    assert deleted["totalCount"] > 0
    assert {n["status"] for n in deleted["nodes"]} == {"DELETED"}


async def test_other_organizations_stay_invisible(env: Env) -> None:
    demo_ids = [n["id"] for n in (await jobs(env))["nodes"]]
    found = await jobs(env, key="acme.read", filter={"id": {"in": demo_ids}}, deleted=True)
    assert found["totalCount"] == 0
    assert await total(env, key="acme.read", tql="tlp >= 0 or not tlp >= 0") > 0


async def test_null_matches_neither_a_comparison_nor_its_negation(env: Env) -> None:
    everything = await total(env)
    files = await jobs(env, tql="data is null")
    assert files["totalCount"] > 0
    assert all(n["dataType"] == "file" and n["data"] is None for n in files["nodes"])
    with_data = await total(env, tql="data is not null")
    assert files["totalCount"] + with_data == everything
    pairs = [
        ('data != "8.8.8.8"', 'data = "8.8.8.8"'),
        ('not data = "8.8.8.8"', 'data = "8.8.8.8"'),
        ('data not in ("8.8.8.8", "x")', 'data in ("8.8.8.8", "x")'),
        ('data not contains "8.8"', 'data contains "8.8"'),
        ('not (data = "8.8.8.8" or tlp = 9)', 'data = "8.8.8.8" or tlp = 9'),
    ]
    for negation, condition in pairs:
        # Jobs without data are in neither count.
        assert await total(env, tql=negation) + await total(env, tql=condition) == with_data
    typed = await total(env, filter={"not": {"data": {"eq": "8.8.8.8"}}})
    assert typed == await total(env, tql='data != "8.8.8.8"')


async def test_attachment_sha256_follows_the_same_null_rules(env: Env) -> None:
    files = await jobs(env, tql="attachmentSha256 is not null")
    assert all(n["attachment"] for n in files["nodes"]) and files["totalCount"] > 0
    sha = files["nodes"][0]["attachment"]["sha256"]
    same = await total(env, tql=f'attachmentSha256 = "{sha}"')
    assert 0 < same < files["totalCount"]
    for negation in (f'not attachmentSha256 = "{sha}"', f'attachmentSha256 != "{sha}"'):
        assert await total(env, tql=negation) == files["totalCount"] - same
    assert await total(env, tql=f'attachmentSha256 startswith "{sha[:10].upper()}"') == same


async def test_equality_is_exact_and_text_search_ignores_ascii_case(env: Env) -> None:
    assert await total(env, tql='analyzerName = "abuse_finder_3_0"') == 0
    exact = await total(env, tql='analyzerName = "Abuse_Finder_3_0"')
    assert exact > 0
    assert await total(env, tql='analyzerName startswith "ABUSE_f"') == exact
    assert await total(env, filter={"analyzerName": {"endsWith": "finder_3_0"}}) == exact


async def test_like_wildcards_in_user_text_are_literal(env: Env) -> None:
    literal = await jobs(env, tql='data contains "100%_sure"')
    assert literal["totalCount"] > 0
    assert all("100%_sure" in n["data"] for n in literal["nodes"])
    assert await total(env, tql='data contains "100%"') == literal["totalCount"]
    assert await total(env, tql='data contains "1_0"') == 0
    assert await total(env, tql='data contains "%"') == literal["totalCount"]


async def test_time_range_any_and_all(env: Env) -> None:
    recent = {"from": "now - 30 days", "to": "now"}
    created = await total(env, filter={"timeRange": recent})
    assert created == await total(
        env, tql='createdAt between "now - 30 days" and "now"'
    )  # fmt: skip
    fields = ["CREATED_AT", "END_DATE"]
    every = await jobs(env, filter={"timeRange": {**recent, "fields": fields, "match": "ALL"}})
    assert all(n["endDate"] for n in every["nodes"])  # a null time is never in range
    any_ = await total(env, filter={"timeRange": {**recent, "fields": fields}})
    assert every["totalCount"] <= created <= any_


async def test_analyzer_jobs_take_filters(env: Env) -> None:
    query = """query ($tql: String, $filter: JobFilter) {
      analyzers(first: 20) { nodes { name jobs(tql: $tql, filter: $filter, first: 100) {
        totalCount nodes { analyzerName status } } } } }"""
    data = await env.data(query, {"tql": 'status = "failure"', "filter": {"tlp": {"gte": 0}}})
    for analyzer in data["analyzers"]["nodes"]:
        for job in analyzer["jobs"]["nodes"]:
            assert job == {"analyzerName": analyzer["name"], "status": "FAILURE"}
    assert sum(a["jobs"]["totalCount"] for a in data["analyzers"]["nodes"]) == await total(
        env, tql='status = "failure"'
    )


async def test_analyzer_filters(env: Env) -> None:
    async def names(**variables: Any) -> set[str]:
        data = await env.data(ANALYZERS, variables)
        return {a["name"] for a in data["analyzers"]["nodes"]}

    ip_only = await names(tql='dataType = "ip"')
    assert ip_only and "FileInfo_8_0" not in ip_only and "MaxMind_GeoIP_4_0" in ip_only
    assert await names(filter={"dataType": {"eq": "ip"}}) == ip_only
    # Element match, never text search: "i" is no data type, though "ip" contains it.
    assert await names(tql='dataType = "i"') == set()
    everyone = await names()
    assert await names(tql='not dataType = "ip"') == everyone - ip_only
    assert await names(filter={"dataType": {"in": ["file", "mail"]}}) == {
        "VirusTotal_GetReport_3_1", "FileInfo_8_0", "EmlParser_2_1", "Abuse_Finder_3_0",
        "File_Info", "Observable_Classifier",  # the built-ins of `jobql worker`
    }  # fmt: skip
    assert await names(tql="jobCacheMinutes is null") == everyone - {
        "Abuse_Finder_3_0", "VirusTotal_GetReport_3_1"
    }  # fmt: skip
    assert await names(tql='name startswith "maxmind" and enabled = true') <= {"MaxMind_GeoIP_4_0"}


async def test_tql_fields_come_from_the_registry(env: Env) -> None:
    query = "query ($e: TqlEntity!) { tqlFields(entity: $e) { name type operators enumValues nullable description } }"  # noqa: E501
    job = (await env.data(query, {"e": "JOB"}))["tqlFields"]
    names = [f["name"] for f in job]
    assert names[:3] == ["id", "status", "dataType"] and "attachmentSha256" in names
    status = next(f for f in job if f["name"] == "status")
    assert status["type"] == "ENUM" and "IN_PROGRESS" in status["enumValues"]
    assert status["operators"] == ["=", "!=", "IN", "NOT IN"]
    assert all(f["description"] for f in job)
    analyzer = (await env.data(query, {"e": "ANALYZER"}))["tqlFields"]
    assert {f["name"] for f in analyzer} >= {"name", "dataType", "enabled", "jobCacheMinutes"}


# Errors: each class has its code, its argument, its position, and leaks nothing.
LEAKS = ("select ", "sqlalchemy", "traceback", 'file "', "psycopg", "asyncpg", "sqlite3",
         "error:", "exception", "recursion")  # fmt: skip


async def bad(env: Env, query: str = JOBS, **variables: Any) -> dict[str, Any]:
    # json.dumps escapes lone surrogates as \\udXXX, which JSON allows and httpx cannot encode.
    response = await env.client.post(
        "/graphql",
        content=json.dumps({"query": query, "variables": variables}),
        headers={
            "Authorization": f"Bearer {KEYS['demo.read']}",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.get("data") is None or body["data"].get("jobs") is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert not any(leak in error["message"].lower() for leak in LEAKS), error["message"]
    return error  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("tql", "offset", "needle"),
    [
        ("status = ", 9, "expected a value"),
        ('colour = "red"', 0, "one of id, status, dataType"),
        ('tlp = "high"', 6, "tlp takes an integer"),
        ('status = "done"', 9, "status takes one of WAITING"),
        ('createdAt > "2026-02-30"', 12, "not a valid date"),
        ('createdAt > "infinity"', 12, "expected an ISO-8601 time"),
        ("tlp = 2147483648", 6, "out of range"),
        ('status contains "x"', 7, "an operator that status supports"),
        ("(tlp = 1", 8, 'expected ")"'),
        ('data = "a\x00b"', 9, "NUL"),
        (r'data = "\ud800"', 8, "surrogate"),
        ('data = "\ud800"', 8, "surrogate"),
    ],
)
async def test_tql_errors(env: Env, tql: str, offset: int, needle: str) -> None:
    error = await bad(env, tql=tql)
    assert error["extensions"]["argument"] == "tql"
    assert error["extensions"]["tql"]["offset"] == offset
    assert error["extensions"]["tql"]["line"] == 1
    assert error["extensions"]["tql"]["column"] == offset + 1
    assert needle in error["message"]


async def test_tql_limits(env: Env) -> None:
    long = await bad(env, tql="tlp = 1 or " * 400 + "tlp = 1")
    assert "at most 4000 characters" in long["message"]
    values = ", ".join(["1"] * 501)
    assert "at most 500 values" in (await bad(env, tql=f"tlp in ({values})"))["message"]
    deep = await bad(env, tql="(" * 33 + "tlp = 1" + ")" * 33)
    assert deep["extensions"]["tql"]["offset"] == 32 and "32 nested" in deep["message"]
    many = await bad(env, tql=" or ".join(["tlp = 1"] * 201))
    assert "at most 200 conditions" in many["message"]


@pytest.mark.parametrize(
    ("filter", "needle"),
    [
        ({"data": {"eq": "a\x00"}}, "filter.data.eq: text must not contain NUL"),
        ({"or": [{}, {"message": {"contains": "\ud800"}}]}, "filter.or[1].message.contains"),
        ({"tlp": {"in": list(range(501))}}, "at most 500"),
        ({"timeRange": {"from": "now - 1 fortnight"}}, "filter.timeRange: timeRange.from"),
        ({"timeRange": {"fields": ["END_DATE"]}}, "needs from, to or both"),
        ({"timeRange": {"from": "now", "fields": []}}, "at least one time field"),
        ({"and": [{"tlp": {"eq": n}} for n in range(201)]}, "at most 200 are allowed"),
    ],
)
async def test_filter_errors(env: Env, filter: dict[str, Any], needle: str) -> None:
    error = await bad(env, filter=filter)
    assert error["extensions"]["argument"] == "filter"
    assert needle in error["message"]


async def test_filter_nesting_limit(env: Env) -> None:
    nested: dict[str, Any] = {"tlp": {"eq": 1}}
    for _ in range(32):
        nested = {"not": nested}
    await env.data(JOBS, {"filter": nested})
    error = await bad(env, filter={"not": nested})
    assert error["extensions"]["argument"] == "filter" and "nested more than 32" in error["message"]


async def test_analyzer_errors_name_their_argument(env: Env) -> None:
    error = await bad(env, ANALYZERS, tql='dataType contains "i"')
    assert error["extensions"]["argument"] == "tql" and error["extensions"]["tql"]["offset"] == 9
    error = await bad(env, ANALYZERS, filter={"name": {"eq": "\x00"}})
    assert error["extensions"]["argument"] == "filter"


def test_both_spellings_build_the_same_tree() -> None:
    """Without HTTP: the typed input and the TQL text of one condition give one tree."""
    typed = JobFilter(
        status=JobStatusFilter(in_=[JobStatus.SUCCESS, JobStatus.FAILURE]),
        data_type=StringFilter(eq="ip"),
        or_=[
            JobFilter(tlp=IntFilter(gte=2)),
            JobFilter(not_=JobFilter(data=StringFilter(contains="google"))),
        ],
    )
    text = (
        'status in ("success", "Failure") and dataType = "ip" '
        'and (tlp >= 2 or not data contains "google")'
    )
    limits = TqlLimits()
    assert build_predicate(JOB_FIELDS, typed, None, limits) == parse_tql(text, JOB_FIELDS, limits)
    both = build_predicate(JOB_FIELDS, typed, text, limits)
    assert isinstance(both, And) and both.items[0] == both.items[1]
