"""What an analyzer hands back: a report in Cortex's shape (taxonomies, full JSON, artifacts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Level(StrEnum):
    """Cortex's taxonomy levels, least worrying first (the order of the API's enum)."""

    INFO = "INFO"
    SAFE = "SAFE"
    SUSPICIOUS = "SUSPICIOUS"
    MALICIOUS = "MALICIOUS"


@dataclass(frozen=True, slots=True)
class Taxonomy:
    level: Level
    namespace: str
    predicate: str
    value: str


@dataclass(frozen=True, slots=True)
class Artifact:
    """An observable found by the analysis, which an analyst may submit in turn."""

    data_type: str
    data: str
    message: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Observable:
    """An analyzer's input: a value (`data`) or, for file jobs, the file's bytes."""

    data_type: str
    data: str | None = None
    content: bytes | None = None
    filename: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    taxonomies: list[Taxonomy]
    full: dict[str, Any]
    artifacts: list[Artifact] = field(default_factory=list)

    @property
    def verdict(self) -> Level | None:
        """The highest level among the taxonomies, as the server computes it."""
        order = list(Level)
        return max((t.level for t in self.taxonomies), key=order.index, default=None)


class AnalyzerInputError(ValueError):
    """The observable is not what its data type says (not an IP, not a URL…): a final failure."""
