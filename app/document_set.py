"""Operation files read as one document set: fragments are shared between files (as the code
generators and Relay's compiler read them), and each operation stands alone once printed with
the fragments it uses."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    Node,
    OperationDefinitionNode,
    parse,
    print_ast,
)
from graphql.language import Visitor, visit


def read_set(folders: Iterable[Path]) -> DocumentNode:
    """Every `.graphql` file under `folders`, in path order, as one document."""
    paths = sorted(path for folder in folders for path in Path(folder).rglob("*.graphql"))
    definitions = [d for path in paths for d in parse(path.read_text()).definitions]
    return DocumentNode(definitions=tuple(definitions))


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def used_fragments(
    node: Node, fragments: dict[str, FragmentDefinitionNode]
) -> list[FragmentDefinitionNode]:
    """The fragments `node` spreads, directly or through other fragments, sorted by name."""
    found: dict[str, FragmentDefinitionNode] = {}
    waiting = [node]
    while waiting:
        for name in _spreads(waiting.pop()):
            if name not in found and name in fragments:
                found[name] = fragments[name]
                waiting.append(fragments[name])
    return [found[name] for name in sorted(found)]


def standalone(document: DocumentNode) -> dict[str, str]:
    """Each named operation of the set, printed with the fragments it uses: a document a
    client can send as it is."""
    fragments = fragments_of(document)
    return {
        operation.name.value: print_ast(
            DocumentNode(definitions=(operation, *used_fragments(operation, fragments)))
        )
        for operation in document.definitions
        if isinstance(operation, OperationDefinitionNode) and operation.name is not None
    }


def _spreads(node: Node) -> set[str]:
    names: set[str] = set()

    class Spreads(Visitor):
        def enter_fragment_spread(self, spread: FragmentSpreadNode, *_: object) -> None:
            names.add(spread.name.value)

    visit(node, Spreads())
    return names
