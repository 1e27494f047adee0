"""Random predicate trees: a Python reference evaluator and the server (both spellings) agree."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.tql import And, Condition, Has, Match, Not, Op, Or, Predicate, TimeRange
from tests.support import Env, raw_only

ALL_JOBS = """
query ($after: String) {
  jobs(first: 100, after: $after, includeDeleted: true) {
    pageInfo { hasNextPage endCursor }
    nodes { id status dataType data message analyzerId analyzerName analyzerDefinitionId
            createdBy updatedBy attachment { sha256 sha1 md5 name } tlp pap createdAt updatedAt
            startDate endDate verdict priority
            report { success summary { taxonomies { level namespace predicate value } }
                     artifacts { dataType data message tlp tags } } }
  }
}"""
MATCHING = """
query ($filter: JobFilter, $tql: String, $deleted: Boolean!, $after: String) {
  jobs(filter: $filter, tql: $tql, includeDeleted: $deleted, first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id }
  }
}"""
STRINGS = ("dataType", "data", "message", "analyzerId", "analyzerName", "analyzerDefinitionId",
           "createdBy", "updatedBy", "attachmentSha256")  # fmt: skip
INTS = ("tlp", "pap")
TIMES = ("createdAt", "updatedAt", "startDate", "endDate")
TIME_ENUM = {"createdAt": "CREATED_AT", "updatedAt": "UPDATED_AT", "startDate": "START_DATE",
             "endDate": "END_DATE"}  # fmt: skip
LEVELS = ("INFO", "SAFE", "SUSPICIOUS", "MALICIOUS")
PRIORITIES = ("LOW", "NORMAL", "HIGH", "URGENT")
DIGESTS = ("attachmentSha256", "attachmentSha1", "attachmentMd5")
STATUSES = ("WAITING", "IN_PROGRESS", "SUCCESS", "FAILURE", "TIMEOUT", "CANCELLED", "DELETED")
TYPED_OPS = {
    Op.EQ: "eq", Op.NEQ: "neq", Op.IN: "in", Op.NOT_IN: "notIn", Op.LT: "lt", Op.LTE: "lte",
    Op.GT: "gt", Op.GTE: "gte", Op.CONTAINS: "contains", Op.STARTSWITH: "startsWith",
    Op.ENDSWITH: "endsWith",
}  # fmt: skip
# TQL-only operators, spelled in the typed filter as NOT of their positive form.
NEGATED = {Op.NOT_CONTAINS: Op.CONTAINS, Op.NOT_STARTSWITH: Op.STARTSWITH,
           Op.NOT_ENDSWITH: Op.ENDSWITH}  # fmt: skip
ENUMS = ("status", "verdict", "priority", "level")
Row = dict[str, Any]


class Rows(list[Row]):
    """The demo jobs; a short repr keeps Hypothesis' reports readable."""

    def __repr__(self) -> str:
        return f"<{len(self)} demo jobs>"


_ROWS: dict[int, Rows] = {}


async def pages(env: Env, query: str, variables: dict[str, Any]) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        data = await env.data(query, {**variables, "after": after})
        nodes += data["jobs"]["nodes"]
        if not data["jobs"]["pageInfo"]["hasNextPage"]:
            return nodes
        after = data["jobs"]["pageInfo"]["endCursor"]


async def demo_rows(env: Env) -> Rows:
    """Every demo job (deleted ones too), as the reference evaluator sees it."""
    if id(env) not in _ROWS:
        rows = Rows()
        for node in await pages(env, ALL_JOBS, {}):
            attachment = node.pop("attachment") or {}
            report = node.pop("report") or {}
            row = dict(
                node,
                attachmentSha256=attachment.get("sha256"),
                attachmentSha1=attachment.get("sha1"),
                attachmentMd5=attachment.get("md5"),
                attachmentName=attachment.get("name"),
                reportSuccess=report.get("success"),
                taxonomy=report.get("summary", {}).get("taxonomies", []),
                artifact=report.get("artifacts", []),
            )
            digests = [attachment.get(k) for k in ("sha256", "sha1", "md5")]
            if row["dataType"] == "hash" and row["data"] is not None:
                digests.append(row["data"].lower())
            row["hash"] = {d for d in digests if d}
            for name in TIMES:
                row[name] = datetime.fromisoformat(row[name]) if row[name] else None
            rows.append(row)
        _ROWS.clear()
        _ROWS[id(env)] = rows
    return _ROWS[id(env)]


# Reference evaluator: SQL's three-valued logic, None standing for unknown.
def fold(text: str) -> str:
    return "".join(c.lower() if c.isascii() else c for c in text)


def holds(value: Any, op: Op, operand: Any) -> bool | None:
    if op is Op.IS_NULL or op is Op.IS_NOT_NULL:
        return (value is None) == (op is Op.IS_NULL)
    if value is None:
        return None
    tests: dict[Op, Callable[[], bool]] = {
        Op.EQ: lambda: value == operand, Op.NEQ: lambda: value != operand,
        Op.LT: lambda: value < operand, Op.LTE: lambda: value <= operand,
        Op.GT: lambda: value > operand, Op.GTE: lambda: value >= operand,
        Op.IN: lambda: value in operand, Op.NOT_IN: lambda: value not in operand,
        Op.CONTAINS: lambda: fold(operand) in fold(value),
        Op.STARTSWITH: lambda: fold(value).startswith(fold(operand)),
        Op.ENDSWITH: lambda: fold(value).endswith(fold(operand)),
        Op.BETWEEN: lambda: operand[0] <= value <= operand[1],
    }  # fmt: skip
    if op in NEGATED:
        return not tests[NEGATED[op]]()
    return tests[op]()


def rank(value: Any) -> Any:
    """Levels compare in the enum's order."""
    if isinstance(value, tuple):
        return tuple(rank(v) for v in value)
    return None if value is None else LEVELS.index(value)


def evaluate(tree: Predicate, row: Row) -> bool | None:
    if isinstance(tree, Has):
        return any(evaluate(tree.item, item) is True for item in row[tree.relation])
    if isinstance(tree, Condition):
        return condition(tree, row)
    if isinstance(tree, Not):
        inner = evaluate(tree.item, row)
        return None if inner is None else not inner
    if isinstance(tree, TimeRange):
        return evaluate(expand(tree), row)
    results = [evaluate(item, row) for item in tree.items]
    decisive = isinstance(tree, Or)  # True decides an OR, False an AND
    if decisive in results:
        return decisive
    return None if None in results else not decisive


def condition(tree: Condition, row: Row) -> bool | None:
    value, operand, op = row[tree.field], tree.value, tree.op
    if tree.field == "hash":  # never unknown: = and IN only
        wanted = {v.lower() for v in (operand if isinstance(operand, tuple) else (operand,))}
        return bool(value & wanted)
    if tree.field == "tags":  # a list: = means "holds", != "lacks"
        wanted = set(operand if isinstance(operand, tuple) else (operand,))
        found = bool(set(value) & wanted)
        return found if op in (Op.EQ, Op.IN) else not found
    if tree.field in ("verdict", "level"):
        value, operand = rank(value), rank(operand)
    if tree.field in DIGESTS and op in (Op.EQ, Op.NEQ, Op.IN, Op.NOT_IN):
        operand = (
            tuple(v.lower() for v in operand) if isinstance(operand, tuple) else operand.lower()
        )
    return holds(value, op, operand)


def expand(tr: TimeRange) -> Predicate:
    """A time range written out as comparisons, as TQL users write it."""
    per_field: list[Predicate] = []
    for name in tr.fields:
        bounds = [Condition(name, Op.GTE, tr.start)] if tr.start else []
        bounds += [Condition(name, Op.LTE, tr.end)] if tr.end else []
        per_field.append(And(tuple(bounds)) if len(bounds) > 1 else bounds[0])
    return (Or if tr.match is Match.ANY else And)(tuple(per_field))


# Rendering one tree in both spellings.
def literal(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    text = value.isoformat() if isinstance(value, datetime) else value
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_tql(tree: Predicate, enum_case: Callable[[str], str]) -> str:
    if isinstance(tree, TimeRange):
        return to_tql(expand(tree), enum_case)
    if isinstance(tree, Not):
        return f"NOT ({to_tql(tree.item, enum_case)})"
    if isinstance(tree, Has):
        return f"{tree.relation} HAS ({to_tql(tree.item, enum_case)})"
    if isinstance(tree, And | Or):
        joiner = " and " if isinstance(tree, And) else " OR "
        return "(" + joiner.join(to_tql(item, enum_case) for item in tree.items) + ")"
    value = tree.value
    if tree.field in ENUMS and value is not None:
        value = tuple(map(enum_case, value)) if isinstance(value, tuple) else enum_case(value)
    if value is None:
        return f"{tree.field} {tree.op.value}"
    if tree.op is Op.BETWEEN:
        low, high = value  # type: ignore[misc]
        return f"{tree.field} between {literal(low)} AND {literal(high)}"
    if isinstance(value, tuple):
        return f"{tree.field} {tree.op.value} ({', '.join(map(literal, value))})"
    return f"{tree.field} {tree.op.value} {literal(value)}"


def to_filter(tree: Predicate) -> dict[str, Any]:
    if isinstance(tree, TimeRange):
        bounds = {"from": tree.start, "to": tree.end}
        spelled = {k: v.isoformat() for k, v in bounds.items() if v is not None}
        fields = [TIME_ENUM[name] for name in tree.fields]
        return {"timeRange": {**spelled, "fields": fields, "match": tree.match.value}}
    if isinstance(tree, Not):
        return {"not": to_filter(tree.item)}
    if isinstance(tree, Has):
        return {tree.relation: to_filter(tree.item)}
    if isinstance(tree, And | Or):
        return {"and" if isinstance(tree, And) else "or": [to_filter(i) for i in tree.items]}
    if tree.op in (Op.IS_NULL, Op.IS_NOT_NULL):
        return {tree.field: {"isNull": tree.op is Op.IS_NULL}}
    if tree.op in NEGATED:
        return {"not": to_filter(Condition(tree.field, NEGATED[tree.op], tree.value))}
    if tree.op is Op.BETWEEN:
        low, high = (jsonable(v) for v in tree.value)  # type: ignore[union-attr]
        return {tree.field: {"gte": low, "lte": high}}
    value = tree.value
    plain = [jsonable(v) for v in value] if isinstance(value, tuple) else jsonable(value)
    return {tree.field: {TYPED_OPS[tree.op]: plain}}


def jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


# Strategies: conditions over values taken from the demo data, so trees select real rows.
TRICKY = ["%", "_", "\\", "É", "é", "'", '"', "a%b", "x_y", "ß", "İ", "\u00a0"]


def text_operand(draw: st.DrawFn, values: list[str], op: Op) -> str:
    if values and draw(st.booleans()):
        source = draw(st.sampled_from(values))
        start = draw(st.integers(0, len(source)))
        piece = source[start : draw(st.integers(start, len(source)))]
        if op is Op.EQ or op is Op.NEQ:
            piece = source
        return piece.swapcase() if draw(st.integers(0, 3)) == 0 else piece
    return draw(st.sampled_from(TRICKY))


@st.composite
def conditions(draw: st.DrawFn, rows: list[Row]) -> Predicate:
    kinds = ["string", "int", "time", "status", "id", "range", "enum", "hash", "success", "has"]
    kind = draw(st.sampled_from(kinds))
    if kind == "enum":
        name, values = draw(st.sampled_from([("verdict", LEVELS), ("priority", PRIORITIES)]))
        ops = [Op.EQ, Op.NEQ, Op.IN, Op.NOT_IN]
        if name == "verdict":
            ops += [Op.LT, Op.LTE, Op.GT, Op.GTE, Op.IS_NULL, Op.IS_NOT_NULL]
        op = draw(st.sampled_from(ops))
        if op in (Op.IS_NULL, Op.IS_NOT_NULL):
            return Condition(name, op)
        if op in (Op.IN, Op.NOT_IN):
            items = draw(st.lists(st.sampled_from(values), min_size=1, max_size=3))
            return Condition(name, op, tuple(items))
        return Condition(name, op, draw(st.sampled_from(values)))
    if kind == "hash":
        known = sorted({d for r in rows for d in r["hash"]}) or ["0" * 32]
        pick = st.sampled_from(known).map(lambda d: d.upper()) | st.sampled_from(known)
        pick = pick | st.sampled_from(["0" * 40, "not-a-digest"])
        if draw(st.booleans()):
            return Condition("hash", Op.EQ, draw(pick))
        return Condition("hash", Op.IN, tuple(draw(st.lists(pick, min_size=1, max_size=3))))
    if kind == "success":
        return Condition(
            "reportSuccess", draw(st.sampled_from([Op.EQ, Op.NEQ])), draw(st.booleans())
        )
    if kind == "has":
        relation = draw(st.sampled_from(["taxonomy", "artifact"]))
        items = [item for r in rows for item in r[relation]]
        inner = st.recursive(
            related(relation, items),
            lambda c: st.lists(c, min_size=1, max_size=2).map(tuple).map(And) | c.map(Not),
            max_leaves=3,
        )
        return Has(relation, draw(inner))
    if kind == "string":
        name = draw(
            st.sampled_from(STRINGS + ("attachmentSha1", "attachmentMd5", "attachmentName"))
        )
        values = sorted({r[name] for r in rows if r[name] is not None})
        op = draw(st.sampled_from([Op.EQ, Op.NEQ, Op.IN, Op.NOT_IN, Op.CONTAINS, Op.STARTSWITH,
                                   Op.ENDSWITH, Op.IS_NULL, Op.IS_NOT_NULL, *NEGATED]))  # fmt: skip
        if op in (Op.IS_NULL, Op.IS_NOT_NULL):
            return Condition(name, op)
        if op in (Op.IN, Op.NOT_IN):
            items = draw(st.lists(st.sampled_from(values + TRICKY), min_size=1, max_size=4))
            return Condition(name, op, tuple(items))
        return Condition(name, op, text_operand(draw, values, op))
    if kind == "int":
        op = draw(st.sampled_from([Op.EQ, Op.NEQ, Op.LT, Op.LTE, Op.GT, Op.GTE, Op.IN, Op.NOT_IN,
                                   Op.BETWEEN]))  # fmt: skip
        if op is Op.BETWEEN:
            low, high = draw(st.integers(-1, 4)), draw(st.integers(-1, 4))
            return Condition(draw(st.sampled_from(INTS)), op, (low, high))
        if op in (Op.IN, Op.NOT_IN):
            items = draw(st.lists(st.integers(-1, 4), min_size=1, max_size=3))
            return Condition(draw(st.sampled_from(INTS)), op, tuple(items))
        return Condition(draw(st.sampled_from(INTS)), op, draw(st.integers(-1, 4)))
    if kind == "time":
        name = draw(st.sampled_from(TIMES))
        op = draw(st.sampled_from([Op.EQ, Op.NEQ, Op.LT, Op.LTE, Op.GT, Op.GTE, Op.IS_NULL,
                                   Op.BETWEEN]))  # fmt: skip
        if op is Op.IS_NULL:
            return Condition(name, draw(st.sampled_from([Op.IS_NULL, Op.IS_NOT_NULL])))
        if op is Op.BETWEEN:
            bounds = draw(st.lists(st.sampled_from(times(rows)), min_size=2, max_size=2))
            return Condition(name, op, tuple(sorted(bounds)))
        return Condition(name, op, draw(st.sampled_from(times(rows))))
    if kind == "status":
        op = draw(st.sampled_from([Op.EQ, Op.NEQ, Op.IN, Op.NOT_IN]))
        if op in (Op.IN, Op.NOT_IN):
            items = draw(st.lists(st.sampled_from(STATUSES), min_size=1, max_size=3))
            return Condition("status", op, tuple(items))
        return Condition("status", op, draw(st.sampled_from(STATUSES)))
    if kind == "id":
        ids = draw(st.lists(st.sampled_from([r["id"] for r in rows]), min_size=1, max_size=3))
        return Condition("id", draw(st.sampled_from([Op.IN, Op.NOT_IN])), tuple(ids))
    start, end = sorted(draw(st.lists(st.sampled_from(times(rows)), min_size=2, max_size=2)))
    start, end = draw(st.sampled_from([(start, end), (start, None), (None, end)]))
    fields = draw(st.lists(st.sampled_from(TIMES), min_size=1, max_size=4, unique=True))
    return TimeRange(start, end, tuple(fields), draw(st.sampled_from(list(Match))))


@st.composite
def related(draw: st.DrawFn, relation: str, items: list[Row]) -> Predicate:
    """A condition on one taxonomy or artifact, with values from the demo's."""
    if relation == "taxonomy":
        name = draw(st.sampled_from(["level", "namespace", "predicate", "value"]))
    else:
        name = draw(st.sampled_from(["dataType", "data", "message", "tlp", "tags"]))
    if name == "level":
        op = draw(st.sampled_from([Op.EQ, Op.NEQ, Op.LT, Op.LTE, Op.GT, Op.GTE, Op.IN]))
        if op is Op.IN:
            return Condition(name, op, tuple(draw(st.lists(st.sampled_from(LEVELS), min_size=1))))
        return Condition(name, op, draw(st.sampled_from(LEVELS)))
    if name == "tlp":
        op = draw(st.sampled_from([Op.EQ, Op.NEQ, Op.LT, Op.GTE]))
        return Condition(name, op, draw(st.integers(-1, 4)))
    if name == "tags":
        tags = sorted({t for item in items for t in item["tags"]}) + ["nope"]
        return Condition(name, draw(st.sampled_from([Op.EQ, Op.NEQ])), draw(st.sampled_from(tags)))
    values = sorted({item[name] for item in items if item[name] is not None})
    op = draw(st.sampled_from([Op.EQ, Op.NEQ, Op.CONTAINS, Op.STARTSWITH, Op.IS_NULL]))
    if op is Op.IS_NULL:
        return Condition(name, draw(st.sampled_from([Op.IS_NULL, Op.IS_NOT_NULL])))
    return Condition(name, op, text_operand(draw, values, op))


def times(rows: list[Row]) -> list[datetime]:
    return sorted({r[name] for r in rows for name in TIMES if r[name] is not None})


def trees(rows: list[Row]) -> st.SearchStrategy[Predicate]:
    def compound(children: st.SearchStrategy[Predicate]) -> st.SearchStrategy[Predicate]:
        several = st.lists(children, min_size=1, max_size=3).map(tuple)
        return st.one_of(several.map(And), several.map(Or), children.map(Not))

    return st.recursive(conditions(rows), compound, max_leaves=6)


def cortex(value: str) -> str:
    """Cortex's spelling of an enum value: IN_PROGRESS is InProgress."""
    return value.title().replace("_", "")


async def matching(env: Env, deleted: bool, **spelling: Any) -> list[str]:
    variables = {"deleted": deleted, "filter": None, "tql": None, **spelling}
    return sorted(node["id"] for node in await pages(env, MATCHING, variables))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_server_agrees_with_the_reference_in_both_spellings(env: Env, data: Any) -> None:
    rows = await demo_rows(env)
    tree = data.draw(trees(rows), label="tree")
    deleted = data.draw(st.booleans(), label="includeDeleted")
    enum_case = data.draw(st.sampled_from([str.upper, str.lower, str.title, cortex]))
    visible = [r for r in rows if deleted or r["status"] != "DELETED"]
    expected = sorted(r["id"] for r in visible if evaluate(tree, r) is True)
    tql = to_tql(tree, enum_case)
    typed = to_filter(tree)
    note = f"tql: {tql}\nfilter: {json.dumps(typed)}"
    assert await matching(env, deleted, filter=typed) == expected, note
    assert await matching(env, deleted, tql=tql) == expected, note


STATS = """
query ($filter: JobFilter, $tql: String, $deleted: Boolean!, $by: [JobStatsDimension!]!) {
  jobStats(filter: $filter, tql: $tql, includeDeleted: $deleted, groupBy: $by) {
    total truncated
    groups { status analyzerId analyzerName dataType tlp verdict bucketStart count }
  }
}"""
GROUP_KEYS = {"STATUS": ("status",), "ANALYZER": ("analyzerId", "analyzerName"),
              "DATA_TYPE": ("dataType",), "TLP": ("tlp",), "VERDICT": ("verdict",)}  # fmt: skip


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_job_stats_agree_with_a_python_count(env: Env, data: Any) -> None:
    rows = await demo_rows(env)
    tree = data.draw(trees(rows), label="tree")
    deleted = data.draw(st.booleans(), label="includeDeleted")
    by = data.draw(st.lists(st.sampled_from(list(GROUP_KEYS)), min_size=1, max_size=3, unique=True))
    visible = [r for r in rows if deleted or r["status"] != "DELETED"]
    matched = [r for r in visible if evaluate(tree, r) is True]
    expected: dict[tuple[Any, ...], int] = {}
    for row in matched:
        key = tuple(row[name] for d in by for name in GROUP_KEYS[d])
        expected[key] = expected.get(key, 0) + 1
    spellings = {"filter": to_filter(tree)}, {"tql": to_tql(tree, str.lower)}
    for spelling in spellings:
        variables = {"deleted": deleted, "by": by, "filter": None, "tql": None, **spelling}
        stats = (await env.data(STATS, variables))["jobStats"]
        found = {
            tuple(g[name] for d in by for name in GROUP_KEYS[d]): g["count"]
            for g in stats["groups"]
        }
        note = f"groupBy {by}, {spelling}"
        assert found == expected and stats["total"] == len(matched), note
        assert not stats["truncated"]
        counts = [g["count"] for g in stats["groups"]]
        assert counts == sorted(counts, reverse=True), note
        unused = {"status", "analyzerId", "analyzerName", "dataType", "tlp", "verdict"}
        unused -= {name for d in by for name in GROUP_KEYS[d]}
        assert all(g[name] is None for g in stats["groups"] for name in unused)
        with raw_only():  # the rollup's answer (when it can give one) is the GROUP BY's
            assert (await env.data(STATS, variables))["jobStats"] == stats, note
