"""Attachments: uploads stored once per content, metadata by id within an organization,
signed expiring download links, and the removal of files no attachment uses any more.

A blob (the bytes of one sha256) is shared by every attachment row with that content, in
any organization. Two things change who uses a blob: an upload records a row, a purge
deletes rows and then the blobs left unused. Both take the content's lock (`lock_contents`)
around their step, so a purge's "nobody uses it" and its file deletion are never split by
an upload's new row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.auth import Principal, Role
from app.blobs import BlobStore, Digests, Staged
from app.db.engine import Database
from app.db.ids import new_id
from app.db.lists import any_of
from app.db.models import attachments
from app.errors import BadUserInput, Forbidden
from app.signing import Signer

log = logging.getLogger("jobql.attachments")
DOWNLOAD_PATH = "/attachments/{id}/download"
# Analysts upload what they submit; workers upload the files their analyzers produce.
UPLOAD_ROLES = frozenset({Role.ANALYZE, Role.ORGADMIN, Role.WORKER})
# PostgreSQL advisory locks of contents live under this first key (pg_advisory_xact_lock(
# int, int)), apart from any other advisory lock of the application.
CONTENT_LOCK_CLASS = 0x6A71_0B10  # "jq" "blo(b)"


def require_uploader(principal: Principal) -> None:
    """Forbidden unless the caller may upload; checked before a byte of the body is read."""
    if not principal.roles & UPLOAD_ROLES:
        names = ", ".join(sorted(UPLOAD_ROLES))
        raise Forbidden(f"This needs one of the roles: {names}", roles=sorted(UPLOAD_ROLES))


async def lock_contents(conn: AsyncConnection, sha256s: Collection[str]) -> None:
    """Holds the contents' locks until the transaction ends.

    PostgreSQL: an advisory lock per content, taken in sorted order so that two purges never
    deadlock. SQLite: the transaction already holds the database's write lock (BEGIN
    IMMEDIATE), which serializes every writer, so there is nothing more to take.
    """
    if conn.dialect.name != "postgresql":
        return
    for sha256 in sorted(set(sha256s)):
        # 32 bits of the digest: a collision only makes two contents wait for each other.
        key = int.from_bytes(bytes.fromhex(sha256[:8]), "big", signed=True)
        await conn.execute(select(func.pg_advisory_xact_lock(CONTENT_LOCK_CLASS, key)))


async def store_upload(
    db: Database,
    blobs: BlobStore,
    principal: Principal,
    *,
    name: str,
    content_type: str,
    chunks: AsyncIterable[bytes],
    limit: int,
) -> dict[str, Any]:
    """Stores an uploaded file as a new attachment of the caller's organization.

    The bytes stream into a staging file while hashed; then the row is recorded, under the
    content's lock, and only after its commit do the bytes move to their address (or are
    dropped when that content is there already). A purge that looked before the row existed
    has deleted the old file by then, under the same lock; one that looks later sees the row.
    """
    require_uploader(principal)
    staged = await blobs.stage(chunks, limit)
    # Not cancelled halfway from here on (a shutdown, say): a row committed without its bytes
    # in place would be a broken link.
    return await asyncio.shield(_keep(db, blobs, principal, name, content_type, staged))


async def _keep(
    db: Database,
    blobs: BlobStore,
    principal: Principal,
    name: str,
    content_type: str,
    staged: Staged,
) -> dict[str, Any]:
    try:
        if staged.digests.size == 0:
            raise BadUserInput("The body is empty: send the file's bytes", argument="body")
        row = _row(principal.organization, name, content_type, staged.digests)
        async with db.write() as conn:
            await lock_contents(conn, [row["sha256"]])
            await conn.execute(insert(attachments).values(row))
        try:
            blobs.publish(staged)
        except BaseException:
            await _forget(db, row["id"])
            raise
    finally:
        blobs.discard(staged)
    log.info(
        "attachment %s (%d bytes, sha256 %s) uploaded by %s of %s",
        *(row["id"], row["size"], row["sha256"], principal.login, principal.organization),
    )
    return row


def _row(organization: str, name: str, content_type: str, digests: Digests) -> dict[str, Any]:
    return {
        "id": new_id(),
        "organization_id": organization,
        "name": name,
        "size": digests.size,
        "content_type": content_type,
        "sha256": digests.sha256,
        "sha1": digests.sha1,
        "md5": digests.md5,
        "created_at": datetime.now(UTC),
    }


async def _forget(db: Database, attachment_id: str) -> None:
    # The bytes could not be put in place: a row without them would be a broken link.
    async with db.write() as conn:
        await conn.execute(delete(attachments).where(attachments.c.id == attachment_id))


async def remove_unused_blobs(db: Database, blobs: BlobStore, sha256s: Collection[str]) -> None:
    """Deletes the files of these contents that no attachment row (of any organization) uses.

    Run after the transaction that deleted the rows has committed, so a rolled-back purge has
    lost no file. The check and the deletions happen under the contents' locks: an upload of
    the same bytes waits, then records its row and puts the file back in place.
    """
    if not sha256s:
        return
    query = select(attachments.c.sha256).where(attachments.c.sha256.in_(sha256s)).distinct()
    async with db.write() as conn:
        await lock_contents(conn, sha256s)
        in_use = set((await conn.execute(query)).scalars())
        for sha256 in sorted(set(sha256s) - in_use):
            blobs.delete(sha256)


async def attachments_by_id(db: Database, organization: str, ids: Sequence[str]) -> dict[str, Any]:
    query = select(*attachments.c).where(
        attachments.c.organization_id == organization, any_of(db.dialect, attachments.c.id, ids)
    )
    async with db.read() as conn:
        return {row.id: row for row in await conn.execute(query)}


def download_path(signer: Signer, organization: str, attachment_id: str, expires: int) -> str:
    """A link that works without an API key until `expires` (Unix seconds)."""
    signature = signer.sign(organization, attachment_id, str(expires))
    return (
        DOWNLOAD_PATH.format(id=attachment_id)
        + f"?org={organization}&expires={expires}&signature={signature}"
    )


async def open_download(
    db: Database,
    blobs: BlobStore,
    signer: Signer,
    *,
    attachment_id: str,
    organization: str,
    expires: str,
    signature: str,
) -> tuple[Any, Path] | None:
    """The attachment and its blob path, or None for a bad, expired or unknown link.

    Every failure looks the same to the caller, so a link reveals nothing it did not sign.
    """
    if not signer.verify(signature, organization, attachment_id, expires):
        return None
    if not expires.isdigit() or int(expires) < datetime.now(UTC).timestamp():
        return None
    found = await attachments_by_id(db, organization, [attachment_id])
    row = found.get(attachment_id)
    if row is None or not blobs.exists(row.sha256):
        return None
    return row, blobs.path(row.sha256)
