"""API keys: their own roles, expiry, revocation and last use, seen through HTTP."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import create_async_engine

from app.auth import Role
from app.db.models import api_keys, audit_events, users
from app.services.users import issue_api_key, revoke_api_key
from tests.mutation_support import database
from tests.support import Env

ME = "{ me { login roles } }"


async def _roles_of_user(env: Env, login: str) -> list[str]:
    async with database(env).read() as conn:
        return list(await conn.scalar(select(users.c.roles).where(users.c.login == login)))


async def test_a_key_has_exactly_the_roles_asked_for_an_existing_user(env: Env) -> None:
    # analyst@demo holds READ and ANALYZE; a READ key of theirs may only read.
    created = await issue_api_key(
        database(env), organization="demo", login="analyst@demo", roles=[Role.READ], actor="t"
    )
    assert created.info.roles == ["READ"]
    me = await env.data(ME, key=created.token)
    assert me["me"] == {"login": "analyst@demo", "roles": ["READ"]}
    body = await env.gql('mutation { cancelJob(id: "x") { id } }', key=created.token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # A key with more roles than the user had widens the user's roles to the union.
    wider = await issue_api_key(
        database(env), organization="demo", login="analyst@demo", roles=[Role.WORKER], actor="t"
    )
    assert (await env.data(ME, key=wider.token))["me"]["roles"] == ["WORKER"]
    assert await _roles_of_user(env, "analyst@demo") == ["ANALYZE", "READ", "WORKER"]
    # The user's older key still has its own roles, no more.
    me = await env.data(ME, key="demo.analyze")
    assert me["me"]["roles"] == ["ANALYZE", "READ"]


async def test_keys_made_before_keys_had_roles_keep_their_users(env: Env) -> None:
    # The demo keys are written like the keys of a database migrated from 0003.
    async with database(env).read() as conn:
        found = {
            row.user_login: row.roles
            for row in await conn.execute(select(api_keys.c.user_login, api_keys.c.roles))
        }
    assert found["admin@demo"] == ["READ", "ANALYZE", "ORGADMIN"]


async def test_a_revoked_key_is_refused_and_revoking_is_audited(env: Env) -> None:
    created = await issue_api_key(
        database(env), organization="demo", login="bot@demo", roles=[Role.READ], actor="t"
    )
    assert (await env.post(ME, key=created.token)).status_code == 200
    info = await revoke_api_key(database(env), key_id=created.info.id, actor="t")
    assert info.revoked_at is not None
    response = await env.post(ME, key=created.token)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    again = await revoke_api_key(database(env), key_id=created.info.id, actor="t")
    assert again.revoked_at == info.revoked_at  # revoking twice changes nothing
    async with database(env).read() as conn:
        actions = list(await conn.scalars(select(audit_events.c.action)))
    assert actions == ["CREATE_API_KEY", "REVOKE_API_KEY"]


async def test_an_expired_key_is_refused(env: Env) -> None:
    created = await issue_api_key(
        database(env),
        organization="demo",
        login="bot@demo",
        roles=[Role.READ],
        actor="t",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    assert (await env.post(ME, key=created.token)).status_code == 200
    async with database(env).write() as conn:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await conn.execute(
            update(api_keys).where(api_keys.c.id == created.info.id).values(expires_at=past)
        )
    assert (await env.post(ME, key=created.token)).status_code == 401


async def test_last_use_is_written_by_the_flush_not_by_each_request(env: Env) -> None:
    async def last_used() -> datetime | None:
        async with database(env).read() as conn:
            query = select(api_keys.c.last_used_at).where(api_keys.c.id == "demoread")
            value: datetime | None = await conn.scalar(query)
            return value

    before = datetime.now(UTC)
    with env.statements() as seen:
        for _ in range(3):
            assert (await env.post(ME)).status_code == 200
    assert not [s for s in seen if s.lower().startswith("update")]
    assert await last_used() is None
    assert await env.app.state.key_usage.flush(database(env)) == 1
    used = await last_used()
    assert used is not None and used >= before
    assert await env.app.state.key_usage.flush(database(env)) == 0  # nothing new: no statement


async def test_the_server_flushes_last_use_on_its_own(env: Env) -> None:
    from app.main import create_app

    app = create_app(env.settings.model_copy(update={"key_usage_flush_seconds": 0.05}))
    import httpx

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://jobql.test") as client:
            headers = {"Authorization": f"Bearer {env_key()}"}
            assert (await client.post("/graphql", json={"query": ME}, headers=headers)).is_success
            for _ in range(100):  # the loop runs every 50 ms; give it a few seconds at most
                async with database(env).read() as conn:
                    query = select(api_keys.c.last_used_at).where(api_keys.c.id == "demoread")
                    if await conn.scalar(query) is not None:
                        break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("last_used_at was never written")


def env_key() -> str:
    from tests.support import KEYS

    return KEYS["demo.read"]


async def test_the_migration_gives_existing_keys_their_users_roles(
    backend: str, tmp_path: Path
) -> None:
    from alembic import command

    from app.db.migrate import alembic_config, upgrade
    from tests.conftest import POSTGRES_URL, _admin

    url, drop = f"sqlite+aiosqlite:///{tmp_path}/old.db", None
    if backend == "postgres":
        assert POSTGRES_URL
        drop = f"jobql_mig_{secrets.token_hex(6)}"
        await _admin(f'CREATE DATABASE "{drop}"')
        url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + drop
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), "0003"))
            for statement in (
                "INSERT INTO organization VALUES ('o', 'O', '2026-01-01 00:00:00')",
                "INSERT INTO app_user (login, organization_id, name, roles, locked, created_at) "
                """VALUES ('u', 'o', 'U', '["READ", "ANALYZE"]', false, '2026-01-01 00:00:00')""",
                "INSERT INTO api_key (id, user_login, secret_sha256, created_at) "
                "VALUES ('k', 'u', 'x', '2026-01-01 00:00:00')",
            ):
                await conn.exec_driver_sql(statement)
        await upgrade(url)
        async with engine.connect() as conn:
            row = (await conn.execute(select(api_keys.c.roles, api_keys.c.revoked_at))).one()
        assert (row.roles, row.revoked_at) == (["READ", "ANALYZE"], None)
    finally:
        await engine.dispose()
        if drop:
            await _admin(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)')
