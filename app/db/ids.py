"""Identifiers: random, so they reveal nothing about how many rows exist or when."""

from __future__ import annotations

import secrets


def new_id() -> str:
    return secrets.token_hex(10)
