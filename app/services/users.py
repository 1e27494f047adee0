"""Organizations, users and their API keys."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import insert, select

from app.auth import Role, new_key
from app.db.engine import Database
from app.db.models import api_keys, organizations, users
from app.errors import BadUserInput, NotFound


async def create_api_key(
    db: Database, *, organization: str, login: str, roles: Iterable[Role]
) -> str:
    """A new key for `login`, creating the user in `organization` if new. Returns the key once:
    only its digest is stored."""
    now = datetime.now(UTC)
    key = new_key()
    async with db.write() as conn:
        if (
            await conn.scalar(select(organizations.c.id).where(organizations.c.id == organization))
            is None
        ):
            raise NotFound(f"No organization {organization!r}")
        owner = await conn.scalar(select(users.c.organization_id).where(users.c.login == login))
        if owner is None:
            await conn.execute(
                insert(users).values(
                    login=login,
                    organization_id=organization,
                    name=login,
                    roles=sorted(Role(r) for r in roles),
                    locked=False,
                    created_at=now,
                )
            )
        elif owner != organization:
            raise BadUserInput(f"{login!r} belongs to another organization", argument="login")
        await conn.execute(
            insert(api_keys).values(
                id=key.key_id,
                user_login=login,
                secret_sha256=key.secret_sha256,
                created_at=now,
            )
        )
    return key.token
