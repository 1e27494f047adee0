"""The root Mutation: thin resolvers over the lifecycle services, each guarded by @hasRole."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry

from app.auth import Role
from app.errors import BadUserInput
from app.graphql.context import Info
from app.graphql.filter_tree import compile_filter
from app.graphql.filters import JobFilterArg, TqlArg
from app.graphql.permissions import guarded
from app.graphql.types import Job
from app.services import lifecycle, removal
from app.tql import JOB_FIELDS, And, Not, Or, Predicate

MAX_REASON_LENGTH = 1000  # a reason is a sentence; it is stored in every CANCELLED event

JobId = Annotated[strawberry.ID, strawberry.argument(description="The job's id.")]
Reason = Annotated[
    str | None,
    strawberry.argument(
        description=f"Why (at most {MAX_REASON_LENGTH} characters); kept as the message of "
        "the CANCELLED event."
    ),
]


def names_a_field(tree: Predicate | None) -> bool:
    """Whether the condition tests any field: `{}`, `{and: [{}]}` or `{not: {or: []}}` are
    constants that would match every finished job, far more likely a slip than a wish."""
    if isinstance(tree, And | Or):
        return any(names_a_field(item) for item in tree.items)
    if isinstance(tree, Not):
        return names_a_field(tree.item)
    return tree is not None


def condition(filter: Any, tql: str | None) -> dict[str, Any]:
    """The condition of a bulk change as given, for its audit event's details."""
    return {"filter": _plain(filter) if filter else None, "tql": tql}


def _plain(value: Any) -> Any:
    """A filter input as JSON: its given fields only (UNSET left out), enums by value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = ((f.name, getattr(value, f.name)) for f in dataclasses.fields(value))
        return {_graphql_name(n): _plain(v) for n, v in fields if v is not strawberry.UNSET}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _graphql_name(name: str) -> str:
    """`data_type` → `dataType`, `in_` → `in`: the names the caller wrote."""
    head, *rest = name.rstrip("_").split("_")
    return head + "".join(word.title() for word in rest)


def fresh(info: Info, row: Any) -> Job:
    """The job as the mutation left it; later reads in this request must not see it stale."""
    info.context.loaders.clear_job(row.id)
    info.context.loaders.job_by_id.prime(row.id, row)
    return Job.from_row(row)


@strawberry.type(
    description="Everything that changes jobs. Each field names the roles it needs (@hasRole); "
    "every change is recorded in the job's events."
)
class Mutation:
    @strawberry.mutation(
        description="Cancels a WAITING or IN_PROGRESS job. On a CANCELLED job it returns the "
        "job unchanged; on any other finished or a DELETED job it is a CONFLICT, with the "
        "current status in extensions.status.",
        extensions=guarded(Role.ANALYZE, Role.ORGADMIN),
    )
    async def cancel_job(self, info: Info, id: JobId, reason: Reason = None) -> Job:
        if reason is not None and len(reason) > MAX_REASON_LENGTH:
            message = f"reason: at most {MAX_REASON_LENGTH} characters"
            raise BadUserInput(message, argument="reason")
        principal = info.context.principal
        row = await lifecycle.cancel_job(
            info.context.db,
            organization=principal.organization,
            job_id=id,
            actor=principal.login,
            reason=reason,
        )
        return fresh(info, row)

    @strawberry.mutation(
        description="Soft-deletes a job, whatever its status: it becomes DELETED and keeps its "
        "data. On a DELETED job it returns the job unchanged.",
        extensions=guarded(Role.ANALYZE, Role.ORGADMIN),
    )
    async def delete_job(self, info: Info, id: JobId) -> Job:
        principal = info.context.principal
        row = await lifecycle.delete_job(
            info.context.db, organization=principal.organization, job_id=id, actor=principal.login
        )
        return fresh(info, row)

    @strawberry.mutation(
        description="Soft-deletes the organization's finished jobs (SUCCESS, FAILURE, TIMEOUT, "
        "CANCELLED) that match `filter` AND `tql`, and returns how many. The condition must "
        "name at least one field (else BAD_USER_INPUT): deleting them all takes saying so.",
        extensions=guarded(Role.ORGADMIN),
    )
    async def delete_jobs(self, info: Info, filter: JobFilterArg = None, tql: TqlArg = None) -> int:
        compiled = compile_filter(JOB_FIELDS, filter, tql, info.context.settings)
        if compiled.where is None or not names_a_field(compiled.key):
            raise BadUserInput(
                "Give a filter or tql that names a field: deleteJobs never deletes every "
                "finished job by default",
                argument="filter",
            )
        principal = info.context.principal
        return await removal.delete_jobs(
            info.context.db,
            organization=principal.organization,
            predicate=compiled.where,
            actor=principal.login,
            details=condition(filter, tql),
        )

    @strawberry.mutation(
        description="Removes a job for good, whatever its status: the job, its report, "
        "artifacts and events, and every attachment and file no other row uses. Returns the id.",
        extensions=guarded(Role.ORGADMIN),
    )
    async def purge_job(self, info: Info, id: JobId) -> strawberry.ID:
        context, principal = info.context, info.context.principal
        await removal.purge_job(
            context.db,
            context.blobs,
            organization=principal.organization,
            job_id=id,
            actor=principal.login,
        )
        context.loaders.clear_job(id)
        return id
