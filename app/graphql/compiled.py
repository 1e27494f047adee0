"""Compiled queries: a read of jobs planned once per document, answered from a few statements.

Field-by-field execution costs Python time per field of every object, and a statement per
relation; a page of 50 jobs with their analyzer and report costs 4 statements and ~1,000 field
resolutions. For the reads clients send over and over, this module does what PostGraphile does:
it plans the operation once (per document text and operation name) into SQL and a builder of
the response. At run time it coerces the request's variables and arguments, runs the page with
its analyzer, attachment and report joined in as one statement, the report's artifacts as one
more, totalCount and the pageInfo probe only when selected, and builds the response from rows.

It serves `job(id)` and `jobs(…)` at the root and, below them, a job's own fields, its analyzer,
attachment and report (summary, full, artifacts), edges, nodes, cursors, pageInfo and
totalCount, with aliases and fragments. An operation asking for anything else (another root
field, events, downloadUrl, an analyzer's jobs, a directive, introspection) is not compiled,
and graphql-core's executor answers it. So is a request that fails here in any way (a variable
of the wrong type, a bad cursor, a TQL mistake, a failing statement): a query only reads, so
answering it again costs time, never correctness, and the executor then says what is wrong,
in the standard form. `tests/test_compiled.py` checks both give the same bytes.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_operation_ast,
    is_leaf_type,
    specified_rules,
)
from graphql.execution.collect_fields import (
    FieldDetailsList,
    FragmentDetails,
    collect_fields,
    collect_subfields,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from sqlalchemy import ColumnElement, Select, bindparam, select
from sqlalchemy.util import LRUCache
from strawberry.types.arguments import convert_arguments

from app.auth import Principal
from app.config import Settings
from app.db.deadline import is_pool_timeout
from app.db.engine import Database
from app.db.lists import values_parameter
from app.db.models import artifacts, job_events, jobs
from app.db.raw import Fetch
from app.graphql.documents import parse_document, validation_errors
from app.graphql.errors import present
from app.graphql.executor import STRAWBERRY_FIELD
from app.graphql.limits import ShapeLimits, check_shape
from app.graphql.stats import stats_statement
from app.graphql.types import JobListArgs, settings_page_size
from app.pagination import Ordering
from app.services.jobs import (
    ANALYZER,
    ATTACHMENT,
    REPORT,
    artifacts_query,
    events_query,
    jobs_joined,
    scope_where,
)
from app.services.listing import Listing, behind_query, count_query, cut, page_query
from app.services.stats import Stats, StatsGroup, stats_of
from app.services.verdicts import verdict_name

log = logging.getLogger("jobql.compiled")
PLANS = 512
NO_VARIABLES = VariableValues(sources={}, coerced={})
RULES = tuple(specified_rules)  # as strawberry validates: the same cached validation

Row = Any
Loaded = dict[str, Any]  # what the statements after the main one read, e.g. artifacts by job
Get = Callable[[Row, Loaded], Any]  # one value of the response, from a row


class Unsupported(Exception):
    """Not compiled: graphql-core's executor answers this operation."""


@dataclass(frozen=True)
class Request:
    """What one run needs: the database, the caller, and the request's coerced variables."""

    db: Database
    settings: Settings
    organization: str
    variables: VariableValues


class CompiledQueries:
    """Plans by document text and operation name, and answers requests with them."""

    def __init__(self, schema: Any, settings: Settings, db: Database) -> None:
        self.strawberry = schema
        self.schema: GraphQLSchema = schema._schema
        self.settings, self.db = settings, db
        self.limits = ShapeLimits.from_settings(settings)
        self.plans: LRUCache[tuple[str, str | None], Plan | None] = LRUCache(PLANS)

    async def answer(
        self,
        query: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        principal: Principal,
    ) -> dict[str, Any] | None:
        """The response's body, or None: then graphql-core's executor answers instead."""
        try:
            document = parse_document(query, self.settings.max_tokens)
        except GraphQLError:
            return None
        # The shape limits first, as for any request: validation can be costly past them.
        if check_shape(self.schema, document, variables, self.limits, query) is not None:
            return None
        key = (query, operation_name)
        if key not in self.plans:
            self.plans[key] = self._plan(query, document, operation_name)
        plan = self.plans[key]
        if plan is None:
            return None
        coerced = get_variable_values(
            self.schema, plan.operation.variable_definitions or (), variables or {}
        )
        if isinstance(coerced, list):
            return None
        request = Request(self.db, self.settings, principal.organization, coerced)
        try:
            return await plan.run(request)
        except Exception as error:
            if is_pool_timeout(error):
                raise  # no connection was free: the executor would only wait again
            log.debug("compiled query declined; the executor answers", exc_info=True)
            return None  # the executor answers, and reports what went wrong

    def _plan(self, query: str, document: DocumentNode, operation_name: str | None) -> Plan | None:
        max_tokens = self.settings.max_tokens
        if validation_errors(self.schema, query, max_tokens, RULES):
            return None
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation is not OperationType.QUERY:
            return None
        try:
            return _Planner(self.strawberry, document, operation).plan()
        except Unsupported as reason:
            log.debug("not compiled (%s): %.200s", reason, query)
            return None


Root = Callable[[Request], Callable[[Fetch], Awaitable[Any]]]


@dataclass(frozen=True)
class Plan:
    operation: OperationDefinitionNode
    roots: tuple[tuple[str, Root], ...]
    nodes: dict[str, FieldNode]  # by response key: where an error at the root field points
    nullable: frozenset[str]  # response keys whose field may be null: an error nulls only it

    async def run(self, request: Request) -> dict[str, Any]:
        # Every argument is read (and may fail) before the first statement: such a failure
        # raises, and the executor answers it in its own words, having run nothing either.
        ready = [(key, root(request)) for key, root in self.roots]
        data: dict[str, Any] = {}
        errors: list[GraphQLError] = []
        async with request.db.raw.connection() as fetch:
            for key, part in ready:
                try:
                    data[key] = await part(fetch)
                except Exception as error:
                    if is_pool_timeout(error):
                        raise
                    # Once a statement has run, nothing runs again: the failure is this
                    # field's error, reported once (a statement timeout is TIMEOUT).
                    errors.append(self._field_error(key, error))
                    data[key] = None
        if not errors:
            return {"data": data}
        nulled = all(error.path and error.path[0] in self.nullable for error in errors)
        return {"data": data if nulled else None, "errors": [e.formatted for e in errors]}

    def _field_error(self, key: str, error: Exception) -> GraphQLError:
        located = GraphQLError(str(error), self.nodes[key], path=[key], original_error=error)
        return present(located)


class Columns:
    """The columns one statement selects, each once, by position."""

    def __init__(self, items: Sequence[ColumnElement[Any]] = ()) -> None:
        self.items: list[ColumnElement[Any]] = []
        self._at: dict[int, int] = {}
        for item in items:
            self.at(item)

    def at(self, column: ColumnElement[Any]) -> int:
        if id(column) not in self._at:
            self._at[id(column)] = len(self.items)
            self.items.append(column)
        return self._at[id(column)]

    def find(self, column: ColumnElement[Any]) -> int | None:
        return self._at.get(id(column))


@dataclass(frozen=True)
class _Children:
    """Rows of a table that hang off a job (events, a report's artifacts): one more statement
    for all the page's jobs, grouped by job id."""

    table: Any
    query: Callable[[str, Any], Any]  # (dialect, job ids) -> the statement
    parent: ColumnElement[Any]  # the job id in the main statement's row (NULL: none to read)
    statements: dict[str, Any] = dataclasses.field(default_factory=dict)  # by dialect

    @functools.cached_property
    def positions(self) -> dict[str, int]:
        """Where each column stands in a row (the statement selects the whole table)."""
        return {name: i for i, name in enumerate(self.table.c.keys())}

    def at(self, column: str) -> int:
        return self.positions[column]

    def statement(self, dialect: str) -> Any:
        """Built once, run with the page's job ids as `job_ids`."""
        if dialect not in self.statements:
            ids = values_parameter(dialect, self.table.c.job_id, "job_ids")
            self.statements[dialect] = self.query(dialect, ids)
        return self.statements[dialect]


EVENTS = _Children(job_events, events_query, jobs.c.id)
ARTIFACTS = _Children(artifacts, artifacts_query, REPORT.c.job_id)


@dataclass
class _JobShape:
    """What a selection of Job needs: columns, joins, and the children it reads."""

    columns: Columns
    joins: set[str]
    children: dict[str, _Children] = dataclasses.field(default_factory=dict)
    bases: LRUCache[str, tuple[Select[Any], list[int]]] = dataclasses.field(
        default_factory=lambda: LRUCache(64)
    )

    def base(self, ordering: Ordering) -> tuple[Select[Any], list[int]]:
        """SELECT … FROM the joins, with the sort keys of `ordering` too (for cursors), and
        where those keys are in a row. Built once per ordering."""
        if ordering.signature not in self.bases:
            columns = Columns(self.columns.items)
            keys = [columns.at(key.expression) for key in ordering.keys]
            base = select(*columns.items).select_from(jobs_joined(frozenset(self.joins)))
            self.bases[ordering.signature] = (base, keys)
        return self.bases[ordering.signature]

    def child(self, name: str, children: _Children) -> Callable[[Row, Loaded], list[Row]]:
        """The rows of `children` of a main row, once `loaded` has read them."""
        self.children[name] = children
        at = self.columns.at(children.parent)
        return lambda row, loaded: loaded[name].get(row[at], [])

    async def loaded(self, fetch: Fetch, rows: Sequence[Row], db: Database) -> Loaded:
        """What the rows' builders read besides the rows: their children, by job id."""
        loaded: Loaded = {}
        for name, children in self.children.items():
            at = self.columns.at(children.parent)
            ids = [row[at] for row in rows if row[at] is not None]
            by_job: dict[str, list[Row]] = defaultdict(list)
            job_at = children.at("job_id")
            statement = children.statement(db.dialect)
            for row in await fetch(statement, {"job_ids": ids}) if ids else ():
                by_job[row[job_at]].append(row)
            loaded[name] = by_job
        return loaded


class _Planner:
    """Walks one operation's selections (fragments merged, aliases kept) into a Plan."""

    def __init__(self, strawberry_schema: Any, document: DocumentNode, op: Any) -> None:
        self.strawberry = strawberry_schema
        self.schema: GraphQLSchema = strawberry_schema._schema
        self.operation = op
        self.fragments = {
            d.name.value: FragmentDetails(d)
            for d in document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }

    def plan(self) -> Plan:
        if self.operation.directives:
            raise Unsupported("directives")
        _refuse_directives(self.operation.selection_set, self.fragments, set())
        if any(f.definition.variable_definitions for f in self.fragments.values()):
            raise Unsupported("fragment variables")
        root = self.schema.query_type
        assert root is not None
        collected = collect_fields(
            self.schema, self.fragments, NO_VARIABLES, root, self.operation
        ).grouped_field_set
        roots = tuple((key, self._root(root, fdl)) for key, fdl in collected.items())
        nodes = {key: fdl[0].node for key, fdl in collected.items()}
        nullable = frozenset(
            key
            for key, fdl in collected.items()
            if fdl[0].node.name.value in root.fields
            and not isinstance(root.fields[fdl[0].node.name.value].type, GraphQLNonNull)
        )
        return Plan(self.operation, roots, nodes, nullable)

    def _fields(self, kind: GraphQLObjectType, fdl: FieldDetailsList) -> list[tuple[str, str, Any]]:
        """(response key, field name, its field details) of a selection on `kind`."""
        collected = collect_subfields(
            self.schema, self.fragments, NO_VARIABLES, self.operation, kind, fdl
        ).grouped_field_set
        return [(key, sub[0].node.name.value, sub) for key, sub in collected.items()]

    def _root(self, root: GraphQLObjectType, fdl: FieldDetailsList) -> Root:
        name = fdl[0].node.name.value
        if name == "__typename":
            return _constant_root(root.name)
        if name not in ("job", "jobs", "jobStats"):
            raise Unsupported(name)
        definition, node = root.fields[name], fdl[0].node
        if name == "jobStats":
            return self._stats_root(definition, node, fdl)
        if name == "job":
            return self._job_root(definition, node, fdl)
        return self._jobs_root(definition, node, fdl)

    def _job_root(self, definition: GraphQLField, node: FieldNode, fdl: FieldDetailsList) -> Root:
        shape = _JobShape(Columns(), set())
        build = self._job(_object_type(definition.type), fdl, shape)
        shape.columns.at(jobs.c.id)

        # Built once: a deleted job is found by id too, as the executor's loader finds it.
        query = (
            select(*shape.columns.items)
            .select_from(jobs_joined(frozenset(shape.joins)))
            .where(
                scope_where(bindparam("organization"), include_deleted=True),
                jobs.c.id == bindparam("id"),
            )
        )

        def root(request: Request) -> Callable[[Fetch], Awaitable[Any]]:
            job_id = get_argument_values(definition, node, request.variables)["id"]
            values = {"organization": request.organization, "id": job_id}

            async def run(fetch: Fetch) -> Any:
                rows = await fetch(query, values)
                if not rows:
                    return None
                return build(rows[0], await shape.loaded(fetch, rows, request.db))

            return run

        return root

    def _jobs_root(self, definition: GraphQLField, node: FieldNode, fdl: FieldDetailsList) -> Root:
        connection = self._connection(_object_type(definition.type), fdl)
        arguments_of = self._arguments(definition, node)

        def root(request: Request) -> Callable[[Fetch], Awaitable[Any]]:
            args = JobListArgs.of(request.settings, **arguments_of(request))
            listing = args.listing(request.organization, settings_page_size(request.settings))
            return lambda fetch: connection.run(fetch, request, listing)

        return root

    def _arguments(
        self, definition: GraphQLField, node: FieldNode
    ) -> Callable[[Request], dict[str, Any]]:
        """The field's arguments as its strawberry resolver would receive them, per request."""
        strawberry_field = (definition.extensions or {})[STRAWBERRY_FIELD]
        converter = self.strawberry.schema_converter

        def arguments(request: Request) -> dict[str, Any]:
            values = get_argument_values(definition, node, request.variables)
            converted: dict[str, Any] = convert_arguments(
                values, strawberry_field.arguments, converter.scalar_registry, converter.config
            )
            return converted

        return arguments

    def _stats_root(self, definition: GraphQLField, node: FieldNode, fdl: FieldDetailsList) -> Root:
        """jobStats: the service's one GROUP BY statement, its rows built into the selection."""
        kind = _object_type(definition.type)
        parts: list[tuple[str, str, Any]] = []
        for key, name, sub in self._fields(kind, fdl):
            if name == "groups":
                group = _object_type(kind.fields[name].type)
                fields = [(k, n) for k, n, _ in self._fields(group, sub)]
                if any(n not in _GROUP_FIELDS and n != "__typename" for _, n in fields):
                    raise Unsupported("a JobStatsGroup field")
                parts.append((key, name, (group.name, fields)))
            elif name in ("total", "truncated", "__typename"):
                parts.append((key, name, kind.name))
            else:
                raise Unsupported(name)
        arguments_of = self._arguments(definition, node)

        def root(request: Request) -> Callable[[Fetch], Awaitable[Any]]:
            arguments = arguments_of(request)
            statement, dimensions = stats_statement(
                request.settings,
                request.organization,
                arguments.get("filter"),
                arguments.get("tql"),
                arguments.get("include_deleted", False),
                arguments["group_by"],
                arguments["bucket"],
            )

            async def run(fetch: Fetch) -> Any:
                return _stats(parts, stats_of(await fetch(statement), dimensions))

            return run

        return root

    def _connection(self, kind: GraphQLObjectType, fdl: FieldDetailsList) -> _Connection:
        shape = _JobShape(Columns(), set())
        parts: list[tuple[str, str, Any]] = []
        for key, name, sub in self._fields(kind, fdl):
            if name in ("nodes", "edges", "pageInfo"):
                child = _object_type(kind.fields[name].type)
            if name == "__typename":
                parts.append((key, name, kind.name))
            elif name == "totalCount":
                parts.append((key, name, None))
            elif name == "nodes":
                parts.append((key, name, self._job(child, sub, shape)))
            elif name == "edges":
                parts.append((key, name, self._edge(child, sub, shape)))
            elif name == "pageInfo":
                parts.append((key, name, (child.name, self._fields(child, sub))))
            else:
                raise Unsupported(name)
        return _Connection(shape, tuple(parts))

    def _edge(
        self, kind: GraphQLObjectType, fdl: FieldDetailsList, shape: _JobShape
    ) -> list[tuple[str, str, Any]]:
        parts: list[tuple[str, str, Any]] = []
        for key, name, sub in self._fields(kind, fdl):
            if name == "node":
                child = _object_type(kind.fields[name].type)
                parts.append((key, name, self._job(child, sub, shape)))
            elif name in ("cursor", "__typename"):
                parts.append((key, name, kind.name))
            else:
                raise Unsupported(name)
        return parts

    # Objects built from a row of the main statement.

    def _job(self, kind: GraphQLObjectType, fdl: FieldDetailsList, shape: _JobShape) -> Get:
        cols = shape.columns

        def field(name: str, definition: GraphQLField, sub: FieldDetailsList) -> Get:
            if name == "analyzer":
                shape.joins.add(name)
                built = self._row_object(_object_type(definition.type), sub, ANALYZER, cols, {})
                return _unless_null(cols.at(ANALYZER.c.id), built)
            if name == "attachment":
                shape.joins.add(name)
                at = [cols.at(ATTACHMENT.c[c]) for c in ("sha256", "sha1", "md5")]
                special = {"hashes": lambda row, _: [row[i] for i in at]}
                child = _object_type(definition.type)
                built = self._row_object(child, sub, ATTACHMENT, cols, special)
                return _unless_null(cols.at(ATTACHMENT.c.id), built)
            if name == "events":
                rows = shape.child(name, EVENTS)
                one = self._child_object(_object_type(definition.type), sub, EVENTS)
                return lambda row, loaded: [one(e, loaded) for e in rows(row, loaded)]
            if name == "report":
                shape.joins.add(name)
                built = self._report(_object_type(definition.type), sub, shape)
                return _unless_null(cols.at(REPORT.c.job_id), built)
            if name == "verdict":  # stored as its rank
                return _At(cols.at(jobs.c.verdict), verdict_name)
            return _column(definition, jobs, cols, {"organization": "organization_id"})

        return self._object(kind, fdl, field)

    def _report(self, kind: GraphQLObjectType, fdl: FieldDetailsList, shape: _JobShape) -> Get:
        cols = shape.columns

        def artifacts_of(definition: GraphQLField, sub: FieldDetailsList) -> Get:
            rows = shape.child("artifacts", ARTIFACTS)
            one = self._child_object(_object_type(definition.type), sub, ARTIFACTS)
            return lambda row, loaded: [one(a, loaded) for a in rows(row, loaded)]

        def summary_of(definition: GraphQLField, sub: FieldDetailsList) -> Get:
            at = cols.at(REPORT.c.taxonomies)

            def field(name: str, definition: GraphQLField, sub: FieldDetailsList) -> Get:
                if name != "taxonomies":
                    raise Unsupported(name)
                one = self._taxonomy(_object_type(definition.type), sub)
                return lambda row, loaded: [one(t, loaded) for t in row[at]]

            return self._object(_object_type(definition.type), sub, field)

        def field(name: str, definition: GraphQLField, sub: FieldDetailsList) -> Get:
            if name == "artifacts":
                return artifacts_of(definition, sub)
            if name == "summary":
                return summary_of(definition, sub)
            if name == "full":
                at = cols.at(REPORT.c.full)  # read only when selected: it can be big
                return lambda row, _: row[at]
            return _column(definition, REPORT, cols, {})

        return self._object(kind, fdl, field)

    def _row_object(
        self,
        kind: GraphQLObjectType,
        fdl: FieldDetailsList,
        table: Any,
        cols: Columns,
        special: dict[str, Get],
    ) -> Get:
        def field(name: str, definition: GraphQLField, _: FieldDetailsList) -> Get:
            return special[name] if name in special else _column(definition, table, cols, {})

        return self._object(kind, fdl, field)

    # Objects built from other values: an artifact's row, a taxonomy's JSON object.

    def _child_object(
        self, kind: GraphQLObjectType, fdl: FieldDetailsList, children: _Children
    ) -> Get:
        def field(name: str, definition: GraphQLField, _: FieldDetailsList) -> Get:
            column = _python_name(definition)
            if column not in children.table.c:
                raise Unsupported(name)
            at = children.at(column)
            return _converted(at, definition.type)

        return self._object(kind, fdl, field)

    def _taxonomy(self, kind: GraphQLObjectType, fdl: FieldDetailsList) -> Get:
        def field(name: str, definition: GraphQLField, _: FieldDetailsList) -> Get:
            key = _python_name(definition)
            return _converted(key, definition.type)

        return self._object(kind, fdl, field)

    def _object(
        self,
        kind: GraphQLObjectType,
        fdl: FieldDetailsList,
        field: Callable[[str, GraphQLField, FieldDetailsList], Get],
    ) -> Get:
        fields: list[tuple[str, Get]] = []
        for key, name, sub in self._fields(kind, fdl):
            if name == "__typename":
                fields.append((key, _constant(kind.name)))
            elif name.startswith("__"):
                raise Unsupported(name)
            else:
                fields.append((key, field(name, kind.fields[name], sub)))
        return _builder(tuple(fields))


@dataclass(frozen=True)
class _Connection:
    """A jobs connection: the page statement, then count and probe only when selected."""

    shape: _JobShape
    parts: tuple[tuple[str, str, Any], ...]

    async def run(self, fetch: Fetch, request: Request, listing: Listing) -> dict[str, Any]:
        ordering, window = listing.ordering, listing.window
        base, keys = self.shape.base(ordering)
        page = cut(await fetch(page_query(listing, base)), window)
        rows = page.rows
        loaded = await self.shape.loaded(fetch, rows, request.db)
        cursors = [ordering.encode([row[i] for i in keys]) for row in rows]
        out: dict[str, Any] = {}
        for key, name, part in self.parts:
            if name == "totalCount":
                out[key] = (await fetch(count_query(listing)))[0][0]
            elif name == "nodes":
                out[key] = [part(row, loaded) for row in rows]
            elif name == "edges":
                paired = zip(rows, cursors, strict=True)
                out[key] = [_edge(part, row, cursor, loaded) for row, cursor in paired]
            elif name == "pageInfo":
                out[key] = await _page_info(part, fetch, listing, page.has_more, cursors)
            else:
                out[key] = part
        return out


_GROUP_FIELDS = {
    "status": "status",
    "analyzerId": "analyzer_id",
    "analyzerName": "analyzer_name",
    "dataType": "data_type",
    "tlp": "tlp",
    "verdict": "verdict",
    "bucketStart": "bucket_start",
    "count": "count",
}


def _stats(parts: list[tuple[str, str, Any]], found: Stats) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, name, part in parts:
        if name == "groups":
            typename, fields = part
            out[key] = [_group(group, typename, fields) for group in found.groups]
        elif name == "__typename":
            out[key] = part
        else:
            out[key] = getattr(found, name)
    return out


def _group(group: StatsGroup, typename: str, fields: list[tuple[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, name in fields:
        if name == "__typename":
            out[key] = typename
            continue
        value = getattr(group, _GROUP_FIELDS[name])
        out[key] = _time(value) if name == "bucketStart" else value
    return out


def _edge(parts: list[tuple[str, str, Any]], row: Row, cursor: str, loaded: Loaded) -> Any:
    out: dict[str, Any] = {}
    for key, name, part in parts:
        if name == "node":
            out[key] = part(row, loaded)
        else:
            out[key] = cursor if name == "cursor" else part
    return out


async def _page_info(
    selection: tuple[str, list[tuple[str, str, Any]]],
    fetch: Fetch,
    listing: Listing,
    has_more: bool,
    cursors: list[str],
) -> dict[str, Any]:
    backward = listing.window.backward
    typename, parts = selection
    probed: list[bool] = []  # the probe, run once however many fields read it

    async def behind() -> bool:
        if not probed:
            probed.append(await _behind(fetch, listing))
        return probed[0]

    out: dict[str, Any] = {}
    for key, name, _ in parts:
        if name == "hasNextPage":
            out[key] = await behind() if backward else has_more
        elif name == "hasPreviousPage":
            out[key] = has_more if backward else await behind()
        elif name == "startCursor":
            out[key] = cursors[0] if cursors else None
        elif name == "endCursor":
            out[key] = cursors[-1] if cursors else None
        elif name == "__typename":
            out[key] = typename
        else:
            raise Unsupported(name)
    return out


async def _behind(fetch: Fetch, listing: Listing) -> bool:
    query = behind_query(listing)
    return query is not None and bool((await fetch(query))[0][0])


# Leaves.


def _column(definition: GraphQLField, table: Any, cols: Columns, renamed: dict[str, str]) -> Get:
    """A plain field read from its column (named as its Python attribute, or `renamed`)."""
    name = _python_name(definition)
    column = table.c.get(renamed.get(name, name))
    if column is None:
        raise Unsupported(name)
    return _converted(cols.at(column), definition.type)


def _python_name(definition: GraphQLField) -> str:
    """The attribute a field without resolver reads; Unsupported for a field with one."""
    field = (definition.extensions or {}).get(STRAWBERRY_FIELD)
    if field is None or field.base_resolver is not None:
        raise Unsupported("a field with a resolver")
    return str(field.python_name)


@dataclass(frozen=True)
class _At:
    """A leaf read from a row by position (or from a JSON object by key), then converted."""

    at: int | str
    convert: Callable[[Any], Any] | None = None

    def __call__(self, row: Row, _: Loaded) -> Any:
        value = row[self.at]
        return value if self.convert is None else self.convert(value)


def _converted(at: int | str, kind: GraphQLOutputType) -> _At:
    """The leaf at `at`, serialized as the field's type serializes it."""
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        if isinstance(kind, GraphQLList) and _named(kind).name == "DateTime":
            raise Unsupported("a list of DateTime")
        kind = kind.of_type
    if not is_leaf_type(kind):
        raise Unsupported(str(kind))
    if kind.name == "DateTime":
        return _At(at, _time)
    if isinstance(kind, GraphQLEnumType):
        # Served as stored: each name must be its value, as JobStatus and TaxonomyLevel are.
        if any(name != getattr(v.value, "value", v.value) for name, v in kind.values.items()):
            raise Unsupported(kind.name)
    elif kind.name not in ("String", "ID", "Int", "Boolean", "JSON"):
        raise Unsupported(kind.name)
    return _At(at)


def _named(kind: Any) -> Any:
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        kind = kind.of_type
    return kind


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()  # as DateTime does


def _object_type(kind: GraphQLOutputType) -> GraphQLObjectType:
    named = _named(kind)
    if not isinstance(named, GraphQLObjectType):
        raise Unsupported(str(named))
    return named


def _builder(fields: tuple[tuple[str, Get], ...]) -> Get:
    """One function that builds the object as a dict display: `{"id": row[0], "createdAt":
    c1(row[14]), "analyzer": f2(row, loaded)}`. Generated, as dataclasses generates __init__:
    a page builds hundreds of these objects, and this costs a third of a loop over getters.
    Keys are GraphQL names or aliases (the parser allows only [_A-Za-z][_0-9A-Za-z]*), each
    written with repr()."""
    namespace: dict[str, Any] = {}
    items = []
    for index, (key, get) in enumerate(fields):
        if isinstance(get, _At):
            value = f"row[{get.at!r}]"
            if get.convert is not None:
                namespace[f"c{index}"] = get.convert
                value = f"c{index}({value})"
        else:
            namespace[f"f{index}"] = get
            value = f"f{index}(row, loaded)"
        items.append(f"{key!r}: {value}")
    source = f"def build(row, loaded):\n    return {{{', '.join(items)}}}\n"
    exec(source, namespace)  # noqa: S102 - generated from the validated document, see above
    return namespace["build"]  # type: ignore[no-any-return]


def _unless_null(at: int, build: Get) -> Get:
    """A joined object: null when the join found no row (its key column is NULL)."""
    return lambda row, loaded: None if row[at] is None else build(row, loaded)


def _constant(value: Any) -> Get:
    return lambda _row, _loaded: value


def _constant_root(value: str) -> Root:
    async def run(_: Fetch) -> str:
        return value

    return lambda _request: run


def _refuse_directives(
    selections: SelectionSetNode, fragments: dict[str, FragmentDetails], seen: set[str]
) -> None:
    """Unsupported when a directive appears anywhere the operation reaches: @skip/@include
    depend on variables, which a plan made once cannot."""
    for selection in selections.selections:
        if selection.directives:
            raise Unsupported("directives")
        if isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in seen or name not in fragments:
                continue
            seen.add(name)
            definition = fragments[name].definition
            if definition.directives:
                raise Unsupported("directives")
            _refuse_directives(definition.selection_set, fragments, seen)
        elif isinstance(selection, FieldNode | InlineFragmentNode):
            if selection.selection_set is not None:
                _refuse_directives(selection.selection_set, fragments, seen)
