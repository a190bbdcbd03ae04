"""The resolved shape of an Avro schema: only what resolution and canonical form look at.

Named types are single shared objects, so a recursive schema is a cyclic graph rather than
an infinite tree; everything that walks it must guard on identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


@dataclass(frozen=True)
class Decimal:
    """A valid ``decimal`` logical type: the one logical type the spec gives resolution rules."""

    precision: int
    scale: int

    def __str__(self) -> str:
        return f"decimal({self.precision},{self.scale})"


@dataclass(eq=False)
class PrimitiveNode:
    type: str
    decimal: Decimal | None = None


@dataclass(eq=False, repr=False, kw_only=True)
class NamedNode:
    """Record, enum or fixed: matched across schemas by name, defined once per schema."""

    fullname: str
    #: Fully qualified, as the spec says aliases are relative to the type's own namespace.
    aliases: frozenset[str]
    #: Defined by a schema reference rather than in the schema text itself, so the canonical
    #: form names it instead of spelling it out.
    external: bool = False

    @property
    def short_name(self) -> str:
        return self.fullname.rpartition(".")[2]

    def __repr__(self) -> str:  # the default would recurse forever on recursive types
        return f"{type(self).__name__}({self.fullname!r})"


@dataclass(eq=False, repr=False, kw_only=True)
class FieldNode:
    name: str
    type: Node
    aliases: tuple[str, ...] = ()
    has_default: bool = False
    default: object = None


@dataclass(eq=False, repr=False, kw_only=True)
class RecordNode(NamedNode):
    #: Filled after the node is registered, so fields can refer back to their own record.
    fields: list[FieldNode] = field(default_factory=list)


@dataclass(eq=False, repr=False, kw_only=True)
class EnumNode(NamedNode):
    symbols: tuple[str, ...]
    default: str | None = None


@dataclass(eq=False, repr=False, kw_only=True)
class FixedNode(NamedNode):
    size: int
    decimal: Decimal | None = None


@dataclass(eq=False)
class ArrayNode:
    items: Node


@dataclass(eq=False)
class MapNode:
    values: Node


@dataclass(eq=False)
class UnionNode:
    branches: tuple[Node, ...]


Node: TypeAlias = (
    PrimitiveNode | RecordNode | EnumNode | FixedNode | ArrayNode | MapNode | UnionNode
)
#: A named type as it appears in a name table.
Named: TypeAlias = RecordNode | EnumNode | FixedNode


def kind(node: Node) -> str:
    """The type keyword: a primitive's name, or record/enum/fixed/array/map/union."""
    if isinstance(node, PrimitiveNode):
        return node.type
    if isinstance(node, RecordNode):
        return "record"
    if isinstance(node, EnumNode):
        return "enum"
    if isinstance(node, FixedNode):
        return "fixed"
    if isinstance(node, ArrayNode):
        return "array"
    if isinstance(node, MapNode):
        return "map"
    return "union"


def describe(node: Node) -> str:
    """A short human name for a type, for messages: ``long``, ``record com.acme.Order``."""
    if isinstance(node, PrimitiveNode):
        return f"{node.type} ({node.decimal})" if node.decimal else node.type
    if isinstance(node, FixedNode):
        text = f"fixed {node.fullname} (size {node.size})"
        return f"{text} ({node.decimal})" if node.decimal else text
    if isinstance(node, NamedNode):
        return f"{kind(node)} {node.fullname}"
    if isinstance(node, ArrayNode):
        return f"array of {describe(node.items)}"
    if isinstance(node, MapNode):
        return f"map of {describe(node.values)}"
    return "union [" + ", ".join(_branch_name(b) for b in node.branches) + "]"


def _branch_name(node: Node) -> str:
    return node.fullname if isinstance(node, NamedNode) else kind(node)
