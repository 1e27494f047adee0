"""Query shape, measured before validation: depth, aliases, connection nodes, repeated fields.

One walk over the document with its fragments expanded, iterative (a long chain of fragments
cannot exhaust the stack) and bounded (it stops at the first limit passed, and never visits more
fields than the token limit allows), so a hostile document costs milliseconds. It runs before
graphql-core's validation because one of those rules, OverlappingFieldsCanBeMerged, is quadratic
in the number of times one field is repeated at one place: 200 copies of `jobs { nodes { id } }`
take half a second to validate; `max_repeated_fields` keeps that cost linear.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
    VariableNode,
    get_named_type,
)
from sqlalchemy.util import LRUCache

from app.config import Settings

CODE = "QUERY_TOO_COMPLEX"
CONNECTION_SUFFIX = "Connection"


@dataclass(frozen=True, slots=True)
class ShapeLimits:
    max_depth: int
    max_aliases: int
    max_nodes: int
    max_repeats: int
    max_fields: int
    default_page: int
    max_page: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ShapeLimits:
        return cls(
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_aliases,
            max_nodes=settings.max_node_budget,
            max_repeats=settings.max_repeated_fields,
            # Without fragments a document cannot hold more fields than tokens; expanded, it
            # may not either.
            max_fields=settings.max_tokens,
            default_page=settings.default_page_size,
            max_page=settings.max_page_size,
        )


def too_complex(message: str, limit: str, maximum: int, node: Any = None) -> GraphQLError:
    extensions = {"code": CODE, "limit": limit, "maximum": maximum}
    return GraphQLError(message, nodes=node, extensions=extensions)


@dataclass(frozen=True, slots=True)
class _Frame:
    selections: Sequence[SelectionNode]
    parent: GraphQLNamedType | None
    path: tuple[str, ...]  # response names from the root: fields merge by it
    depth: int  # nesting of selection sets, as strawberry's QueryDepthLimiter counts it
    nodes: int  # product of the page sizes of the enclosing connections
    fragments: frozenset[str]  # spread on the way here: a cycle is validation's to report
    introspection: bool  # inside __schema/__type: MaxIntrospectionDepthRule bounds it


class _Walk:
    """The counters of one document; `visit` raises the first limit passed."""

    def __init__(
        self, schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any]
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.reached: set[str] = set()
        self.repeats: Counter[tuple[str, ...]] = Counter()
        self.fields = 0
        self.read_variables = False  # whether a variable's value counted (a page size)

    def operation(
        self, operation: OperationDefinitionNode, index: int, limits: ShapeLimits
    ) -> None:
        root = {
            OperationType.QUERY: self.schema.query_type,
            OperationType.MUTATION: self.schema.mutation_type,
            OperationType.SUBSCRIPTION: self.schema.subscription_type,
        }[operation.operation]
        defaults = {
            v.variable.name.value: v.default_value for v in operation.variable_definitions or ()
        }
        start = _Frame(operation.selection_set.selections, root, (f"#{index}",), 0, 1,
                       frozenset(), False)  # fmt: skip
        self.walk(start, limits, defaults)

    def fragment(self, fragment: FragmentDefinitionNode, limits: ShapeLimits) -> None:
        """An unused fragment is never executed, but validation still compares its fields."""
        parent = self.schema.get_type(fragment.type_condition.name.value)
        start = _Frame(fragment.selection_set.selections, parent, (fragment.name.value,), 0, 1,
                       frozenset({fragment.name.value}), False)  # fmt: skip
        self.walk(start, limits, {})

    def walk(self, start: _Frame, limits: ShapeLimits, defaults: Mapping[str, Any]) -> None:
        aliases = nodes = 0
        stack = [start]
        while stack:
            frame = stack.pop()
            for selection in frame.selections:
                if isinstance(selection, FieldNode):
                    aliases += selection.alias is not None
                    child, connection = self.field(selection, frame, limits, defaults)
                    nodes += child.nodes if child is not None and connection else 0
                    if child is not None:
                        stack.append(child)
                else:
                    stack.extend(self.fragment_frames(selection, frame))
            self.check_operation(aliases, nodes, limits)

    def field(
        self, node: FieldNode, frame: _Frame, limits: ShapeLimits, defaults: Mapping[str, Any]
    ) -> tuple[_Frame | None, bool]:
        """Counts one field: the frame of its selections if it has any, and whether it is a
        connection."""
        self.fields += 1
        if self.fields > limits.max_fields:
            raise too_complex(
                f"The query selects more than {limits.max_fields} fields once its fragments "
                "are expanded",
                "fields",
                limits.max_fields,
                node,
            )
        name = node.name.value
        path = (*frame.path, node.alias.value if node.alias else name)
        self.repeats[path] += 1
        if self.repeats[path] > limits.max_repeats:
            shown = ".".join(path[1:])
            raise too_complex(
                f"`{shown}` is selected more than {limits.max_repeats} times at one place",
                "repeatedFields",
                limits.max_repeats,
                node,
            )
        if node.selection_set is None:
            return None, False
        introspection = frame.introspection or name.startswith("__")
        depth = frame.depth if introspection else frame.depth + 1
        if depth > limits.max_depth:
            raise too_complex(
                f"The query is nested more than {limits.max_depth} levels deep",
                "depth",
                limits.max_depth,
                node,
            )
        field_type = _field_type(frame.parent, name)
        connection = field_type is not None and field_type.name.endswith(CONNECTION_SUFFIX)
        nodes = frame.nodes * self.page_size(node, limits, defaults) if connection else frame.nodes
        child = _Frame(node.selection_set.selections, field_type, path, depth, nodes,
                       frame.fragments, introspection)  # fmt: skip
        return child, connection

    def fragment_frames(self, selection: SelectionNode, frame: _Frame) -> list[_Frame]:
        if isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            parent = self.schema.get_type(condition.name.value) if condition else frame.parent
            return [_Frame(selection.selection_set.selections, parent, frame.path, frame.depth,
                           frame.nodes, frame.fragments, frame.introspection)]  # fmt: skip
        assert isinstance(selection, FragmentSpreadNode)
        name = selection.name.value
        fragment = self.fragments.get(name)
        if fragment is None or name in frame.fragments:
            return []
        self.reached.add(name)
        parent = self.schema.get_type(fragment.type_condition.name.value)
        return [_Frame(fragment.selection_set.selections, parent, frame.path, frame.depth,
                       frame.nodes, frame.fragments | {name}, frame.introspection)]  # fmt: skip

    def page_size(self, node: FieldNode, limits: ShapeLimits, defaults: Mapping[str, Any]) -> int:
        """The larger of `first`/`last` as the request gives them, within the page bounds."""
        given = [
            value
            for argument in node.arguments or ()
            if argument.name.value in ("first", "last")
            for value in [self.argument_value(argument.value, defaults)]
            if isinstance(value, int) and not isinstance(value, bool)
        ]
        # Past max_page the resolver refuses with a precise error: let that one speak.
        return max(0, min(max(given, default=limits.default_page), limits.max_page))

    def argument_value(self, value: Any, defaults: Mapping[str, Any]) -> Any:
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            self.read_variables = True
            name = value.name.value
            if name in self.variables:
                return self.variables[name]
            default = defaults.get(name)
            return int(default.value) if isinstance(default, IntValueNode) else None
        return None

    def check_operation(self, aliases: int, nodes: int, limits: ShapeLimits) -> None:
        if aliases > limits.max_aliases:
            raise too_complex(
                f"The query uses {aliases} aliases; at most {limits.max_aliases} are allowed",
                "aliases",
                limits.max_aliases,
            )
        if nodes > limits.max_nodes:
            raise too_complex(
                f"The query may return up to {nodes} nodes from its connections; at most "
                f"{limits.max_nodes} are allowed. Ask nested connections for smaller pages "
                "(first/last).",
                "nodes",
                limits.max_nodes,
            )


def _field_type(parent: GraphQLNamedType | None, name: str) -> GraphQLNamedType | None:
    if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        return None
    field = parent.fields.get(name)
    return get_named_type(field.type) if field is not None else None


# Documents found within the limits whatever their variables, by schema, text and limits.
_WITHIN: LRUCache[tuple[GraphQLSchema, str, ShapeLimits], bool] = LRUCache(512)


def check_shape(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None,
    limits: ShapeLimits,
    query: str | None = None,
) -> GraphQLError | None:
    """The first limit the document passes, as a QUERY_TOO_COMPLEX error; None if within.
    With the document's `query` text, a verdict that no variable decided is remembered."""
    known = (schema, query, limits) if query is not None else None
    if known is not None and known in _WITHIN:
        return None
    walk = _Walk(schema, document, variables or {})
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    try:
        for index, operation in enumerate(operations):
            walk.operation(operation, index, limits)
        for name, fragment in walk.fragments.items():
            if name not in walk.reached:
                walk.fragment(fragment, limits)
    except GraphQLError as error:
        return error
    if known is not None and not walk.read_variables:
        _WITHIN[known] = True
    return None
