"""Identifiers: 80 random bits in hex, so they reveal nothing about how many rows exist or when."""

from __future__ import annotations

import random
import secrets


def new_id(rng: random.Random | None = None) -> str:
    """A new id; from `rng` when given, so that seeded data sets come out the same each load."""
    bits = rng.getrandbits(80) if rng is not None else secrets.randbits(80)
    return f"{bits:020x}"
