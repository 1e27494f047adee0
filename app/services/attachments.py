"""Attachments: metadata by id within an organization, and signed, expiring download links."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.blobs import BlobStore
from app.db.engine import Database
from app.db.lists import any_of
from app.db.models import attachments
from app.signing import Signer

DOWNLOAD_PATH = "/attachments/{id}/download"


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
