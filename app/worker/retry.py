"""How long the worker waits before trying again something that failed for the network."""

from __future__ import annotations

RETRY_SECONDS = (0.5, 1, 2, 4, 8)  # back-off while the server cannot be reached


def backoff(failures: int) -> float:
    """The pause after `failures` failures in a row (0: the first), at most 8 s."""
    return RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
