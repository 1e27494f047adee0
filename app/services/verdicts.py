"""A report's verdict: the highest level among its taxonomies, kept on the job as a rank.

`job.verdict` and the `taxonomy` rows are written with the report, in the same transaction,
by every writer of reports (worker completions, the demo and synthetic seeders) through
`verdict_rank` and `taxonomy_rows`, so a listing filters and sorts on the verdict with an index
and a filter asks for one taxonomy matching several conditions with one EXISTS.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

LEVELS = ("INFO", "SAFE", "SUSPICIOUS", "MALICIOUS")  # the TaxonomyLevel enum's order
LEVEL_RANK = {level: rank for rank, level in enumerate(LEVELS)}


def level_rank(level: str) -> int:
    """INFO 0 … MALICIOUS 3; a level outside the enum is refused where reports come in."""
    return LEVEL_RANK[level.upper()]


def verdict_rank(taxonomies: Iterable[Mapping[str, Any]]) -> int | None:
    """The highest level's rank, None for a report without taxonomies."""
    ranks = [level_rank(str(t["level"])) for t in taxonomies]
    return max(ranks) if ranks else None


def verdict_name(rank: int | None) -> str | None:
    return None if rank is None else LEVELS[rank]


def taxonomy_rows(job_id: str, taxonomies: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The `taxonomy` table's rows of one report, in the report's order."""
    return [
        {
            "job_id": job_id,
            "level": level_rank(str(t["level"])),
            "namespace": str(t["namespace"]),
            "predicate": str(t["predicate"]),
            "value": str(t["value"]),
        }
        for t in taxonomies
    ]
