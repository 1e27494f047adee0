"""The Node interface: what Relay refetches by id (`Query.node`, `Query.nodes`)."""

from __future__ import annotations

import strawberry


@strawberry.interface(
    description="An object that `node(id:)` and `nodes(ids:)` fetch again by its id alone: a "
    "Job, an Analyzer or an Attachment. One generator of 80 random bits makes the ids of "
    "all three, so an id names one object; were one ever shared, node answers the Job first, "
    "then the Analyzer."
)
class Node:
    id: strawberry.ID = strawberry.field(description="The object's id: pass it to node(id:).")
