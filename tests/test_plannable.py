"""Which read fields the compiled planner answers, listed: a read field added without planner
support is answered field by field (slower, and no other test notices), so it fails here until
it is planned or written into UNPLANNED on purpose. One read engine (issue 16) empties the list.

For each field of each object type reachable from Query, a query reaching it by the shortest
planned path (required arguments as variables) is given to the planner; nothing runs. (The
planner also declines `@skip`/`@include` today: a directive is not a field, so not listed.)
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

from graphql import (
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    Undefined,
    get_named_type,
    parse,
)

from app.config import Settings
from app.db.engine import Database
from app.graphql.compiled import CompiledQueries
from app.graphql.schema import build_schema

# Answered field by field today; each name here is a read the planner does not cover yet.
UNPLANNED = {
    "Query.me",
    "Query.node",
    "Query.nodes",
    "Query.analyzer",
    "Query.analyzers",
    "Query.tqlFields",
    "Query.workers",
    "Query.apiKeys",
    "Query.auditEvents",
    "Analyzer.lastJob",
    "Analyzer.jobs",
    "Analyzer.queueDepth",
    "Attachment.downloadUrl",
    "Artifact.attachment",
    "Job.queue",
    "Job.viewerCanCancel",
    "Job.viewerCanDelete",
    # live updates' polling side (docs/live.md): a log read, not a job listing
    "Query.jobUpdates",
    "Query.jobStatuses",
    "Query.waitJob",
    "JobEvent.cursor",
    # types that only unplanned fields lead to
    "AnalyzerConnection.*",
    "AnalyzerEdge.*",
    "ApiKeyInfo.*",
    "AuditEvent.*",
    "AuditEventConnection.*",
    "AuditEventEdge.*",
    "JobQueueInfo.*",
    "JobStatusEntry.*",
    "JobUpdate.*",
    "JobUpdateConnection.*",
    "JobUpdateEdge.*",
    "TqlField.*",
    "Viewer.*",
    "WorkerInfo.*",
}


def _census(schema: GraphQLSchema, compiled: CompiledQueries) -> set[str]:
    """Unplanned fields as "Type.field", and "Type.*" for a type no planned field leads to."""

    def plans(path: list[tuple[str, GraphQLField]]) -> bool:
        query = _query(path)
        return compiled._plan(query, parse(query), None) is not None

    assert schema.query_type is not None
    paths: dict[GraphQLObjectType, list[tuple[str, GraphQLField]]] = {schema.query_type: []}
    waiting, unplanned = deque([schema.query_type]), set()
    while waiting:  # breadth first along planned fields only: shortest planned paths
        kind = waiting.popleft()
        for name, field in kind.fields.items():
            target = get_named_type(field.type)
            if not plans(paths[kind] + [(name, field)]):
                unplanned.add(f"{kind.name}.{name}")
            elif isinstance(target, GraphQLObjectType) and target not in paths:
                paths[target] = paths[kind] + [(name, field)]
                waiting.append(target)
    return unplanned | {f"{kind.name}.*" for kind in _reachable(schema) - set(paths)}


def _reachable(schema: GraphQLSchema) -> set[GraphQLObjectType]:
    assert schema.query_type is not None
    found, waiting = {schema.query_type}, deque([schema.query_type])
    while waiting:
        for field in waiting.popleft().fields.values():
            target = get_named_type(field.type)
            if isinstance(target, GraphQLObjectType) and target not in found:
                found.add(target)
                waiting.append(target)
    return found


def _query(path: list[tuple[str, GraphQLField]]) -> str:
    variables: list[str] = []
    selection = ""
    for name, field in reversed(path):
        arguments = []
        for arg_name, arg in field.args.items():
            if isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined:
                variable = f"v{len(variables)}"
                variables.append(f"${variable}: {arg.type}")
                arguments.append(f"{arg_name}: ${variable}")
        called = f"{name}({', '.join(arguments)})" if arguments else name
        inner = selection or ("{ __typename }" if _is_object(field) else "")
        selection = f"{{ {called} {inner} }}"
    header = f"query Census({', '.join(variables)})" if variables else "query Census"
    return f"{header} {selection}"


def _is_object(field: GraphQLField) -> bool:
    return not hasattr(get_named_type(field.type), "serialize")


def test_every_read_field_is_planned_or_listed(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/unused.db")
    db = Database(settings)
    compiled = CompiledQueries(build_schema(settings), settings, db)
    assert _census(compiled.schema, compiled) == UNPLANNED
