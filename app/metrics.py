"""The process's Prometheus metrics (prometheus-client), and the text a scrape of /metrics reads.

Metrics are module-level, in one registry of jobql's own: they count this process, whichever
app or service touches them. Gauges that describe the database (pool use, queue depth) are
set at scrape time by app/ops.py, so they cost nothing between scrapes. With `--workers N`
each process answers for itself (see docs/operations.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

# The `_created` series double every counter and histogram for a timestamp no dashboard reads.
disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry(auto_describe=True)

# Operation names come from clients: past this many distinct ones, further names count as
# "other", so a client inventing names cannot grow the process's memory without end.
MAX_OPERATION_LABELS = 200
NO_OPERATION = "-"
OTHER_OPERATION = "other"

REQUESTS = Counter(
    "jobql_http_requests",
    "HTTP requests answered, by route, GraphQL operation name and status code.",
    ["route", "operation", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "jobql_http_request_duration_seconds",
    "Time from a request's arrival to its response's last byte, by route.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
POOL_IN_USE = Gauge(
    "jobql_db_pool_in_use",
    "Database connections of this process's pool checked out at scrape time.",
    registry=REGISTRY,
)
POOL_SIZE = Gauge(
    "jobql_db_pool_size",
    "Connections this process's pool keeps (JOBQL_POOL_SIZE).",
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "jobql_queue_depth",
    "Jobs waiting in the queue (QUEUED, not claimed), by analyzer id, at scrape time.",
    ["analyzer"],
    registry=REGISTRY,
)
CLAIMS = Counter(
    "jobql_queue_claimed_jobs",
    "Jobs handed to workers by claims in this process, by analyzer id.",
    ["analyzer"],
    registry=REGISTRY,
)
# Fed by the live subsystem: the subscriptions (app/graphql/live.py) and the hub
# (app/services/live.py).
SUBSCRIPTIONS = Gauge(
    "jobql_subscriptions",
    "GraphQL subscriptions running in this process, by transport (websocket, sse).",
    ["transport"],
    registry=REGISTRY,
)
TRANSPORTS = ("websocket", "sse")
for _transport in TRANSPORTS:  # both series exist from the start, at 0
    SUBSCRIPTIONS.labels(_transport)
LIVE_LAG = Histogram(
    "jobql_live_lag_seconds",
    "Time from a job event's timestamp (taken in its transaction, just before the commit) to "
    "its hand-over to a live reader of this process; replays from a cursor are not counted.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)

_operations: set[str] = set()


def operation_label(name: str | None) -> str:
    """`name` as a label value, within the bound on distinct operation names."""
    if not name:
        return NO_OPERATION
    if name in _operations:
        return name
    if len(_operations) >= MAX_OPERATION_LABELS:
        return OTHER_OPERATION
    _operations.add(name)
    return name


def observe_request(route: str, operation: str | None, status: int, seconds: float) -> None:
    REQUESTS.labels(route, operation_label(operation), str(status)).inc()
    LATENCY.labels(route).observe(seconds)


def set_queue_depth(depths: dict[str, int]) -> None:
    """Replaces the per-analyzer depths: an analyzer with nothing queued is absent."""
    QUEUE_DEPTH.clear()
    for analyzer, depth in depths.items():
        QUEUE_DEPTH.labels(analyzer).set(depth)


@contextlib.contextmanager
def subscription_running(transport: str) -> Iterator[None]:
    """Counts a subscription in jobql_subscriptions for as long as the block runs."""
    gauge = SUBSCRIPTIONS.labels(transport)
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()


def observe_live_lag(at: datetime) -> None:
    """A live event handed over now; `at` is its timestamp (clocks of other hosts may be a
    little off: a negative lag counts as 0)."""
    LIVE_LAG.observe(max(0.0, (datetime.now(UTC) - at).total_seconds()))


def exposition() -> bytes:
    return generate_latest(REGISTRY)
