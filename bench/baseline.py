"""The raw baseline: the four benchmark requests answered by hand-written SQL over asyncpg.

No GraphQL and no framework: a bare ASGI app that knows the four operations by name, reads the
values it needs from their variables, authenticates every request as jobql does (the key's id
looked up, its SHA-256 compared, a good key trusted for 5 s as jobql's principal cache does)
and answers the JSON jobql answers, so the benchmark can check
that both agree before it measures. It is the lower bound of what a Python server can do here.

Run: BENCH_DSN=postgresql://… uvicorn bench.baseline:app --loop uvloop --http httptools
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson

AUTH_CACHE_SECONDS = float(os.environ.get("JOBQL_AUTH_CACHE_SECONDS", "5"))  # as jobql's default
KNOWN: dict[tuple[str, str], tuple[float, str]] = {}
ORDER = "CREATED_AT:DESC,ID:DESC"  # jobql's default order, as its cursors name it
UNAUTHENTICATED = orjson.dumps(
    {
        "errors": [
            {
                "message": "A valid API key is required: Authorization: Bearer <key>",
                "extensions": {"code": "UNAUTHENTICATED"},
            }
        ]
    }
)
AUTH = """
SELECT k.secret_sha256, u.organization_id, u.locked
FROM api_key k JOIN app_user u ON u.login = k.user_login WHERE k.id = $1
"""
PAGE = """
SELECT j.id, j.status, j.data, j.data_type, j.tlp, j.created_at, a.name AS analyzer, r.taxonomies
FROM job j
LEFT JOIN analyzer a ON a.id = j.analyzer_id AND a.organization_id = j.organization_id
LEFT JOIN report r ON r.job_id = j.id
WHERE j.organization_id = $1 AND j.status <> 'DELETED' AND {where}
ORDER BY j.created_at DESC, j.id DESC
LIMIT 51
"""
COUNT = "SELECT count(*) FROM job WHERE organization_id = $1 AND status <> 'DELETED' AND {where}"
BEHIND = """
SELECT EXISTS (SELECT 1 FROM job WHERE organization_id = $1 AND status <> 'DELETED'
               AND (created_at, id) >= ($2, $3))
"""
Q1_WHERE = "status = 'SUCCESS' AND data_type = 'ip'"
Q1_PAGE = PAGE.format(where="j." + Q1_WHERE.replace(" AND ", " AND j."))
Q1_COUNT = COUNT.format(where=Q1_WHERE)
Q2_PAGE = PAGE.format(where="(j.created_at, j.id) < ($2, $3)")
Q2_COUNT = COUNT.format(where="true")
Q4_PAGE = PAGE.format(
    where="j.status IN ('SUCCESS', 'FAILURE') AND j.created_at >= $2 "
    """AND (lower(j.analyzer_name COLLATE "C") LIKE $3 OR j.tlp >= 2)"""
)
Q3_JOB = """
SELECT j.*, t.id AS t_id, t.name AS t_name, t.size AS t_size, t.content_type AS t_content_type,
       t.sha256 AS t_sha256, t.sha1 AS t_sha1, t.md5 AS t_md5,
       r.job_id AS r_job_id, r.success AS r_success, r.error_message AS r_error_message,
       r.created_at AS r_created_at, r.full AS r_full, r.taxonomies AS r_taxonomies
FROM job j
LEFT JOIN attachment t ON t.id = j.attachment_id AND t.organization_id = j.organization_id
LEFT JOIN report r ON r.job_id = j.id
WHERE j.id = $1 AND j.organization_id = $2
"""
Q3_ARTIFACTS = """
SELECT data_type, data, tlp, message, tags FROM artifact WHERE job_id = $1 ORDER BY id
"""
LEVELS = ("INFO", "SAFE", "SUSPICIOUS", "MALICIOUS")  # job.verdict holds the rank
Q5_PAGE = """
SELECT j.id, j.status, j.data, j.data_type, j.verdict, j.created_at, j.analyzer_name,
       r.job_id AS r_job_id, r.taxonomies
FROM job j LEFT JOIN report r ON r.job_id = j.id
WHERE j.organization_id = $1 AND j.status <> 'DELETED' AND j.verdict >= 2 AND j.created_at >= $2
ORDER BY j.created_at DESC, j.id DESC
LIMIT 50
"""
STATS = """
SELECT {keys}, count(*) AS n, sum(count(*)) OVER () AS total
FROM job
WHERE organization_id = $1 AND status <> 'DELETED' AND created_at >= $2 AND created_at <= $3
GROUP BY {keys} ORDER BY n DESC, {keys} LIMIT 1001
"""
Q6_BY_STATUS = STATS.format(keys="status, analyzer_id, analyzer_name")
Q6_BY_DAY = STATS.format(keys="date_trunc('day', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'")
SINCE = re.compile(r'createdAt\s*>=\s*"([^"]+)"')
PREFIX = re.compile(r'analyzerName\s+startswith\s+"([^"]*)"', re.IGNORECASE)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _cursor(row: Any) -> str:
    raw = orjson.dumps([1, ORDER, [row["created_at"].isoformat(), row["id"]]])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, str]:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    version, order, (created_at, job_id) = orjson.loads(raw)
    if version != 1 or order != ORDER:
        raise ValueError("not a cursor of the default order")
    return datetime.fromisoformat(created_at), job_id


def _connection(rows: list[Any], behind: bool, total: int | None) -> dict[str, Any]:
    page = rows[:50]
    edges = [
        {
            "cursor": _cursor(r),
            "node": {
                "id": r["id"],
                "status": r["status"],
                "data": r["data"],
                "dataType": r["data_type"],
                "tlp": r["tlp"],
                "createdAt": r["created_at"].isoformat(),
                "analyzer": {"name": r["analyzer"]} if r["analyzer"] is not None else None,
                "report": {"summary": {"taxonomies": r["taxonomies"]}}
                if r["taxonomies"] is not None
                else None,
            },
        }
        for r in page
    ]
    found: dict[str, Any] = {} if total is None else {"totalCount": total}
    found["edges"] = edges
    found["pageInfo"] = {
        "hasNextPage": len(rows) > 50,
        "hasPreviousPage": behind,
        "startCursor": edges[0]["cursor"] if edges else None,
        "endCursor": edges[-1]["cursor"] if edges else None,
    }
    return {"jobs": found}


async def q1(conn: Any, org: str, _: dict[str, Any]) -> dict[str, Any]:
    rows = await conn.fetch(Q1_PAGE, org)
    total = await conn.fetchval(Q1_COUNT, org)
    return _connection(rows, False, total)


async def q2(conn: Any, org: str, variables: dict[str, Any]) -> dict[str, Any]:
    created_at, job_id = _decode(variables["after"])
    rows = await conn.fetch(Q2_PAGE, org, created_at, job_id)
    total = await conn.fetchval(Q2_COUNT, org)
    behind = await conn.fetchval(BEHIND, org, created_at, job_id)
    return _connection(rows, behind, total)


async def q4(conn: Any, org: str, variables: dict[str, Any]) -> dict[str, Any]:
    tql = variables["tql"]
    since = datetime.fromisoformat(SINCE.search(tql).group(1))  # type: ignore[union-attr]
    prefix = PREFIX.search(tql).group(1)  # type: ignore[union-attr]
    # TQL's STARTSWITH folds ASCII case, and escapes LIKE's wildcards in the user's text.
    like = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = await conn.fetch(Q4_PAGE, org, since, like)
    return _connection(rows, False, None)


async def q3(conn: Any, org: str, variables: dict[str, Any]) -> dict[str, Any]:
    r = await conn.fetchrow(Q3_JOB, variables["id"], org)
    if r is None:
        return {"job": None}
    job: dict[str, Any] = {
        "id": r["id"],
        "organization": r["organization_id"],
        "analyzerId": r["analyzer_id"],
        "analyzerName": r["analyzer_name"],
        "analyzerDefinitionId": r["analyzer_definition_id"],
        "dataType": r["data_type"],
        "status": r["status"],
        "data": r["data"],
        "parameters": r["parameters"],
        "message": r["message"],
        "tlp": r["tlp"],
        "pap": r["pap"],
        "startDate": _time(r["start_date"]),
        "endDate": _time(r["end_date"]),
        "createdAt": _time(r["created_at"]),
        "createdBy": r["created_by"],
        "updatedAt": _time(r["updated_at"]),
        "updatedBy": r["updated_by"],
        "attachment": None,
        "report": None,
    }
    if r["t_id"] is not None:
        job["attachment"] = {
            "id": r["t_id"],
            "name": r["t_name"],
            "size": r["t_size"],
            "contentType": r["t_content_type"],
            "sha256": r["t_sha256"],
            "sha1": r["t_sha1"],
            "md5": r["t_md5"],
            "hashes": [r["t_sha256"], r["t_sha1"], r["t_md5"]],
        }
    if r["r_job_id"] is not None:
        artifacts = await conn.fetch(Q3_ARTIFACTS, r["id"])
        job["report"] = {
            "success": r["r_success"],
            "errorMessage": r["r_error_message"],
            "createdAt": _time(r["r_created_at"]),
            "full": r["r_full"],
            "summary": {"taxonomies": r["r_taxonomies"]},
            "artifacts": [
                {
                    "dataType": a["data_type"],
                    "data": a["data"],
                    "tlp": a["tlp"],
                    "message": a["message"],
                    "tags": a["tags"],
                }
                for a in artifacts
            ],
        }
    return {"job": job}


async def q5(conn: Any, org: str, variables: dict[str, Any]) -> dict[str, Any]:
    rows = await conn.fetch(Q5_PAGE, org, datetime.fromisoformat(variables["since"]))
    nodes = [
        {
            "id": r["id"],
            "status": r["status"],
            "data": r["data"],
            "dataType": r["data_type"],
            "verdict": LEVELS[r["verdict"]],
            "createdAt": r["created_at"].isoformat(),
            "analyzerName": r["analyzer_name"],
            "report": {"summary": {"taxonomies": r["taxonomies"]}}
            if r["r_job_id"] is not None
            else None,
        }
        for r in rows
    ]
    return {"jobs": {"nodes": nodes}}


def _stats(rows: list[Any], group: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    return {
        "total": int(rows[0]["total"]) if rows else 0,
        "truncated": len(rows) > 1000,
        "groups": [{**group(r), "count": r["n"]} for r in rows[:1000]],
    }


async def q6(conn: Any, org: str, variables: dict[str, Any]) -> dict[str, Any]:
    start, end = (datetime.fromisoformat(variables[k]) for k in ("from", "to"))
    by_status = await conn.fetch(Q6_BY_STATUS, org, start, end)
    by_day = await conn.fetch(Q6_BY_DAY, org, start, end)
    return {
        "byStatusAndAnalyzer": _stats(
            by_status,
            lambda r: {
                "status": r["status"],
                "analyzerId": r["analyzer_id"],
                "analyzerName": r["analyzer_name"],
            },
        ),
        "byDay": _stats(by_day, lambda r: {"bucketStart": r[0].isoformat()}),
    }


Handler = Callable[[Any, str, dict[str, Any]], Awaitable[dict[str, Any]]]
OPERATIONS: dict[str, Handler] = {
    "BenchQ1": q1,
    "BenchQ2": q2,
    "BenchQ3": q3,
    "BenchQ4": q4,
    "BenchQ5": q5,
    "BenchQ6": q6,
}


async def _organization(conn: Any, authorization: str) -> str | None:
    """jobql's check: `Bearer jq_<id>_<secret>`, the id looked up, the digest compared; and,
    as jobql does, a key found good is trusted for AUTH_CACHE_SECONDS without a query."""
    scheme, _, token = authorization.partition(" ")
    prefix, _, rest = token.strip().partition("_")
    key_id, _, secret = rest.partition("_")
    if scheme.lower() != "bearer" or prefix != "jq" or not key_id or not secret:
        return None
    offered = hashlib.sha256(secret.encode()).hexdigest()
    known = KNOWN.get((key_id, offered))
    if known is not None and known[0] >= time.monotonic():
        return known[1]
    row = await conn.fetchrow(AUTH, key_id)
    stored = row["secret_sha256"] if row else "0" * 64
    if not hmac.compare_digest(stored, offered) or row is None or row["locked"]:
        return None
    KNOWN[(key_id, offered)] = (time.monotonic() + AUTH_CACHE_SECONDS, row["organization_id"])
    return str(row["organization_id"])


async def _init(conn: Any) -> None:
    await conn.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        encoder=lambda v: orjson.dumps(v).decode(),
        decoder=orjson.loads,
    )


class Baseline:
    """The ASGI app: one pooled connection per request, statements in sequence."""

    def __init__(self) -> None:
        self.pool: Any = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        if scope["path"] == "/healthz":
            return await _send(send, 200, b"ok", b"text/plain")
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        request = orjson.loads(body)
        handler = OPERATIONS.get(request.get("operationName") or "")
        if handler is None:
            return await _send(send, 400, b'{"errors":[{"message":"unknown operation"}]}')
        async with self.pool.acquire() as conn:
            org = await _organization(conn, headers.get(b"authorization", b"").decode())
            if org is None:
                return await _send(send, 401, UNAUTHENTICATED)
            data = await handler(conn, org, request.get("variables") or {})
        await _send(send, 200, orjson.dumps({"data": data}))

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                size = int(os.environ.get("BENCH_POOL_SIZE", "10"))
                self.pool = await asyncpg.create_pool(
                    os.environ["BENCH_DSN"], min_size=size, max_size=size, init=_init
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _send(send: Any, status: int, body: bytes, kind: bytes = b"application/json") -> None:
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


app = Baseline()
