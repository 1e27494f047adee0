"""Relation resolvers that hand on their DataLoader's future, mapped, instead of awaiting it.

An `async def` resolver costs a coroutine and, once the executor gathers it, a task, for
every parent: 100 of them for a page of 50 jobs with their analyzer and report. A plain
resolver that returns the loader's future, mapped to the GraphQL type, costs one future and
one callback; the DataLoader batches the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")
T = TypeVar("T")


def then(loading: Awaitable[R], convert: Callable[[R], T]) -> Awaitable[T]:
    """What `convert` makes of the loaded value, as a future (errors pass through)."""
    if not isinstance(loading, asyncio.Future):
        return _await_then(loading, convert)
    out: asyncio.Future[T] = loading.get_loop().create_future()

    def done(source: asyncio.Future[R]) -> None:
        if out.done():
            return
        if source.cancelled():
            out.cancel()
        elif (error := source.exception()) is not None:
            out.set_exception(error)
        else:
            try:
                out.set_result(convert(source.result()))
            except Exception as e:  # noqa: BLE001 - handed to whoever awaits, like a coroutine
                out.set_exception(e)

    loading.add_done_callback(done)
    return out


async def _await_then(loading: Awaitable[R], convert: Callable[[R], T]) -> T:
    return convert(await loading)


def optional(convert: Callable[[Any], T]) -> Callable[[Any], T | None]:
    """`convert` for a row that may be missing (None stays None)."""
    return lambda row: convert(row) if row is not None else None


def shared(
    made: dict[K, Awaitable[T]], loader: DataLoader[K, R], key: K, convert: Callable[[R], T]
) -> Awaitable[T]:
    """`then(loader.load(key), convert)`, made once per key in `made` (a per-request dict):
    parents that share a key (50 jobs of 18 analyzers) share one future and one converted
    object. For loaders nothing clears (a cleared key would keep its old object in `made`)."""
    found = made.get(key)
    if found is None:
        found = made[key] = then(loader.load(key), convert)
    return found
