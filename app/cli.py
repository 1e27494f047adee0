"""The `jobql` command: serve, migrate, seed, make API keys, export the schema, run a worker."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging.config
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from graphql import GraphQLError
from pydantic import ValidationError

from app.auth import Role
from app.blobs import BlobStore
from app.cli_admin import add_admin_parsers
from app.config import Settings, describe, unknown_variables
from app.db.engine import Database
from app.db.migrate import upgrade
from app.errors import DomainError
from app.logs import logging_config
from app.ops import startup_report


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for warning in unknown_variables():
        print(f"jobql: warning: {warning}", file=sys.stderr)
    try:
        return int(args.run(args) or 0)
    except DomainError as e:
        print(f"jobql: {e.message}", file=sys.stderr)
        return 2
    except ValidationError as e:
        if e.title != Settings.__name__:
            raise
        print(f"jobql: {describe(e)}", file=sys.stderr)  # one line, no traceback
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jobql",
        description=__doc__,
        epilog="Every command reads its settings from JOBQL_* variables (README: Configuration). "
        "Exit codes: 0 done, 2 refused (one line on stderr says why) or bad usage.",
    )
    parser.add_argument("--version", action="version", version=f"jobql {_version()}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="migrate, then serve the API")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="load the demo data if the database is empty, and print the demo keys (on a "
        "database with data they work only if it holds the demo data)",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=_serve)

    demo = commands.add_parser(
        "demo",
        help="serve --demo with the reference worker beside it (what `make demo` runs)",
        description="Runs `jobql serve --demo` and `jobql worker` with the demo organization's "
        "WORKER key. Ctrl-C (or SIGTERM) stops the worker first, so it hands its jobs back, "
        "then the server; when the server stops, the worker stops too.",
    )
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.set_defaults(run=_demo)

    db = commands.add_parser("db", help="database maintenance").add_subparsers(required=True)
    db.add_parser("upgrade", help="apply the migrations").set_defaults(run=_db_upgrade)

    seed = commands.add_parser("seed", help="load data")
    what = seed.add_mutually_exclusive_group(required=True)
    what.add_argument("--demo", action="store_true", help="the demo set from seeds/")
    what.add_argument("--synthetic", type=int, metavar="N", help="N synthetic jobs")
    seed.set_defaults(run=_seed)

    add_admin_parsers(commands, _roles)
    commands.add_parser("export-schema", help="print the SDL").set_defaults(run=_export_schema)
    trusted = commands.add_parser(
        "trusted-documents",
        help="write a trusted-documents manifest from folders of .graphql files",
        description="Reads every .graphql file under the folders as one document set, validates "
        "it against the schema, and writes {sha256: document} for each operation, printed with "
        "the fragments it uses: the manifest JOBQL_TRUSTED_DOCUMENTS names (docs/clients.md).",
    )
    trusted.add_argument("folders", nargs="+", type=Path, metavar="FOLDER")
    trusted.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    trusted.set_defaults(run=_trusted_documents)
    _worker_parser(commands)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("jobql")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _worker_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from app.worker.analyzers import BUILT_INS

    worker = commands.add_parser(
        "worker",
        help="run the built-in analyzers on the server's jobs",
        description="Claims jobs of the built-in analyzers (" + ", ".join(BUILT_INS) + ") from "
        "a jobql server, runs them offline and reports; SIGTERM or SIGINT releases the jobs it "
        "holds (back to the queue, attempt not spent) and exits 0. A cancel stops a running "
        "job, and new work wakes an idle claim, at once through the server's workerControl "
        "subscription; its heartbeats and claims still do without it. See docs/worker.md.",
    )
    worker.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000")
    worker.add_argument("--key", required=True, help="an API key with the WORKER role")
    worker.add_argument(
        "--analyzers",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        default=[],
        metavar="NAMES",
        help="comma-separated analyzer names or ids to run (default: every analyzer of the "
        "organization named like a built-in)",
    )
    worker.add_argument(
        "--concurrency", type=_positive, default=4, metavar="N", help="jobs run at once (default 4)"
    )
    worker.add_argument(
        "--lease-seconds",
        type=_positive,
        default=60,
        metavar="S",
        help="lease asked for each claim; heartbeats come every third of it (default 60)",
    )
    worker.add_argument(
        "--wait-seconds",
        type=_wait_seconds,
        default=8,
        metavar="S",
        help="how long each claim waits on the server for work, 0 to 8 (default 8); on SIGTERM "
        "a claim in flight is let finish, so this bounds how long stopping takes",
    )
    worker.add_argument(
        "--worker-id",
        default=None,
        metavar="ID",
        help="how the server knows this worker (default host-pid)",
    )
    worker.add_argument(
        "--no-control",
        dest="control",
        action="store_false",
        help="do not subscribe to the server's live signals (workerControl, over WebSocket); "
        "without them a cancel reaches a running job at its next heartbeat and new work is "
        "found by the next claim. With them (the default), both come at once, and while the "
        "subscription is lost the worker re-subscribes with back-off, heartbeats and claims "
        "going on meanwhile",
    )
    worker.set_defaults(run=_worker)


def _wait_seconds(text: str) -> int:
    if not text.isdigit() or int(text) > 8:
        raise argparse.ArgumentTypeError(f"expected 0 to 8 seconds, got {text!r}")
    return int(text)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _roles(text: str) -> list[Role]:
    try:
        return [Role(part.strip().upper()) for part in text.split(",") if part.strip()]
    except ValueError:
        roles = ", ".join(r.lower() for r in Role)
        raise argparse.ArgumentTypeError(f"roles are {roles}") from None


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    settings = Settings()
    logging.config.dictConfig(logging_config(settings.log_format, settings.log_level))
    asyncio.run(_prepare(settings, demo=args.demo))
    for line in asyncio.run(startup_report(settings)):
        logging.getLogger("jobql.start").info("%s", line)
    if args.demo:
        from app.seed.demo import demo_keys

        keys = demo_keys()
        os.environ["JOBQL_DEMO_API_KEY"] = next(k["key"] for k in keys if k["roles"] == ["READ"])
        print("Demo API keys (Authorization: Bearer <key>):")
        for user in keys:
            print(f"  {user['login']:<14} {','.join(user['roles']):<22} {user['key']}")
        print(f"Explorer: http://{args.host}:{args.port}/graphql", flush=True)
    from app.server import uvicorn_options

    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        **uvicorn_options(settings),
    )


async def _prepare(settings: Settings, *, demo: bool) -> None:
    await upgrade(settings.database_url)
    if demo:
        await _load_demo(settings, serving=True)


async def _load_demo(settings: Settings, *, serving: bool = False) -> None:
    from app.seed.demo import is_empty, load_demo

    db = Database(settings)
    try:
        if await is_empty(db):
            count = await load_demo(db, BlobStore(settings.blob_dir))
            print(f"Loaded the demo data: {count} jobs", file=sys.stderr)
        elif serving:
            print(
                "The database has data already: demo data not loaded, so the demo keys below "
                "work only if it was loaded before (to start the demo over, remove the "
                "database, e.g. jobql.db, and the blobs folder)",
                file=sys.stderr,
            )
        else:
            print("The database has data already: demo data not loaded", file=sys.stderr)
    finally:
        await db.dispose()


def _db_upgrade(_: argparse.Namespace) -> None:
    asyncio.run(upgrade(Settings().database_url))


def _seed(args: argparse.Namespace) -> None:
    settings = Settings()
    asyncio.run(upgrade(settings.database_url))
    if args.demo:
        asyncio.run(_load_demo(settings))
        return
    from app.seed.synthetic import seed_synthetic

    asyncio.run(seed_synthetic(settings, args.synthetic))


def _demo(args: argparse.Namespace) -> int:
    from app.demo import run_demo
    from app.seed.demo import demo_keys

    key = next(u["key"] for u in demo_keys() if u["login"] == "worker@demo")
    return run_demo(host=args.host, port=args.port, worker_key=key)


def _worker(args: argparse.Namespace) -> int:
    import logging
    import socket

    from app.worker.client import GraphQLClientHttpError
    from app.worker.discovery import NothingToRun
    from app.worker.runner import WorkerOptions, WorkerRefused, run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the jobs'
    options = WorkerOptions(
        url=args.url,
        key=args.key,
        worker_id=args.worker_id or f"{socket.gethostname()}-{os.getpid()}",
        analyzers=args.analyzers,
        concurrency=args.concurrency,
        lease_seconds=args.lease_seconds,
        wait_seconds=args.wait_seconds,
        control=args.control,
    )
    try:
        asyncio.run(run_worker(options))
    except (NothingToRun, WorkerRefused) as error:
        print(f"jobql worker: {error}", file=sys.stderr)
        return 2
    except GraphQLClientHttpError as error:
        why = "the key is refused" if error.status_code in (401, 403) else "is it a jobql server?"
        print(
            f"jobql worker: HTTP {error.status_code} from {options.endpoint}: {why}",
            file=sys.stderr,
        )
        return 2
    return 0


def _trusted_documents(args: argparse.Namespace) -> int:
    from app.graphql.schema import build_schema
    from app.trusted import build_manifest

    missing = [str(folder) for folder in args.folders if not folder.is_dir()]
    if missing:
        print(f"jobql: not a folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    schema = build_schema(Settings(trusted_documents=None))._schema
    try:
        manifest = build_manifest(args.folders, schema)
    except (ValueError, GraphQLError) as error:  # GraphQLError: a file that does not parse
        print(f"jobql: {error}", file=sys.stderr)
        return 2
    text = json.dumps(manifest, indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
        print(f"{len(manifest)} documents written to {args.output}", file=sys.stderr)
    return 0


def _export_schema(_: argparse.Namespace) -> None:
    from app.graphql.schema import schema_sdl

    sys.stdout.write(schema_sdl())
