"""The registry of filterable fields per entity: the single source for parser, compiler and API."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column

from app.db.models import analyzers, artifacts, attachments, jobs, reports, taxonomies
from app.tql.ast import Op

JOB_STATUSES = ("WAITING", "IN_PROGRESS", "SUCCESS", "FAILURE", "TIMEOUT", "CANCELLED", "DELETED")
TAXONOMY_LEVELS = ("INFO", "SAFE", "SUSPICIOUS", "MALICIOUS")  # in order: stored as the rank
PRIORITIES = ("LOW", "NORMAL", "HIGH", "URGENT")


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


@dataclass(frozen=True)
class AnyHash:
    """`hash`: the job's attachment has the digest (sha256, sha1 or md5), or the job is a
    `hash` job whose data is it; hex compares without case."""

    foreign_key: Column[Any]
    key: Column[Any]
    digests: tuple[Column[Any], ...]
    data_type: Column[Any]
    data: Column[Any]


Source = Column[Any] | Related | JsonList | AnyHash


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
    # An ordered enum stored as its rank (the index in enum_values): compared as ranks.
    ranked: bool = False
    # Hex digests: the input is lowered (stored digests are lower case).
    hex: bool = False

    def __post_init__(self) -> None:
        if not self.operators:
            object.__setattr__(self, "operators", DEFAULT_OPERATORS[self.type])


class FieldRegistry(Mapping[str, FieldSpec]):
    """Fields by API name; `lookup` also finds them case-insensitively, as TQL does."""

    def __init__(
        self,
        entity: Entity,
        specs: list[FieldSpec],
        time_fields: dict[str, str],
        relations: Mapping[str, Relation] | None = None,
    ):
        self.entity = entity
        # Rows hanging off each row (`taxonomy has (…)`), by their name in TQL.
        self.relations = dict(relations or {})
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

    def relation(self, name: str) -> Relation | None:
        return next((r for n, r in self.relations.items() if n.lower() == name.lower()), None)

    def names(self) -> list[str]:
        """Every name a condition can start with: the fields and the relations."""
        return [*self._by_name, *self.relations]


@dataclass(frozen=True)
class Relation:
    """Rows of another table that belong to a row (a job's taxonomies): `column` holds the
    owner's `key`; `fields` are what a `has (…)` condition can test on one of them."""

    name: str
    column: Column[Any]
    key: Column[Any]
    fields: FieldRegistry
    description: str


def _s(name: str, source: Source, description: str, nullable: bool = False) -> FieldSpec:
    return FieldSpec(name, FieldType.STRING, source, description, nullable)


def _t(name: str, source: Column[Any], description: str, nullable: bool = False) -> FieldSpec:
    return FieldSpec(name, FieldType.DATETIME, source, description, nullable)


def _i(name: str, source: Column[Any], description: str, nullable: bool = False) -> FieldSpec:
    return FieldSpec(name, FieldType.INT, source, description, nullable)


_LEVEL_OPS = _EQUALITY + _ORDER + _NULLS
t = taxonomies.c
TAXONOMY_FIELDS = FieldRegistry(
    Entity.JOB,
    [
        FieldSpec(
            "level",
            FieldType.ENUM,
            t.level,
            "Its level, ordered INFO < SAFE < SUSPICIOUS < MALICIOUS.",
            enum_values=TAXONOMY_LEVELS,
            operators=_EQUALITY + _ORDER,
            ranked=True,
        ),
        _s("namespace", t.namespace, "Its namespace, e.g. VT."),
        _s("predicate", t.predicate, "Its predicate, e.g. GetReport."),
        _s("value", t.value, "Its value, e.g. 12/70."),
    ],
    time_fields={},
)
r = artifacts.c
ARTIFACT_FIELDS = FieldRegistry(
    Entity.JOB,
    [
        _s("dataType", r.data_type, "The artifact's data type (ip, domain, file…)."),
        _s("data", r.data, "The observable found; null for a file.", nullable=True),
        _s("message", r.message, "The artifact's message.", nullable=True),
        _i("tlp", r.tlp, "Its TLP, 0..3."),
        FieldSpec(
            "tags",
            FieldType.STRING,
            JsonList(r.tags),
            'A tag of the artifact: `tags = "x"` matches artifacts tagged x.',
            operators=_EQUALITY,
        ),
    ],
    time_fields={},
)
_DIGEST = "of the job's attachment (hex, any case); null for non-file jobs."


def _digest(name: str, column: Column[Any], what: str) -> FieldSpec:
    source = Related(jobs.c.attachment_id, attachments.c.id, column)
    return FieldSpec(name, FieldType.STRING, source, f"{what} {_DIGEST}", True, hex=True)


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
        _digest("attachmentSha256", attachments.c.sha256, "SHA-256"),
        _digest("attachmentSha1", attachments.c.sha1, "SHA-1"),
        _digest("attachmentMd5", attachments.c.md5, "MD5"),
        _s(
            "attachmentName",
            Related(c.attachment_id, attachments.c.id, attachments.c.name),
            "The file name of the job's attachment; null for non-file jobs.",
            nullable=True,
        ),
        FieldSpec(
            "hash",
            FieldType.STRING,
            AnyHash(
                c.attachment_id,
                attachments.c.id,
                (attachments.c.sha256, attachments.c.sha1, attachments.c.md5),
                c.data_type,
                c.data,
            ),
            "A digest (hex, any case): the attachment's sha256, sha1 or md5 is it, or the job "
            "is a `hash` job whose data is it.",
            operators=(Op.EQ, Op.IN),
            hex=True,
        ),
        FieldSpec(
            "verdict",
            FieldType.ENUM,
            c.verdict,
            "The report's highest taxonomy level, ordered INFO < SAFE < SUSPICIOUS < "
            "MALICIOUS; null without a report or taxonomies.",
            nullable=True,
            enum_values=TAXONOMY_LEVELS,
            operators=_LEVEL_OPS,
            ranked=True,
        ),
        FieldSpec(
            "priority",
            FieldType.ENUM,
            c.priority,
            "The job's queue priority; values match case-insensitively.",
            enum_values=PRIORITIES,
        ),
        FieldSpec(
            "reportSuccess",
            FieldType.BOOLEAN,
            Related(c.id, reports.c.job_id, reports.c.success),
            "Whether the job's report says it succeeded; null until a report exists.",
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
    relations={
        "taxonomy": Relation(
            "taxonomy",
            taxonomies.c.job_id,
            jobs.c.id,
            TAXONOMY_FIELDS,
            "A job with one taxonomy of its report matching every condition inside: "
            'taxonomy has (level >= "suspicious" and namespace = "VT").',
        ),
        "artifact": Relation(
            "artifact",
            artifacts.c.job_id,
            jobs.c.id,
            ARTIFACT_FIELDS,
            "A job with one artifact matching every condition inside: "
            'artifact has (dataType = "domain").',
        ),
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
