"""`@hasRole`: a permission that prints as a schema directive and is enforced by the server."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.schema_directive import Location

from app.auth import Role
from app.errors import Forbidden
from app.graphql.context import Info
from app.graphql.enums import describe_values

RoleEnum = describe_values(
    strawberry.enum(
        Role,
        name="Role",
        description="What a user may do: READ queries; ANALYZE also submits, cancels and "
        "deletes jobs; ORGADMIN also bulk-deletes, purges and manages analyzers and keys; WORKER "
        "is the machine role of analyzer runners, which claim jobs and report their results.",
    ),
    {
        "READ": "May query the organization's jobs, analyzers and attachments.",
        "ANALYZE": "READ, and may submit, cancel and delete jobs.",
        "ORGADMIN": "ANALYZE, and may bulk-delete, bulk-cancel and purge jobs, manage the "
        "organization's analyzers and API keys, and read its audit trail.",
        "WORKER": "An analyzer runner's machine key: claims the organization's jobs, "
        "heartbeats its leases and reports their results; cannot submit, cancel or delete.",
    },
)


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    name="hasRole",
    description="The caller needs one of these roles; without it the field answers FORBIDDEN.",
)
class HasRoleDirective:
    roles: list[RoleEnum]  # type: ignore[valid-type]


class HasRole(BasePermission):
    """Passes when the caller holds any of `roles`; otherwise FORBIDDEN, and nothing runs."""

    def __init__(self, *roles: Role) -> None:
        self.roles = frozenset(roles)
        self._schema_directive = HasRoleDirective(roles=list(roles))  # type: ignore[misc]

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return bool(self.roles & info.context.principal.roles)

    def on_unauthorized(self) -> None:
        names = ", ".join(sorted(self.roles))
        raise Forbidden(f"This needs one of the roles: {names}", roles=sorted(self.roles))


def guarded(*roles: Role) -> list[Any]:
    """Checked before the resolver runs, and printed as @hasRole in the schema."""
    return [PermissionExtension(permissions=[HasRole(*roles)])]
