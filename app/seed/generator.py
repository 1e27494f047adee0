"""Rows of synthetic jobs as plain tuples, chunk by chunk, from one seeded random generator.

Jobs come in creation order (as a live system writes them), so the table's physical order
follows `created_at`; only the newest jobs can still be WAITING or IN_PROGRESS.
"""

from __future__ import annotations

import random
import threading
from bisect import bisect
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any

import orjson

from app.db.ids import new_id
from app.seed.catalog import (
    DATA_TYPE_WEIGHTS,
    FAILURES,
    MESSAGES,
    PARAMETERS,
    RECENT_STATUS_WEIGHTS,
    STATUS_WEIGHTS,
    TIMEOUT_MESSAGE,
    observables,
    taxonomy,
)
from app.seed.organizations import AnalyzerRef, OrgState

COLUMNS: dict[str, tuple[str, ...]] = {
    "job": (
        "id", "organization_id", "analyzer_id", "analyzer_name", "analyzer_definition_id",
        "data_type", "status", "data", "attachment_id", "parameters", "message", "tlp", "pap",
        "start_date", "end_date", "created_at", "created_by", "updated_at", "updated_by",
    ),
    "job_queue": (
        "job_id", "organization_id", "analyzer_id", "priority", "enqueued_at", "available_at",
        "state",
    ),
    "report": ("job_id", "success", "taxonomies", "full", "error_message", "created_at"),
    "artifact": ("job_id", "data_type", "data", "attachment_id", "tlp", "message", "tags"),
    "job_event": ("job_id", "at", "status", "previous_status", "actor", "message"),
}  # fmt: skip
TABLES = tuple(COLUMNS)
REPORTED = frozenset({"SUCCESS", "FAILURE", "TIMEOUT"})
WORKER = "cortex-worker"
SPAN = timedelta(days=90)


def _sqlite_time(value: datetime) -> str:
    """The fixed-width naive-UTC text SQLAlchemy writes for a UTCDateTime on SQLite."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


@dataclass
class Chunk:
    rows: dict[str, list[tuple[Any, ...]]] = field(
        default_factory=lambda: {table: [] for table in TABLES}
    )

    def tables(self) -> list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]:
        """(table, columns, rows) in foreign-key order."""
        return [(t, COLUMNS[t], self.rows[t]) for t in TABLES]


class Generator:
    """Job k of n is created in the k-th n-th of the last 90 days; chunks must come in order."""

    def __init__(
        self, orgs: list[OrgState], n: int, now: datetime, *, seed: str, sqlite: bool = False
    ) -> None:
        self.n, self.now, self.rng = n, now, random.Random(seed)
        self.start = now - SPAN
        self.step = (SPAN - timedelta(minutes=1)) / max(n, 1)
        self.stamp: Any = _sqlite_time if sqlite else (lambda value: value)
        self.pool = observables()
        self.orgs = orgs
        counts = [round(n * org.share / 100) for org in orgs[1:]]
        counts.insert(0, n - sum(counts))
        self.sequence = [i for i, count in enumerate(counts) for _ in range(count)]
        self.rng.shuffle(self.sequence)  # which organization each job k belongs to
        self.recent = n - max(n // 100, min(n, 50))  # from this job on, some are unfinished
        self.statuses = [_weighted(STATUS_WEIGHTS), _weighted(RECENT_STATUS_WEIGHTS)]
        self.types = [self._types(org) for org in orgs]
        self.lock = threading.Lock()

    def _types(self, org: OrgState) -> tuple[list[str], list[int]]:
        """The data types this organization can run, with their cumulative weights."""
        usable = [
            t for t in DATA_TYPE_WEIGHTS if org.by_type.get(t) and (t != "file" or org.attachments)
        ]
        return usable, list(accumulate(DATA_TYPE_WEIGHTS[t] for t in usable))

    def chunk(self, start: int, stop: int) -> Chunk:
        with self.lock:  # one generator, one stream of random numbers: strictly in order
            out = Chunk()
            for k in range(start, stop):
                names, weights = self.statuses[k >= self.recent]
                status = names[bisect(weights, self.rng.random() * weights[-1])]
                self._job(k, self.orgs[self.sequence[k]], status, out)
            return out

    def _job(self, k: int, org: OrgState, status: str, out: Chunk) -> None:
        rng = self.rng
        types, weights = self.types[self.sequence[k]]
        data_type = types[bisect(weights, rng.random() * weights[-1])]
        analyzer = rng.choice(org.by_type[data_type])
        created = self.start + self.step * (k + rng.random())
        attachment = rng.choice(org.attachments) if data_type == "file" else None
        data = None if attachment else rng.choice(self.pool[data_type])
        job_id = new_id(rng)
        submitter = rng.choice(org.submitters)
        tlp = rng.choices(range(4), cum_weights=(15, 40, 85, 100))[0]
        life = self._lifecycle(job_id, status, created, submitter, out)
        stamp = self.stamp
        out.rows["job"].append((
            job_id, org.id, analyzer.id, analyzer.name, analyzer.definition_id, data_type,
            status, data, attachment, rng.choice(PARAMETERS), rng.choice(MESSAGES), tlp,
            rng.choices(range(4), cum_weights=(20, 50, 90, 100))[0],
            stamp(life.start) if life.start else None, stamp(life.end) if life.end else None,
            stamp(created), submitter, stamp(life.updated) if life.updated else None,
            life.updated_by,
        ))  # fmt: skip
        if status == "WAITING":  # queued as a submission would queue it (priority NORMAL)
            out.rows["job_queue"].append(
                (job_id, org.id, analyzer.id, 1, stamp(created), stamp(created), "QUEUED")
            )
        if life.reported:
            observable = data or attachment
            self._report(job_id, life.reported, life.end, analyzer, observable, data_type, out)
            if life.reported == "SUCCESS":
                self._artifacts(job_id, tlp, analyzer, attachment, out)

    def _lifecycle(
        self, job_id: str, status: str, created: datetime, submitter: str, out: Chunk
    ) -> _Life:
        """Walks the job through its statuses, one event each, as the server would."""
        rng, life = self.rng, _Life()
        steps = _STEPS[status] if status not in _CHOICES else rng.choice(_CHOICES[status])
        at, previous = created, None
        for step in ("WAITING", *steps):
            actor, message = submitter, None
            if step != "WAITING":
                at = min(at + timedelta(seconds=rng.uniform(1, 600)), self.now)
                actor = WORKER if step in ("IN_PROGRESS", *REPORTED) else submitter
                if step == "CANCELLED":
                    message = rng.choice(("Wrong observable", "Duplicate submission", None))
                life.updated, life.updated_by = at, actor
            out.rows["job_event"].append((job_id, self.stamp(at), step, previous, actor, message))
            if step == "IN_PROGRESS":
                life.start = at
            elif step in REPORTED or step == "CANCELLED":
                life.end = at
                life.reported = step if step in REPORTED else None
            previous = step
        return life

    def _report(
        self, job_id: str, status: str, at: datetime | None, analyzer: AnalyzerRef,
        observable: str | None, data_type: str, out: Chunk,
    ) -> None:  # fmt: skip
        rng = self.rng
        success = status == "SUCCESS"
        error = (
            None if success else TIMEOUT_MESSAGE if status == "TIMEOUT" else rng.choice(FAILURES)
        )
        taxonomies = []
        if success:
            taxonomies.append(taxonomy(self.rng, analyzer.namespace, analyzer.predicate))
            if rng.random() < 0.3:
                taxonomies.append(taxonomy(self.rng, analyzer.namespace, "Score"))
        full = (
            {
                "observable": observable,
                "analyzer": analyzer.name,
                "results": [{"source": analyzer.namespace, "hits": rng.randint(0, 70)}],
            }
            if success
            else {"errorMessage": error, "input": {"dataType": data_type}}
        )
        out.rows["report"].append((
            job_id, success, orjson.dumps(taxonomies).decode(), orjson.dumps(full).decode(),
            error, self.stamp(at),
        ))  # fmt: skip

    def _artifacts(
        self, job_id: str, tlp: int, analyzer: AnalyzerRef, attachment: str | None, out: Chunk
    ) -> None:
        rng, rows = self.rng, out.rows["artifact"]
        tags = orjson.dumps(["synthetic", f"from:{analyzer.name}"]).decode()
        for _ in range(rng.choice((0, 0, 1, 2))):
            data_type = rng.choice(("ip", "domain", "url", "mail"))
            data = rng.choice(self.pool[data_type])
            rows.append((job_id, data_type, data, None, tlp, "found in the report", tags))
        if attachment and rng.random() < 0.3:
            rows.append(
                (job_id, "file", None, attachment, tlp, "extracted sample", '["extracted"]')
            )


@dataclass
class _Life:
    start: datetime | None = None
    end: datetime | None = None
    updated: datetime | None = None
    updated_by: str | None = None
    reported: str | None = None  # the finishing status that wrote a report


def _weighted(weights: dict[str, int]) -> tuple[list[str], list[int]]:
    return list(weights), list(accumulate(weights.values()))


_STEPS: dict[str, tuple[str, ...]] = {
    "WAITING": (),
    "IN_PROGRESS": ("IN_PROGRESS",),
    "SUCCESS": ("IN_PROGRESS", "SUCCESS"),
    "FAILURE": ("IN_PROGRESS", "FAILURE"),
    "TIMEOUT": ("IN_PROGRESS", "TIMEOUT"),
}
_CHOICES: dict[str, tuple[tuple[str, ...], ...]] = {
    "CANCELLED": (("CANCELLED",), ("IN_PROGRESS", "CANCELLED")),
    "DELETED": (("IN_PROGRESS", "SUCCESS", "DELETED"), ("IN_PROGRESS", "FAILURE", "DELETED")),
}
