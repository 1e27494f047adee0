"""`python -m bench.explain [q2 q4 …]`: the SQL jobql sends for each benchmark request, with
PostgreSQL's EXPLAIN (ANALYZE, BUFFERS) of each statement, on the benchmark's database
(BENCH_POSTGRES_URL overrides it).

It serves the request in-process (the real app over httpx), records the statements (those of
compiled queries, sent through asyncpg, and SQLAlchemy's, with a `before_cursor_execute`
listener), then explains each with the same parameters.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import event

from app.config import Settings
from app.main import create_app
from bench.__main__ import DATA, PG_URL
from bench.data import NAMES, Store, api_key, bodies


async def explain(store: Store, names: Sequence[str], key: str, files: dict[str, Path]) -> str:
    settings = Settings(database_url=store.url, blob_dir=store.data_dir / "blobs")
    app = create_app(settings)
    engine = app.state.db.engine
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    def observe(statement: str, parameters: Sequence[Any]) -> None:
        seen.append((statement, tuple(parameters)))

    out = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        for name in names:
            body = files[name].read_bytes()
            await client.post("/graphql", content=body, headers=headers)  # warm caches
            seen.clear()
            event.listen(engine.sync_engine, "before_cursor_execute", record)
            app.state.db.raw.observers.append(observe)
            await client.post("/graphql", content=body, headers=headers)
            event.remove(engine.sync_engine, "before_cursor_execute", record)
            app.state.db.raw.observers.remove(observe)
            out.append(f"## {name.upper()}: {len(seen)} statements\n")
            out.append(f"variables: `{orjson.loads(body)['variables']}`\n")
            async with engine.connect() as conn:
                for statement, parameters in seen:
                    plan = await conn.exec_driver_sql(
                        "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
                    )
                    text = "\n".join(row[0] for row in plan)
                    out.append(
                        f"```sql\n{statement.strip()}\n-- {parameters}\n```\n```\n{text}\n```\n"
                    )
    await app.state.db.dispose()
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    names = list(argv if argv is not None else sys.argv[1:]) or list(NAMES)
    # The benchmark's database, or the one `bench/run --postgres-url` was given.
    store = Store("postgresql", os.environ.get("BENCH_POSTGRES_URL", PG_URL), DATA / "postgresql")
    files = bodies(store, DATA / "bodies")
    text = asyncio.run(explain(store, names, api_key(store), files))
    Path(DATA / "explain.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
