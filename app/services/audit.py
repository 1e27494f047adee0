"""The audit trail: one row per administrative or destructive act, written in its transaction.

`record` takes the connection of the change itself, so the event commits or rolls back with
it: there is never a purge without its event, nor an event of a purge that did not happen.
Rows have no foreign keys (app/db/models.py), so they outlive the jobs, keys and analyzers
they name. Actors are logins for the API, and `cli:<os user>` for the command line.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import audit_events
from app.pagination import KeyType, Ordering, SortKey, Window
from app.services.listing import Listing


class AuditAction(StrEnum):
    PURGE_JOB = "PURGE_JOB"
    DELETE_JOBS = "DELETE_JOBS"
    CANCEL_JOBS = "CANCEL_JOBS"
    CREATE_API_KEY = "CREATE_API_KEY"
    REVOKE_API_KEY = "REVOKE_API_KEY"
    UPDATE_ANALYZER = "UPDATE_ANALYZER"
    ADD_ANALYZER = "ADD_ANALYZER"
    LOCK_USER = "LOCK_USER"
    UNLOCK_USER = "UNLOCK_USER"
    CREATE_ORGANIZATION = "CREATE_ORGANIZATION"


AUDIT_COLUMNS = tuple(audit_events.c)
# Newest first; the id breaks ties between events of the same instant.
AUDIT_ORDERING = Ordering(
    (
        SortKey("AT", audit_events.c.at, KeyType.DATETIME, False, True, lambda r: r.at),
        SortKey("ID", audit_events.c.id, KeyType.INT, False, True, lambda r: r.id),
    )
)


def cli_actor() -> str:
    """Who acts from the command line: the operating-system user, as `cli:<user>`."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers): still say it was the CLI
        return "cli:unknown"


async def record(
    conn: AsyncConnection,
    *,
    organization: str,
    actor: str,
    action: AuditAction,
    target: str | None = None,
    count: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Adds the event to the transaction `conn` is in (the change's own)."""
    await conn.execute(
        insert(audit_events).values(
            organization_id=organization,
            at=datetime.now(UTC),
            actor=actor,
            action=action.value,
            target=target,
            count=count,
            details=details or {},
        )
    )


def audit_listing(organization: str, window: Window) -> Listing:
    where = audit_events.c.organization_id == organization
    return Listing(AUDIT_COLUMNS, where, AUDIT_ORDERING, window)
