"""`python -m bench.write_profile flow|claims|submit [seconds]`: where the server's time goes.

Loads one `jobql serve` as `python -m bench.write` does (the end-to-end flow, the claimers or
cache-miss submissions) while py-spy samples it; prints the hottest functions as
`bench.profile` does.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Sequence

from bench import claimers, flow, queue_data
from bench.__main__ import DATA, PG_URL
from bench.data import Store
from bench.profile import py_spy, record, top
from bench.write import _clear_flow, _server


def _load(kind: str, url: str, keys: dict[str, str], store: Store, seconds: float) -> None:
    if kind == "claims":

        async def claims() -> None:
            conn = await __import__("asyncpg").connect(store.dsn)
            await queue_data.top_up(conn)
            await conn.close()
            await claimers.http(url, keys["worker"], 8, 10, seconds)

        asyncio.run(claims())
    elif kind == "submit":
        asyncio.run(flow.latencies(url, keys["analyze"], None, concurrency=4, calls=100_000))
    else:
        asyncio.run(_clear_flow(store.dsn))
        asyncio.run(
            flow.end_to_end(
                url, keys["analyze"], keys["worker"], submitters=8, workers=4, seconds=seconds
            )
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(argv if argv is not None else sys.argv[1:])
    kind, seconds = args[0] if args else "flow", float(args[1]) if len(args) > 1 else 10.0
    store = Store("postgresql", PG_URL, DATA / "postgresql")
    keys = {role: queue_data.key(store, role) for role in ("worker", "analyze")}
    server, spy, out = _server(store, 1), py_spy(), DATA / f"profile-write-{kind}.txt"
    server.start()
    try:
        assert server.process is not None
        load = threading.Thread(
            target=_load, args=(kind, server.url, keys, store, seconds + 4), daemon=True
        )
        load.start()
        record(spy, server.process.pid, seconds, out)
    finally:
        server.stop()
    print(top(out, 40))
    return 0


if __name__ == "__main__":
    sys.exit(main())
