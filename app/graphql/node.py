"""The Node interface: what Relay refetches by id (`Query.node`, `Query.nodes`)."""

from __future__ import annotations

import strawberry


@strawberry.interface(
    description="An object that `node(id:)` and `nodes(ids:)` fetch again by its id alone: a "
    "Job, an Analyzer or an Attachment. Ids are unique across the three (80 random bits "
    "each), so an id names one object of one type."
)
class Node:
    id: strawberry.ID = strawberry.field(description="The object's id: pass it to node(id:).")
