"""`jobql org|analyzer|user|apikey …`: setting up a database with the CLI alone.

Every command here is audited like the API's acts, with the actor `cli:<os user>`. Errors
are one line on stderr and exit code 2 (app/cli.py main); output meant for scripts (a new key)
is alone on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from app.auth import Role
from app.config import Settings
from app.db.engine import Database
from app.errors import BadUserInput
from app.services import analyzers, users
from app.services.audit import cli_actor

T = TypeVar("T")
if TYPE_CHECKING:  # the stdlib type is not subscriptable at run time
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]
DURATION = re.compile(r"(\d+)([dhm])")
UNITS = {"d": "days", "h": "hours", "m": "minutes"}
NEEDS = "Needs JOBQL_DATABASE_URL (default sqlite+aiosqlite:///jobql.db), migrated."


def add_admin_parsers(commands: Commands, roles: Callable[[str], list[Role]]) -> None:
    _org_parser(commands)
    _analyzer_parser(commands)
    _user_parser(commands)
    _apikey_parser(commands, roles)


def _org_parser(commands: Commands) -> None:
    org = commands.add_parser("org", help="organizations").add_subparsers(
        required=True, metavar="ACTION"
    )
    create = org.add_parser(
        "create",
        help="create an organization",
        description="Creates an organization (audited as CREATE_ORGANIZATION). " + NEEDS,
    )
    create.add_argument("id", metavar="ID", help="its id: a-z, 0-9, '.', '_', '-', at most 64")
    create.add_argument("--name", required=True, help="its display name (required)")
    create.set_defaults(run=_org_create)


def _analyzer_parser(commands: Commands) -> None:
    analyzer = commands.add_parser("analyzer", help="analyzers").add_subparsers(
        required=True, metavar="ACTION"
    )
    add = analyzer.add_parser(
        "add",
        help="add an analyzer from a Cortex analyzer definition",
        description="Adds an analyzer to ORG from a Cortex analyzer definition (JSON: name, "
        "version, dataTypeList required; author, url, license, description, maxTlp optional, "
        "maxTlp 0-3 defaulting to 2, AMBER). It is named <name>_<version, dots as _>, as Cortex "
        "names instances, and starts enabled; change its settings with updateAnalyzer. Prints "
        "its id. " + NEEDS,
    )
    add.add_argument("--org", required=True, help="the organization (required)")
    add.add_argument("--file", required=True, type=Path, metavar="DEF.json", help="(required)")
    add.set_defaults(run=_analyzer_add)
    listed = analyzer.add_parser(
        "list",
        help="list an organization's analyzers",
        description="One line per analyzer, by name: id, name, data types, enabled. " + NEEDS,
    )
    listed.add_argument("--org", required=True, help="the organization (required)")
    listed.set_defaults(run=_analyzer_list)


def _user_parser(commands: Commands) -> None:
    user = commands.add_parser("user", help="users").add_subparsers(required=True, metavar="ACTION")
    for action, locked in (("lock", True), ("unlock", False)):
        verb = "refused" if locked else "accepted again"
        command = user.add_parser(
            action,
            help=f"{action} a user",
            description=f"Every key of the user is {verb}, within the servers' principal "
            "cache (JOBQL_AUTH_CACHE_SECONDS, 5 s by default). " + NEEDS,
        )
        command.add_argument("--org", required=True, help="the user's organization (required)")
        command.add_argument("--login", required=True, help="(required)")
        command.set_defaults(run=_user_lock, locked=locked)


def _apikey_parser(commands: Commands, roles: Callable[[str], list[Role]]) -> None:
    apikey = commands.add_parser("apikey", help="API keys").add_subparsers(
        required=True, metavar="ACTION"
    )
    create = apikey.add_parser(
        "create",
        help="print a new key (creating the user if new)",
        description="Prints a new key alone on stdout; only its digest is stored, so this is "
        "the one time it is shown. The key has exactly the roles given; a new login becomes a "
        "user of ORG, and the user's roles grow to include them. " + NEEDS,
    )
    create.add_argument("--org", required=True, help="the organization (required)")
    create.add_argument("--login", required=True, help="the key's user (required)")
    create.add_argument(
        "--roles",
        default=[Role.READ],
        type=roles,
        help="comma-separated: read, analyze, orgadmin, worker (default: read)",
    )
    create.add_argument(
        "--expires",
        type=_expiry,
        default=None,
        metavar="WHEN",
        help="when the key stops working: a duration (30d, 12h, 90m) or an ISO 8601 time "
        "(UTC unless it says otherwise); default: never",
    )
    create.set_defaults(run=_apikey_create)
    listed = apikey.add_parser(
        "list",
        help="list an organization's keys",
        description="One line per key, oldest first: id, login, roles, created, expires, last "
        "used (written about once a minute), revoked. Secrets are never shown. " + NEEDS,
    )
    listed.add_argument("--org", required=True, help="the organization (required)")
    listed.set_defaults(run=_apikey_list)
    revoke = apikey.add_parser(
        "revoke",
        help="revoke a key",
        description="The key is refused (HTTP 401) within the servers' principal cache "
        "(JOBQL_AUTH_CACHE_SECONDS, 5 s by default). Revoking it again changes nothing. " + NEEDS,
    )
    revoke.add_argument("id", metavar="ID", help="the key's id: the part after jq_ (see list)")
    revoke.set_defaults(run=_apikey_revoke)


def _expiry(text: str) -> datetime:
    duration = DURATION.fullmatch(text.strip())
    if duration:
        amount, unit = duration.groups()
        return datetime.now(UTC) + timedelta(**{UNITS[unit]: int(amount)})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a duration like 30d, 12h, 90m or an ISO 8601 time, got {text!r}"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _with_db(work: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database(Settings())
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


def _org_create(args: argparse.Namespace) -> None:
    _with_db(
        lambda db: users.create_organization(db, id=args.id, name=args.name, actor=cli_actor())
    )
    print(f"created organization {args.id}", file=sys.stderr)


def _analyzer_add(args: argparse.Namespace) -> None:
    try:
        definition = json.loads(args.file.read_text())
    except OSError as e:
        raise BadUserInput(f"cannot read {args.file}: {e.strerror}", argument="file") from None
    except ValueError as e:
        raise BadUserInput(f"{args.file} is not JSON: {e}", argument="file") from None
    added = _with_db(
        lambda db: analyzers.add_analyzer(
            db, organization=args.org, definition=definition, actor=cli_actor()
        )
    )
    print(added.id)
    print(f"added analyzer {added.name} to {args.org}", file=sys.stderr)


def _analyzer_list(args: argparse.Namespace) -> None:
    rows = _with_db(lambda db: _listed_analyzers(db, args.org))
    for row in rows:
        state = "enabled" if row.enabled else "disabled"
        print(f"{row.id}  {row.name:<32} {','.join(row.data_types):<32} {state}")


async def _listed_analyzers(db: Database, organization: str) -> list[Any]:
    await _require_organization(db, organization)
    return await analyzers.list_analyzers(db, organization)


def _user_lock(args: argparse.Namespace) -> None:
    changed = _with_db(
        lambda db: users.set_locked(
            db, organization=args.org, login=args.login, locked=args.locked, actor=cli_actor()
        )
    )
    state = "locked" if args.locked else "unlocked"
    print(
        f"{args.login} {state}" if changed else f"{args.login} was {state} already", file=sys.stderr
    )


def _apikey_create(args: argparse.Namespace) -> None:
    created = _with_db(
        lambda db: users.issue_api_key(
            db,
            organization=args.org,
            login=args.login,
            roles=args.roles,
            actor=cli_actor(),
            expires_at=args.expires,
        )
    )
    print(created.token)


def _apikey_list(args: argparse.Namespace) -> None:
    rows = _with_db(lambda db: _listed_keys(db, args.org))
    for row in rows:
        print(
            f"{row.id}  {row.login:<24} {','.join(row.roles):<22} created {_when(row.created_at)}"
            f"  expires {_when(row.expires_at)}  used {_when(row.last_used_at)}"
            f"  revoked {_when(row.revoked_at)}"
        )


async def _listed_keys(db: Database, organization: str) -> list[Any]:
    await _require_organization(db, organization)
    return await users.list_api_keys(db, organization)


def _apikey_revoke(args: argparse.Namespace) -> None:
    _with_db(lambda db: users.revoke_api_key(db, key_id=args.id, actor=cli_actor()))
    print(f"revoked {args.id}", file=sys.stderr)


async def _require_organization(db: Database, organization: str) -> None:
    if not await users.organization_exists(db, organization):
        raise BadUserInput(f"No organization {organization!r}", argument="org")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"
