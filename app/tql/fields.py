"""The registry of filterable fields per entity: the single source for parser, compiler and API."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column

from app.db.models import analyzers, attachments, jobs
from app.tql.ast import Op

JOB_STATUSES = ("WAITING", "IN_PROGRESS", "SUCCESS", "FAILURE", "TIMEOUT", "CANCELLED", "DELETED")


class FieldType(enum.Enum):
    """The type of a filterable field, which decides its operators and the values it takes."""

    STRING = "STRING"
    INT = "INT"
    DATETIME = "DATETIME"
    ENUM = "ENUM"
    ID = "ID"
    BOOLEAN = "BOOLEAN"


class Entity(enum.Enum):
    JOB = "JOB"
    ANALYZER = "ANALYZER"


_EQUALITY = (Op.EQ, Op.NEQ, Op.IN, Op.NOT_IN)
_NULLS = (Op.IS_NULL, Op.IS_NOT_NULL)
_ORDER = (Op.LT, Op.LTE, Op.GT, Op.GTE, Op.BETWEEN)
_TEXT = (
    Op.CONTAINS,
    Op.NOT_CONTAINS,
    Op.STARTSWITH,
    Op.NOT_STARTSWITH,
    Op.ENDSWITH,
    Op.NOT_ENDSWITH,
)
# IS NULL is offered on every string, int and time field, even non-nullable ones, because the
# typed inputs (StringFilter, IntFilter, DateTimeFilter) are shared by all fields of a type.
DEFAULT_OPERATORS: Mapping[FieldType, tuple[Op, ...]] = {
    FieldType.STRING: _EQUALITY + _TEXT + _NULLS,
    FieldType.INT: _EQUALITY + _ORDER + _NULLS,
    FieldType.DATETIME: (Op.EQ, Op.NEQ) + _ORDER + _NULLS,
    FieldType.ENUM: _EQUALITY,
    FieldType.ID: _EQUALITY,
    FieldType.BOOLEAN: (Op.EQ, Op.NEQ),
}


@dataclass(frozen=True)
class Related:
    """A column of another table, reached through a nullable foreign key of the filtered one."""

    foreign_key: Column[Any]
    key: Column[Any]
    column: Column[Any]


@dataclass(frozen=True)
class JsonList:
    """A JSON array of strings; `field = v` means "the array contains v"."""

    column: Column[Any]


Source = Column[Any] | Related | JsonList


@dataclass(frozen=True)
class FieldSpec:
    """One filterable field: its API name, type, where it lives and what it allows."""

    name: str
    type: FieldType
    source: Source
    description: str
    nullable: bool = False
    enum_values: tuple[str, ...] = ()
    operators: tuple[Op, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.operators:
            object.__setattr__(self, "operators", DEFAULT_OPERATORS[self.type])


class FieldRegistry(Mapping[str, FieldSpec]):
    """Fields by API name; `lookup` also finds them case-insensitively, as TQL does."""

    def __init__(self, entity: Entity, specs: list[FieldSpec], time_fields: dict[str, str]):
        self.entity = entity
        self._by_name = {spec.name: spec for spec in specs}
        self._by_folded = {spec.name.lower(): spec for spec in specs}
        # Time range field enum names (CREATED_AT) -> field names (createdAt).
        self.time_fields = time_fields

    def __getitem__(self, name: str) -> FieldSpec:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def lookup(self, name: str) -> FieldSpec | None:
        return self._by_folded.get(name.lower())


def _s(name: str, source: Source, description: str, nullable: bool = False) -> FieldSpec:
    return FieldSpec(name, FieldType.STRING, source, description, nullable)


def _t(name: str, source: Column[Any], description: str, nullable: bool = False) -> FieldSpec:
    return FieldSpec(name, FieldType.DATETIME, source, description, nullable)


def _i(name: str, source: Column[Any], description: str, nullable: bool = False) -> FieldSpec:
    return FieldSpec(name, FieldType.INT, source, description, nullable)


c = jobs.c
JOB_FIELDS = FieldRegistry(
    Entity.JOB,
    [
        FieldSpec("id", FieldType.ID, c.id, "The job's id."),
        FieldSpec(
            "status",
            FieldType.ENUM,
            c.status,
            "The job's status; values match case-insensitively.",
            enum_values=JOB_STATUSES,
        ),
        _s("dataType", c.data_type, "The observable's data type (ip, domain, file…)."),
        _s("data", c.data, "The observable itself; null for file jobs.", nullable=True),
        _s("message", c.message, "The job's message."),
        _s("analyzerId", c.analyzer_id, "The id of the analyzer that ran the job."),
        _s("analyzerName", c.analyzer_name, "The analyzer's name, e.g. Abuse_Finder_3_0."),
        _s("analyzerDefinitionId", c.analyzer_definition_id, "The analyzer's definition id."),
        _s("createdBy", c.created_by, "Login of the user who submitted the job."),
        _s("updatedBy", c.updated_by, "Login of the last user who changed the job.", True),
        _s(
            "attachmentSha256",
            Related(c.attachment_id, attachments.c.id, attachments.c.sha256),
            "SHA-256 of the job's attachment (lower-case hex); null for non-file jobs.",
            nullable=True,
        ),
        _i("tlp", c.tlp, "Traffic Light Protocol level, 0..3."),
        _i("pap", c.pap, "Permissible Actions Protocol level, 0..3."),
        _t("createdAt", c.created_at, "When the job was submitted."),
        _t("updatedAt", c.updated_at, "When the job last changed.", nullable=True),
        _t("startDate", c.start_date, "When the analyzer started the job.", nullable=True),
        _t("endDate", c.end_date, "When the job finished.", nullable=True),
    ],
    time_fields={
        "CREATED_AT": "createdAt",
        "START_DATE": "startDate",
        "END_DATE": "endDate",
        "UPDATED_AT": "updatedAt",
    },
)

a = analyzers.c
ANALYZER_FIELDS = FieldRegistry(
    Entity.ANALYZER,
    [
        FieldSpec("id", FieldType.ID, a.id, "The analyzer's id."),
        _s("name", a.name, "The analyzer's name, e.g. MaxMind_GeoIP_4_0."),
        _s("definitionId", a.definition_id, "The id of the analyzer's definition."),
        _s("version", a.version, "The analyzer's version."),
        FieldSpec(
            "dataType",
            FieldType.STRING,
            JsonList(a.data_types),
            'A data type the analyzer accepts: `dataType = "ip"` matches analyzers whose '
            "data types include ip.",
            operators=_EQUALITY,
        ),
        _i("maxTlp", a.max_tlp, "The highest TLP the analyzer may be given, 0..3."),
        FieldSpec("enabled", FieldType.BOOLEAN, a.enabled, "Whether the analyzer is enabled."),
        _t("createdAt", a.created_at, "When the analyzer was created."),
        _i(
            "jobCacheMinutes",
            a.job_cache_minutes,
            "How long a finished job's report is reused; null when caching is off.",
            nullable=True,
        ),
    ],
    time_fields={"CREATED_AT": "createdAt"},
)

REGISTRIES: Mapping[Entity, FieldRegistry] = {
    Entity.JOB: JOB_FIELDS,
    Entity.ANALYZER: ANALYZER_FIELDS,
}
