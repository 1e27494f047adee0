"""API keys: how they are made, stored (hashed) and turned into a Principal."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, select, update

from app.db.engine import Database
from app.db.models import api_keys, users
from app.errors import Unauthenticated

KEY_PREFIX = "jq"
log = logging.getLogger("jobql.auth")


class Role(StrEnum):
    READ = "READ"
    ANALYZE = "ANALYZE"
    ORGADMIN = "ORGADMIN"
    WORKER = "WORKER"  # a machine key of an analyzer runner: claims and reports jobs


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: every query and mutation is scoped by `organization`."""

    login: str
    name: str
    organization: str
    roles: frozenset[Role]


@dataclass(frozen=True, slots=True)
class NewKey:
    key_id: str
    secret: str

    @property
    def token(self) -> str:
        return f"{KEY_PREFIX}_{self.key_id}_{self.secret}"

    @property
    def secret_sha256(self) -> str:
        return digest(self.secret)


def new_key() -> NewKey:
    return NewKey(key_id=secrets.token_hex(8), secret=secrets.token_urlsafe(32))


def split_token(token: str) -> NewKey | None:
    """`jq_<id>_<secret>` → its parts; None when it cannot be one of our keys."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or not key_id or not secret or len(token) > 200:
        return None
    return NewKey(key_id=key_id, secret=secret)


def digest(secret: str) -> str:
    # Keys carry 256 random bits, so one SHA-256 is enough; a slow KDF would only add latency.
    return hashlib.sha256(secret.encode()).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class PrincipalCache:
    """Principals of keys checked in the last `seconds`, by key id and secret digest.

    Saves a query per request. What it costs: a key revoked, expired or deleted, or a user
    locked, takes effect in this process after at most `seconds`. Only successes are kept, so
    an unknown or wrong key always reaches the database.

    It also notes when each key was last used, for `KeyUsage.flush` to write in one go: a
    key's `last_used_at` costs no statement on the request path.
    """

    def __init__(self, seconds: float, size: int = 4096) -> None:
        self.seconds, self.size = seconds, size
        self._found: dict[tuple[str, str], tuple[float, Principal]] = {}
        self.usage = KeyUsage()

    def get(self, key: tuple[str, str]) -> Principal | None:
        found = self._found.get(key)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, key: tuple[str, str], principal: Principal) -> None:
        if self.seconds <= 0:
            return
        if len(self._found) >= self.size:
            now = time.monotonic()
            self._found = {k: v for k, v in self._found.items() if v[0] >= now}
            if len(self._found) >= self.size:
                self._found.clear()
        self._found[key] = (time.monotonic() + self.seconds, principal)


async def authenticate(
    db: Database, authorization: str | None, cache: PrincipalCache | None = None
) -> Principal:
    """The Principal behind an `Authorization: Bearer …` header, or Unauthenticated."""
    token = bearer_token(authorization)
    parts = split_token(token) if token else None
    if parts is None:
        raise Unauthenticated("A valid API key is required: Authorization: Bearer <key>")
    key = (parts.key_id, parts.secret_sha256)
    known = cache.get(key) if cache is not None else None
    if known is None:
        known = await _lookup(db, parts)
        if cache is not None:
            cache.put(key, known)
    if cache is not None:
        cache.usage.used(parts.key_id)
    return known


class KeyUsage:
    """When keys were last used, kept in memory and written at most once per flush.

    The server flushes every `key_usage_flush_seconds` (60 by default) and when it stops, so
    `lastUsedAt` is at most that late and a busy key costs one UPDATE a minute, not one per
    request.
    """

    def __init__(self) -> None:
        self._seen: dict[str, datetime] = {}

    def used(self, key_id: str) -> None:
        self._seen[key_id] = datetime.now(UTC)

    async def flush(self, db: Database) -> int:
        """Writes what was noted since the last flush; returns how many keys."""
        seen, self._seen = self._seen, {}
        if not seen:
            return 0
        statement = (
            update(api_keys)
            .where(api_keys.c.id == bindparam("key_id"))
            .values(last_used_at=bindparam("used_at"))
        )
        rows = [{"key_id": k, "used_at": at} for k, at in sorted(seen.items())]
        async with db.write() as conn:
            await conn.execute(statement, rows)
        return len(rows)


async def _lookup(db: Database, parts: NewKey) -> Principal:
    query = (
        select(
            api_keys.c.secret_sha256,
            api_keys.c.roles,
            api_keys.c.expires_at,
            api_keys.c.revoked_at,
            users.c.login,
            users.c.name,
            users.c.organization_id,
            users.c.locked,
        )
        .join(users, users.c.login == api_keys.c.user_login)
        .where(api_keys.c.id == parts.key_id)
    )
    async with db.read() as conn:
        row = (await conn.execute(query)).first()
    # Compare even when the key id is unknown, so timing does not tell which ids exist.
    stored = row.secret_sha256 if row else "0" * 64
    if not hmac.compare_digest(stored, parts.secret_sha256) or row is None or not _usable(row):
        raise Unauthenticated("A valid API key is required: Authorization: Bearer <key>")
    return Principal(
        login=row.login,
        name=row.name,
        organization=row.organization_id,
        roles=frozenset(Role(r) for r in row.roles),
    )


async def flush_forever(usage: KeyUsage, db: Database, seconds: float) -> None:
    """The server's loop writing `last_used_at`; a failed flush is logged and retried later."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await usage.flush(db)
        except Exception:
            log.exception("writing the keys' last use failed")


def _usable(row: Any) -> bool:
    """Not revoked, not expired, and its user not locked."""
    now = datetime.now(UTC)
    expired = row.expires_at is not None and row.expires_at <= now
    return not (row.locked or row.revoked_at is not None or expired)


async def keys_still_valid(db: Database, key_ids: Collection[str]) -> set[str]:
    """Which of these keys are still usable (not revoked, not expired, user not locked): one
    statement for every live connection of the process (app/ws.py checks them every few
    seconds)."""
    if not key_ids:
        return set()
    query = (
        select(api_keys.c.id, api_keys.c.revoked_at, api_keys.c.expires_at, users.c.locked)
        .join(users, users.c.login == api_keys.c.user_login)
        .where(api_keys.c.id.in_(sorted(key_ids)))
    )
    async with db.read() as conn:
        return {row.id for row in await conn.execute(query) if _usable(row)}
