"""Organizations, users and their API keys; each change audited in its own transaction.

A key carries its own roles, exactly those asked for when it was made, and a request made
with it has those roles and no others. A user's roles are the union of the roles its keys
were given (so `me.roles` of an older key still says what that key may do: the key's own).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.auth import Role, new_key
from app.db.engine import Database
from app.db.models import api_keys, organizations, users
from app.errors import BadUserInput, Conflict, NotFound
from app.services import audit
from app.services.audit import AuditAction

KEY_COLUMNS = (
    api_keys.c.id,
    api_keys.c.user_login.label("login"),
    api_keys.c.roles,
    api_keys.c.created_at,
    api_keys.c.expires_at,
    api_keys.c.last_used_at,
    api_keys.c.revoked_at,
)
ORGANIZATION_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MAX_LOGIN = 128


@dataclass(frozen=True, slots=True)
class CreatedKey:
    token: str  # shown once: only its digest is stored
    info: Any  # the key's row (KEY_COLUMNS)


async def create_organization(db: Database, *, id: str, name: str, actor: str) -> None:
    if not ORGANIZATION_ID.fullmatch(id):
        raise BadUserInput(
            "an organization id is 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter "
            "or digit",
            argument="id",
        )
    if not name.strip():
        raise BadUserInput("the name cannot be empty", argument="name")
    async with db.write() as conn:
        if await _organization_exists(conn, id):
            raise Conflict(f"The organization {id!r} exists already")
        now = datetime.now(UTC)
        await conn.execute(insert(organizations).values(id=id, name=name.strip(), created_at=now))
        await audit.record(
            conn,
            organization=id,
            actor=actor,
            action=AuditAction.CREATE_ORGANIZATION,
            target=id,
            details={"name": name.strip()},
        )


async def create_api_key(
    db: Database,
    *,
    organization: str,
    login: str,
    roles: Iterable[Role],
    actor: str = "jobql",
    expires_at: datetime | None = None,
) -> str:
    """issue_api_key's token alone (what tests and seeding scripts want)."""
    created = await issue_api_key(
        db, organization=organization, login=login, roles=roles, actor=actor, expires_at=expires_at
    )
    return created.token


async def issue_api_key(
    db: Database,
    *,
    organization: str,
    login: str,
    roles: Iterable[Role],
    actor: str,
    expires_at: datetime | None = None,
) -> CreatedKey:
    """A new key with exactly `roles` for `login`, creating the user in `organization` if
    new, and adding `roles` to the user's. The token is returned once."""
    asked = sorted({Role(r) for r in roles})
    _check_key_input(login, asked, expires_at)
    now = datetime.now(UTC)
    key = new_key()
    async with db.write() as conn:
        if not await _organization_exists(conn, organization):
            raise NotFound(f"No organization {organization!r}", argument="org")
        await _grant(conn, organization, login, asked, now)
        values = {
            "id": key.key_id,
            "user_login": login,
            "secret_sha256": key.secret_sha256,
            "roles": [r.value for r in asked],
            "created_at": now,
            "expires_at": expires_at,
        }
        await conn.execute(insert(api_keys).values(values))
        await audit.record(
            conn,
            organization=organization,
            actor=actor,
            action=AuditAction.CREATE_API_KEY,
            target=key.key_id,
            details={"login": login, "roles": values["roles"], "expiresAt": _iso(expires_at)},
        )
        info = (await conn.execute(select(*KEY_COLUMNS).where(api_keys.c.id == key.key_id))).one()
    return CreatedKey(token=key.token, info=info)


def _check_key_input(login: str, roles: list[Role], expires_at: datetime | None) -> None:
    if not login.strip() or len(login) > MAX_LOGIN or login != login.strip():
        raise BadUserInput(
            f"a login is 1 to {MAX_LOGIN} characters, without surrounding spaces",
            argument="login",
        )
    if not roles:
        raise BadUserInput("give at least one role", argument="roles")
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise BadUserInput("expiresAt is in the past", argument="expiresAt")


async def _grant(
    conn: AsyncConnection, organization: str, login: str, roles: list[Role], now: datetime
) -> None:
    """Makes `login` a user of `organization` if new; else adds `roles` to its roles."""
    query = select(users.c.organization_id, users.c.roles).where(users.c.login == login)
    user = (await conn.execute(query.with_for_update())).one_or_none()
    if user is None:
        await conn.execute(
            insert(users).values(
                login=login,
                organization_id=organization,
                name=login,
                roles=[r.value for r in roles],
                locked=False,
                created_at=now,
            )
        )
        return
    if user.organization_id != organization:
        # Logins are global; say no more than that this one is taken.
        raise BadUserInput("This login is taken: choose another", argument="login")
    union = sorted(set(user.roles) | {r.value for r in roles})
    if union != sorted(user.roles):
        await conn.execute(update(users).where(users.c.login == login).values(roles=union))


async def list_api_keys(db: Database, organization: str) -> list[Any]:
    """The organization's keys (revoked ones too), oldest first."""
    query = (
        select(*KEY_COLUMNS)
        .join(users, users.c.login == api_keys.c.user_login)
        .where(users.c.organization_id == organization)
        .order_by(api_keys.c.created_at, api_keys.c.id)
    )
    async with db.read() as conn:
        return list(await conn.execute(query))


async def revoke_api_key(
    db: Database, *, key_id: str, actor: str, organization: str | None = None
) -> Any:
    """Revokes the key (within `organization` when given: the API's case); NotFound for an
    unknown key or another organization's. Revoking a revoked key changes nothing."""
    query = (
        select(users.c.organization_id, api_keys.c.revoked_at)
        .join(users, users.c.login == api_keys.c.user_login)
        .where(api_keys.c.id == key_id)
    )
    if organization is not None:
        query = query.where(users.c.organization_id == organization)
    async with db.write() as conn:
        found = (await conn.execute(query.with_for_update(of=api_keys))).one_or_none()
        if found is None:
            raise NotFound("No such API key", argument="id")
        if found.revoked_at is None:
            now = datetime.now(UTC)
            await conn.execute(
                update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=now)
            )
            await audit.record(
                conn,
                organization=found.organization_id,
                actor=actor,
                action=AuditAction.REVOKE_API_KEY,
                target=key_id,
            )
        return (await conn.execute(select(*KEY_COLUMNS).where(api_keys.c.id == key_id))).one()


async def set_locked(
    db: Database, *, organization: str, login: str, locked: bool, actor: str
) -> bool:
    """Locks or unlocks the user; returns whether that changed anything."""
    where = (users.c.login == login) & (users.c.organization_id == organization)
    async with db.write() as conn:
        current = await conn.scalar(select(users.c.locked).where(where).with_for_update())
        if current is None:
            raise NotFound(f"No user {login!r} in {organization!r}", argument="login")
        if current == locked:
            return False
        await conn.execute(update(users).where(where).values(locked=locked))
        await audit.record(
            conn,
            organization=organization,
            actor=actor,
            action=AuditAction.LOCK_USER if locked else AuditAction.UNLOCK_USER,
            target=login,
        )
    return True


async def _organization_exists(conn: AsyncConnection, organization: str) -> bool:
    query = select(organizations.c.id).where(organizations.c.id == organization)
    return await conn.scalar(query) is not None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def organization_exists(db: Database, organization: str) -> bool:
    async with db.read() as conn:
        return await _organization_exists(conn, organization)
