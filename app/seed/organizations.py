"""The synthetic organizations with their users, keys, analyzers and files: made once, reused."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.auth import new_key
from app.blobs import BlobStore
from app.db.engine import Database
from app.db.ids import new_id
from app.db.models import analyzers, api_keys, attachments, organizations, users
from app.seed.catalog import ANALYZERS, ORGANIZATIONS, SUBMITTERS, USERS, OrgSpec, blob_contents

CORTEX_ANALYZERS = "https://github.com/TheHive-Project/Cortex-Analyzers"
_TAXONOMY = {name: (namespace, predicate) for name, _, namespace, predicate in ANALYZERS}


@dataclass(frozen=True)
class AnalyzerRef:
    """What a job needs of its analyzer."""

    id: str
    name: str
    definition_id: str
    namespace: str
    predicate: str


@dataclass
class OrgState:
    """An organization as the generator sees it: whom jobs come from and what they run on."""

    id: str
    share: int
    submitters: list[str]
    attachments: list[str]
    by_type: dict[str, list[AnalyzerRef]] = field(default_factory=dict)


async def prepare_organizations(
    db: Database, blobs: BlobStore, now: datetime
) -> tuple[list[OrgState], list[tuple[str, str, str]]]:
    """Each synthetic organization, created if missing; and the keys made for its new users."""
    files = [(name, kind, blobs.put(body)) for name, kind, body in blob_contents()]
    found, keys = [], []
    async with db.write() as conn:
        for spec in ORGANIZATIONS:
            exists = await conn.scalar(
                select(organizations.c.id).where(organizations.c.id == spec.id)
            )
            if exists is None:
                keys += await _create(conn, spec, files, now - timedelta(days=400))
            found.append(await _load(conn, spec))
    return found, keys


async def _create(
    conn: AsyncConnection, spec: OrgSpec, files: list[tuple[str, str, Any]], created: datetime
) -> list[tuple[str, str, str]]:
    rng = random.Random(f"jobql-synthetic:{spec.id}")
    await conn.execute(insert(organizations).values(id=spec.id, name=spec.name, created_at=created))
    keys = []
    for prefix, roles in USERS.items():
        login, key = f"{prefix}@{spec.id}", new_key()
        await conn.execute(
            insert(users).values(
                login=login,
                organization_id=spec.id,
                name=f"{prefix.title()} of {spec.name}",
                roles=[r.value for r in roles],
                locked=False,
                created_at=created,
            )
        )
        await conn.execute(
            insert(api_keys).values(
                id=key.key_id,
                user_login=login,
                secret_sha256=key.secret_sha256,
                roles=[r.value for r in roles],
                created_at=created,
            )
        )
        keys.append((login, ",".join(r.value for r in roles), key.token))
    await conn.execute(
        insert(analyzers), [_analyzer(rng, i, spec.id, created) for i in spec.analyzers]
    )
    await conn.execute(
        insert(attachments), [_attachment(rng, spec.id, file, created) for file in files]
    )
    return keys


def _analyzer(rng: random.Random, index: int, org: str, created: datetime) -> dict[str, Any]:
    name, data_types, namespace, predicate = ANALYZERS[index]
    version = ".".join(p for p in name.split("_") if p.isdigit())
    return {
        "id": new_id(rng),
        "organization_id": org,
        "name": name,
        "definition_id": name,
        "version": version,
        "description": f"{namespace} {predicate} for {', '.join(data_types)} observables.",
        "author": rng.choice(["CERT-BDF", "StrangeBee", "ANSSI", "LDO-CERT", "ninoseki"]),
        "license": rng.choice(["AGPL-V3", "AGPL-V3", "MIT", "Apache-2.0"]),
        "url": CORTEX_ANALYZERS,
        "data_types": list(data_types),
        "max_tlp": rng.choice([2, 3]),
        "job_cache_minutes": rng.choice([None, 10, 60]),
        "enabled": True,
        "created_at": created,
    }


def _attachment(
    rng: random.Random, org: str, file: tuple[str, str, Any], created: datetime
) -> dict[str, Any]:
    name, content_type, digests = file
    return {
        "id": new_id(rng),
        "organization_id": org,
        "name": name,
        "size": digests.size,
        "content_type": content_type,
        "sha256": digests.sha256,
        "sha1": digests.sha1,
        "md5": digests.md5,
        "created_at": created,
    }


async def _load(conn: AsyncConnection, spec: OrgSpec) -> OrgState:
    """The organization as stored, whoever made it, so appending reuses its analyzers."""
    found = await conn.execute(
        select(analyzers.c.id, analyzers.c.name, analyzers.c.definition_id, analyzers.c.data_types)
        .where(analyzers.c.organization_id == spec.id)
        .order_by(analyzers.c.name, analyzers.c.id)
    )
    files = await conn.scalars(
        select(attachments.c.id)
        .where(attachments.c.organization_id == spec.id)
        .order_by(attachments.c.name, attachments.c.id)
    )
    state = OrgState(
        id=spec.id,
        share=spec.share,
        submitters=[f"{prefix}@{spec.id}" for prefix in SUBMITTERS],
        attachments=list(files),
    )
    for row in found:
        namespace, predicate = _TAXONOMY.get(row.name, (row.name, "Result"))
        ref = AnalyzerRef(row.id, row.name, row.definition_id, namespace, predicate)
        for data_type in row.data_types:
            state.by_type.setdefault(data_type, []).append(ref)
    return state
