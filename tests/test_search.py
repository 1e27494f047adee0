"""Search depth through HTTP on both databases: verdicts, hashes, `has`, Cortex spellings."""

from __future__ import annotations

from typing import Any

from app.explorer import EXAMPLE_QUERY
from tests.support import Env, error_codes

JOBS = """
query ($filter: JobFilter, $tql: String, $order: [JobOrder!]) {
  jobs(filter: $filter, tql: $tql, orderBy: $order, first: 100) {
    totalCount
    nodes { id status dataType data verdict priority
            attachment { name sha256 sha1 md5 }
            report { success summary { taxonomies { level namespace } }
                     artifacts { dataType data } } }
  }
}"""
LEVELS = ["INFO", "SAFE", "SUSPICIOUS", "MALICIOUS"]


async def jobs(env: Env, **variables: Any) -> dict[str, Any]:
    return (await env.data(JOBS, variables))["jobs"]  # type: ignore[no-any-return]


async def test_the_welcome_query_shows_a_malicious_verdict(env: Env) -> None:
    data = await env.data(EXAMPLE_QUERY)
    verdicts = {node["verdict"] for node in data["jobs"]["nodes"]}
    assert "MALICIOUS" in verdicts


async def test_demo_has_every_level_and_verdict_is_the_highest(env: Env) -> None:
    found = await jobs(env, tql="verdict is not null")
    assert {n["verdict"] for n in found["nodes"]} == set(LEVELS)
    for node in found["nodes"]:
        levels = [t["level"] for t in node["report"]["summary"]["taxonomies"]]
        assert node["verdict"] == max(levels, key=LEVELS.index)
    bare = await jobs(env, tql="verdict is null and status = 'success'")
    assert all(not n["report"]["summary"]["taxonomies"] for n in bare["nodes"])


async def test_what_came_back_malicious(env: Env) -> None:
    tql = await jobs(env, tql='verdict >= "suspicious"')
    typed = await jobs(env, filter={"verdict": {"gte": "SUSPICIOUS"}})
    assert tql == typed and tql["totalCount"] > 0
    assert {n["verdict"] for n in tql["nodes"]} == {"SUSPICIOUS", "MALICIOUS"}


async def test_verdict_order_is_the_enum_order_with_nulls_last(env: Env) -> None:
    for direction in ("ASC", "DESC"):
        order = [{"field": "VERDICT", "direction": direction}]
        nodes = (await jobs(env, order=order))["nodes"]
        ranks = [LEVELS.index(n["verdict"]) if n["verdict"] else None for n in nodes]
        present = [r for r in ranks if r is not None]
        assert present == sorted(present, reverse=direction == "DESC")
        assert ranks == present + [None] * (len(ranks) - len(present))


async def test_hash_finds_files_by_any_digest_in_any_case(env: Env) -> None:
    files = await jobs(env, tql='dataType = "file"')
    attachment = files["nodes"][0]["attachment"]
    expected = {n["id"] for n in files["nodes"] if n["attachment"] == attachment}
    for digest in ("sha256", "sha1", "md5"):
        for value in (attachment[digest], attachment[digest].upper()):
            by_hash = await jobs(env, tql=f'hash = "{value}"')
            assert {n["id"] for n in by_hash["nodes"]} >= expected
            field = "attachment" + digest.capitalize()
            typed = await jobs(env, filter={field: {"eq": value}})
            assert {n["id"] for n in typed["nodes"]} == expected
    named = await jobs(env, filter={"attachmentName": {"eq": attachment["name"]}})
    assert {n["id"] for n in named["nodes"]} >= expected


async def test_hash_finds_hash_jobs_by_their_data(env: Env) -> None:
    hashes = await jobs(env, tql='dataType = "hash"')
    data = hashes["nodes"][0]["data"]
    found = await jobs(env, filter={"hash": {"eq": data.upper()}})
    assert hashes["nodes"][0]["id"] in {n["id"] for n in found["nodes"]}
    assert all(n["data"] is None or n["data"].lower() == data.lower() for n in found["nodes"])


async def test_has_needs_one_taxonomy_matching_every_condition(env: Env) -> None:
    tql = 'taxonomy has (level = "malicious" and namespace = "VT")'
    both = await jobs(env, tql=tql)
    typed = await jobs(
        env, filter={"taxonomy": {"level": {"eq": "MALICIOUS"}, "namespace": {"eq": "VT"}}}
    )
    assert both == typed and both["totalCount"] > 0
    for node in both["nodes"]:
        pairs = {(t["level"], t["namespace"]) for t in node["report"]["summary"]["taxonomies"]}
        assert ("MALICIOUS", "VT") in pairs
    artifact = await jobs(env, tql='artifact has (dataType = "domain")')
    assert artifact["totalCount"] > 0
    for node in artifact["nodes"]:
        assert "domain" in {a["dataType"] for a in node["report"]["artifacts"]}
    none = await jobs(env, tql='not artifact has (dataType = "domain")')
    assert none["totalCount"] + artifact["totalCount"] == (await jobs(env))["totalCount"]


async def test_cortex_status_spellings_and_report_success(env: Env) -> None:
    cortex = await jobs(env, tql='status in ("InProgress", "Success")')
    ours = await jobs(env, tql='status in ("IN_PROGRESS", "SUCCESS")')
    assert cortex == ours and cortex["totalCount"] > 0
    failed = await jobs(env, tql="reportSuccess = false")
    assert failed["totalCount"] > 0
    assert all(n["report"]["success"] is False for n in failed["nodes"])
    urgent = await jobs(env, filter={"priority": {"in": ["NORMAL"]}})
    assert all(n["priority"] == "NORMAL" for n in urgent["nodes"])


async def test_an_unknown_field_suggests_the_nearest_name(env: Env) -> None:
    body = await env.gql(JOBS, {"tql": 'status = "SUCCESS" and analyzrName = "x"'})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    error = body["errors"][0]
    assert "did you mean analyzerName?" in error["message"]
    assert error["extensions"]["tql"]["offset"] == len('status = "SUCCESS" and ')
    inner = await env.gql(JOBS, {"tql": 'taxonomy has (nmespace = "VT")'})
    assert "did you mean namespace?" in inner["errors"][0]["message"]
    bare = await env.gql(JOBS, {"tql": 'taxonomy = "VT"'})
    assert "expected HAS after taxonomy" in bare["errors"][0]["message"]
    hashed = await env.gql(JOBS, {"filter": {"hash": {"neq": "ab"}}})
    assert error_codes(hashed) == ["BAD_USER_INPUT"]
    assert hashed["errors"][0]["extensions"]["argument"] == "filter"


async def test_tql_fields_lists_the_new_fields_and_has(env: Env) -> None:
    query = "{ tqlFields(entity: JOB) { name type operators enumValues fields { name } } }"
    fields = {f["name"]: f for f in (await env.data(query))["tqlFields"]}
    for name in ("verdict", "priority", "hash", "attachmentName", "attachmentSha1",
                 "attachmentMd5", "reportSuccess"):  # fmt: skip
        assert name in fields
    assert fields["verdict"]["enumValues"] == LEVELS and ">=" in fields["verdict"]["operators"]
    assert fields["taxonomy"]["type"] == "RELATION" and fields["taxonomy"]["operators"] == ["HAS"]
    assert {f["name"] for f in fields["taxonomy"]["fields"]} == {
        "level", "namespace", "predicate", "value"
    }  # fmt: skip


async def test_the_new_conditions_cost_no_statement(env: Env) -> None:
    """EXISTS, hash and verdict are in the page's WHERE: the same statements as no filter."""
    query = "query ($tql: String) { jobs(tql: $tql, first: 50) { nodes { id verdict } } }"
    counts = []
    for tql in (None, 'taxonomy has (level >= "SUSPICIOUS") and hash in ("ab", "CD") '
                'and verdict > "info" and reportSuccess = true'):  # fmt: skip
        with env.statements() as seen:
            await env.data(query, {"tql": tql})
        counts.append(len(seen))
    assert counts[0] == counts[1] <= 2
