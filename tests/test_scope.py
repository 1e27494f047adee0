"""A filter that already leaves deleted jobs out makes the scope's own condition redundant."""

from __future__ import annotations

import pytest

from app.services.jobs import excludes_deleted
from app.tql import JOB_FIELDS, TqlLimits, parse_tql


@pytest.mark.parametrize(
    ("tql", "excludes"),
    [
        ('status = "SUCCESS"', True),
        ('status in ("SUCCESS", "FAILURE") and tlp >= 2', True),
        ('tlp >= 2 and (status = "WAITING")', True),
        ('status = "DELETED"', False),
        ('status in ("SUCCESS", "DELETED")', False),
        ('status != "DELETED"', False),  # implied too, but not worth a rule: left to the scope
        ('status = "SUCCESS" or tlp = 1', False),
        ('not status = "DELETED"', False),
        ("tlp >= 2", False),
    ],
)
def test_excludes_deleted(tql: str, excludes: bool) -> None:
    assert excludes_deleted(parse_tql(tql, JOB_FIELDS, TqlLimits())) is excludes


def test_no_filter_excludes_nothing() -> None:
    assert excludes_deleted(None) is False
