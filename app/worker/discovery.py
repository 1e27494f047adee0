"""Which of the organization's analyzers this worker runs: those named like a built-in."""

from __future__ import annotations

from collections.abc import Sequence

from app.worker.analyzers import BUILT_INS, BuiltIn
from app.worker.client import JobqlWorkerClient


class NothingToRun(Exception):
    """The organization has no analyzer this worker can run (or none of those asked for)."""


async def runnable_analyzers(
    client: JobqlWorkerClient, wanted: Sequence[str] = ()
) -> dict[str, BuiltIn]:
    """Analyzer id -> the built-in that runs it.

    An analyzer is a built-in's when its definition id or its name is the built-in's name.
    `wanted` (names or ids) narrows the choice; a wanted one not found is an error, so a
    mistyped `--analyzers` does not start a worker that silently runs nothing.
    """
    found: dict[str, BuiltIn] = {}
    seen: set[str] = set()
    after: str | None = None
    while True:
        page = (await client.worker_analyzers(after=after)).analyzers
        for analyzer in page.nodes:
            builtin = BUILT_INS.get(analyzer.definition_id) or BUILT_INS.get(analyzer.name)
            names = {analyzer.id, analyzer.name, analyzer.definition_id}
            if builtin is None or (wanted and not names & set(wanted)):
                continue
            found[analyzer.id] = builtin
            seen |= names
        if not page.page_info.has_next_page:
            break
        after = page.page_info.end_cursor
    missing = [name for name in wanted if name not in seen]
    if missing:
        raise NothingToRun(
            f"no built-in analyzer {', '.join(missing)} in this organization "
            f"(built-ins: {', '.join(BUILT_INS)})"
        )
    if not found:
        raise NothingToRun(
            f"this organization has no analyzer named like a built-in ({', '.join(BUILT_INS)})"
        )
    return found
