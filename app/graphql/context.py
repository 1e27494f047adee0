"""The request context: who is calling, how to reach the database, and per-request loaders."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

from starlette.requests import HTTPConnection
from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from app.auth import Principal
from app.blobs import BlobStore
from app.config import Settings
from app.db.engine import Database
from app.services import analyzers, attachments, jobs, queue_status
from app.services.listing import Listing, PageRows, count, exists_behind, fetch_pages
from app.services.live import Hub
from app.services.queue import Wakeup
from app.signing import Signer

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def loader(
    batch: Callable[[Sequence[K]], Awaitable[dict[K, V]]], missing: V | None = None
) -> DataLoader[K, V | None]:
    """A DataLoader over a batch function that returns {key: value}; absent keys get `missing`."""

    async def load(keys: list[K]) -> list[V | None]:
        found = await batch(keys)
        return [found.get(key, missing) for key in keys]

    return DataLoader(load_fn=load)


class ListingBatch:
    """Pages, counts and pageInfo of one listing, batched over its groups (parents)."""

    def __init__(self, db: Database, listing: Listing) -> None:
        self.listing = listing
        groups: Callable[[Sequence[Any]], Sequence[Any] | None] = (
            (lambda keys: keys) if listing.group is not None else (lambda keys: None)
        )

        async def run(fn: Any, keys: Sequence[Any]) -> Any:
            async with db.read() as conn:
                return await fn(conn, listing, groups(keys))

        self.pages: DataLoader[Any, PageRows | None] = loader(lambda k: run(fetch_pages, k))
        self.counts: DataLoader[Any, int | None] = loader(lambda k: run(count, k), 0)
        self.behind: DataLoader[Any, bool | None] = loader(lambda k: run(exists_behind, k), False)


class Loaders:
    """One loader per relation, named after what it loads; built per request, never shared."""

    def __init__(self, db: Database, principal: Principal) -> None:
        org = principal.organization
        by_id = jobs.JobScope(org, include_deleted=True)  # a deleted job is still found by id
        listed = jobs.JobScope(org)
        self.db = db
        self.job_by_id = loader(lambda ids: jobs.jobs_by_id(db, by_id, ids))
        self.last_job_by_analyzer_id = loader(
            lambda ids: jobs.last_jobs_by_analyzer(db, listed, ids)
        )
        self.analyzer_by_id = loader(lambda ids: analyzers.analyzers_by_id(db, org, ids))
        self.attachment_by_id = loader(lambda ids: attachments.attachments_by_id(db, org, ids))
        self.report_by_job_id = loader(lambda ids: jobs.reports_by_job(db, ids))
        self.report_full_by_job_id = loader(
            lambda ids: jobs.reports_by_job(db, ids, with_full=True)
        )
        self.events_by_job_id: DataLoader[str, list[Any] | None] = loader(
            lambda ids: jobs.events_by_job(db, ids), []
        )
        self.artifacts_by_job_id: DataLoader[str, list[Any] | None] = loader(
            lambda ids: jobs.artifacts_by_job(db, ids), []
        )
        self.queue_by_job_id = loader(lambda ids: queue_status.queue_views(db, org, ids))
        self.queue_depth_by_analyzer_id = loader(lambda ids: analyzers.queue_depths(db, ids), 0)
        self._listings: dict[Hashable, ListingBatch] = {}
        # Analyzer objects already made this request, by id (see app/graphql/loaded.py).
        self.analyzers_made: dict[str, Any] = {}

    def listing(self, key: Hashable, make: Callable[[], Listing]) -> ListingBatch:
        """The batch for one listing shape: parents asking with the same arguments share it."""
        if key not in self._listings:
            self._listings[key] = ListingBatch(self.db, make())
        return self._listings[key]

    def clear_job(self, job_id: str) -> None:
        """Forget what this request loaded about a job, after a mutation changed it."""
        for relation in (
            self.job_by_id,
            self.report_by_job_id,
            self.report_full_by_job_id,
            self.events_by_job_id,
            self.artifacts_by_job_id,
            self.queue_by_job_id,
        ):
            # strawberry's clear() raises KeyError for a key this request never loaded.
            with contextlib.suppress(KeyError):
                relation.clear(job_id)


@dataclass
class Context:
    request: HTTPConnection  # a Request, or the WebSocket of a live connection
    settings: Settings
    db: Database
    blobs: BlobStore
    signer: Signer
    principal: Principal
    wakeup: Wakeup  # long-polling claims of this process, woken by submissions here
    hub: Hub | None = None  # live updates of this process
    key_id: str = ""  # the API key's id: subscriptions are counted per key
    connection_params: dict[str, Any] | None = None  # graphql-transport-ws connection_init
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.db, self.principal)

    def renew_loaders(self) -> None:
        """Fresh loaders: each event of a subscription reads the job as it is then."""
        self.loaders = Loaders(self.db, self.principal)

    @property
    def live(self) -> Hub:
        assert self.hub is not None, "the app wires a hub into every context"
        return self.hub


Info: TypeAlias = StrawberryInfo[Context, None]
