"""The filter language: predicate tree, field registry, TQL parser and SQL compiler (pure)."""

from app.tql.ast import (
    FALSE,
    TRUE,
    And,
    Condition,
    Has,
    Match,
    Not,
    Op,
    Or,
    Predicate,
    RelativeTime,
    TimeRange,
    conjoin,
)
from app.tql.check import TqlLimits, check_limits, make_condition, make_time_range
from app.tql.compiler import compile_predicate, mentions_now
from app.tql.fields import (
    ANALYZER_FIELDS,
    JOB_FIELDS,
    REGISTRIES,
    Entity,
    FieldRegistry,
    FieldSpec,
    FieldType,
)
from app.tql.parser import parse_tql
from app.tql.values import InvalidValue, check_text, parse_time

__all__ = [
    "conjoin",
    "mentions_now",
    "ANALYZER_FIELDS",
    "FALSE",
    "JOB_FIELDS",
    "REGISTRIES",
    "TRUE",
    "And",
    "Condition",
    "Entity",
    "FieldRegistry",
    "FieldSpec",
    "FieldType",
    "Has",
    "InvalidValue",
    "Match",
    "Not",
    "Op",
    "Or",
    "Predicate",
    "RelativeTime",
    "TimeRange",
    "TqlLimits",
    "check_limits",
    "check_text",
    "compile_predicate",
    "make_condition",
    "make_time_range",
    "parse_time",
    "parse_tql",
]
