"""ORGADMIN's fields: API keys and the audit trail, within the caller's organization only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from app.auth import Role
from app.graphql.context import Info, ListingBatch
from app.graphql.enums import describe_values
from app.graphql.permissions import RoleEnum, guarded
from app.graphql.scalars import JSON
from app.graphql.types import After, Before, Connection, First, Last, load_connection, page_size
from app.pagination import window
from app.services import users
from app.services.audit import AUDIT_ORDERING, AuditAction, audit_listing

AuditActionEnum = describe_values(
    strawberry.enum(AuditAction, name="AuditAction", description="What an audit event records."),
    {
        "PURGE_JOB": "purgeJob removed a job for good.",
        "DELETE_JOBS": "deleteJobs soft-deleted jobs in bulk (count says how many).",
        "CANCEL_JOBS": "cancelJobs cancelled jobs in bulk (count says how many).",
        "CREATE_API_KEY": "A key was made (createApiKey or `jobql apikey create`).",
        "REVOKE_API_KEY": "A key was revoked (revokeApiKey or `jobql apikey revoke`).",
        "UPDATE_ANALYZER": "updateAnalyzer changed settings (details: before and after).",
        "ADD_ANALYZER": "An analyzer was added (`jobql analyzer add`).",
        "LOCK_USER": "A user was locked (`jobql user lock`).",
        "UNLOCK_USER": "A user was unlocked (`jobql user unlock`).",
        "CREATE_ORGANIZATION": "The organization was created (`jobql org create`).",
    },
)


@strawberry.type(description="An API key, without its secret (which is shown only once).")
class ApiKeyInfo:
    id: strawberry.ID = strawberry.field(description="The key's id: the part after `jq_`.")
    login: str = strawberry.field(description="The user the key belongs to.")
    roles: list[RoleEnum] = strawberry.field(  # type: ignore[valid-type]
        description="The key's own roles: exactly those it was made with."
    )
    created_at: datetime = strawberry.field(description="When it was made.")
    expires_at: datetime | None = strawberry.field(
        description="When it stops working; null: never."
    )
    last_used_at: datetime | None = strawberry.field(
        description="Its last use, written about once a minute; null: never used."
    )
    revoked: bool = strawberry.field(description="Whether it was revoked (then it is refused).")

    @classmethod
    def from_row(cls, row: Any) -> ApiKeyInfo:
        return cls(
            id=strawberry.ID(row.id),
            login=row.login,
            roles=[Role(r) for r in row.roles],
            created_at=row.created_at,
            expires_at=row.expires_at,
            last_used_at=row.last_used_at,
            revoked=row.revoked_at is not None,
        )


@strawberry.type(description="A new API key: `key` is shown this once only.")
class NewApiKey:
    key: str = strawberry.field(
        description="The key to send as `Authorization: Bearer <key>`. Only its digest is "
        "stored: it cannot be shown again."
    )
    info: ApiKeyInfo = strawberry.field(description="The key as `apiKeys` lists it.")


@strawberry.type(description="An administrative or destructive act, kept after a purge.")
class AuditEvent:
    id: strawberry.ID = strawberry.field(description="The event's id.")
    at: datetime = strawberry.field(description="When it happened.")
    actor: str = strawberry.field(
        description="Who: a login, or `cli:<os user>` for the command line."
    )
    action: AuditActionEnum = strawberry.field(  # type: ignore[valid-type]
        description="What was done."
    )
    target: str | None = strawberry.field(
        description="What it named: a job, key, analyzer or login id."
    )
    count: int | None = strawberry.field(description="How many jobs a bulk act changed.")
    details: JSON = strawberry.field(
        description="The rest: a bulk act's condition, settings before and after, …"
    )

    @classmethod
    def from_row(cls, row: Any) -> AuditEvent:
        return cls(
            id=strawberry.ID(str(row.id)),
            at=row.at,
            actor=row.actor,
            action=AuditAction(row.action),
            target=row.target,
            count=row.count,
            details=row.details,
        )


AuditEventConnection = Connection[AuditEvent]
KeyId = Annotated[strawberry.ID, strawberry.argument(description="The key's id (ApiKeyInfo.id).")]


@strawberry.type
class AdminQuery:
    @strawberry.field(
        description="The organization's API keys, revoked ones too, oldest first.",
        extensions=guarded(Role.ORGADMIN),
    )
    async def api_keys(self, info: Info) -> list[ApiKeyInfo]:
        rows = await users.list_api_keys(info.context.db, info.context.principal.organization)
        return [ApiKeyInfo.from_row(row) for row in rows]

    @strawberry.field(
        description="The organization's audit trail, newest first.",
        extensions=guarded(Role.ORGADMIN),
    )
    async def audit_events(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[AuditEvent]:
        page = window(
            AUDIT_ORDERING, page_size(info), first=first, after=after, last=last, before=before
        )
        listing = audit_listing(info.context.principal.organization, page)
        return await load_connection(
            ListingBatch(info.context.db, listing), None, AuditEvent.from_row
        )


@strawberry.type
class AdminMutation:
    @strawberry.mutation(
        description="Makes an API key with exactly `roles` for `login` in the caller's "
        "organization; a new login becomes a user. Any role may be granted, WORKER included. "
        "The key is in the answer this once only.",
        extensions=guarded(Role.ORGADMIN),
    )
    async def create_api_key(
        self,
        info: Info,
        login: Annotated[str, strawberry.argument(description="The key's user.")],
        roles: Annotated[
            list[RoleEnum],  # type: ignore[valid-type]
            strawberry.argument(description="The key's roles (at least one)."),
        ],
        expires_at: Annotated[
            datetime | None,
            strawberry.argument(description="When it stops working; null: never."),
        ] = None,
    ) -> NewApiKey:
        principal = info.context.principal
        created = await users.issue_api_key(
            info.context.db,
            organization=principal.organization,
            login=login,
            roles=[Role(r) for r in roles],
            actor=principal.login,
            expires_at=expires_at,
        )
        return NewApiKey(key=created.token, info=ApiKeyInfo.from_row(created.info))

    @strawberry.mutation(
        description="Revokes a key of the caller's organization: it is refused (HTTP 401) "
        "within the principal cache's 5 s. Revoking a revoked key changes nothing.",
        extensions=guarded(Role.ORGADMIN),
    )
    async def revoke_api_key(self, info: Info, id: KeyId) -> ApiKeyInfo:
        principal = info.context.principal
        row = await users.revoke_api_key(
            info.context.db,
            key_id=str(id),
            actor=principal.login,
            organization=principal.organization,
        )
        return ApiKeyInfo.from_row(row)
