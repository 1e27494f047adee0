"""API keys: how they are made, stored (hashed) and turned into a Principal."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select

from app.db.engine import Database
from app.db.models import api_keys, users
from app.errors import Unauthenticated

KEY_PREFIX = "jq"


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

    Saves a query per request. What it costs: a key deleted, or a user locked or given other
    roles, takes effect in this process after at most `seconds`. Only successes are kept, so
    an unknown or wrong key always reaches the database.
    """

    def __init__(self, seconds: float, size: int = 4096) -> None:
        self.seconds, self.size = seconds, size
        self._found: dict[tuple[str, str], tuple[float, Principal]] = {}

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
    if known is not None:
        return known
    principal = await _lookup(db, parts)
    if cache is not None:
        cache.put(key, principal)
    return principal


async def _lookup(db: Database, parts: NewKey) -> Principal:
    query = (
        select(
            api_keys.c.secret_sha256,
            users.c.login,
            users.c.name,
            users.c.organization_id,
            users.c.roles,
            users.c.locked,
        )
        .join(users, users.c.login == api_keys.c.user_login)
        .where(api_keys.c.id == parts.key_id)
    )
    async with db.read() as conn:
        row = (await conn.execute(query)).first()
    # Compare even when the key id is unknown, so timing does not tell which ids exist.
    stored = row.secret_sha256 if row else "0" * 64
    if not hmac.compare_digest(stored, parts.secret_sha256) or row is None or row.locked:
        raise Unauthenticated("A valid API key is required: Authorization: Bearer <key>")
    return Principal(
        login=row.login,
        name=row.name,
        organization=row.organization_id,
        roles=frozenset(Role(r) for r in row.roles),
    )


async def keys_still_valid(db: Database, key_ids: Collection[str]) -> set[str]:
    """Which of these keys still exist and belong to a user who is not locked: one statement
    for every live connection of the process (app/ws.py checks them every few seconds)."""
    if not key_ids:
        return set()
    query = (
        select(api_keys.c.id)
        .join(users, users.c.login == api_keys.c.user_login)
        .where(api_keys.c.id.in_(sorted(key_ids)), users.c.locked.is_(False))
    )
    async with db.read() as conn:
        return set((await conn.execute(query)).scalars())
