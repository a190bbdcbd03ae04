"""Parsing Canonical Form, written from the node graph.

fastavro's ``to_parsing_canonical_form`` re-parses its input without the names of schema
references, so it cannot canonicalise a schema that uses them. This writer follows the same
spec rules and produces byte-identical output (the tests check that) on every schema without
references, and names referenced types instead of spelling them out, as the schema text does.
"""

from __future__ import annotations

import json

from streamplane.registry.compat._avro_nodes import (
    ArrayNode,
    EnumNode,
    FixedNode,
    MapNode,
    NamedNode,
    Node,
    PrimitiveNode,
    RecordNode,
    UnionNode,
)


def canonical_form(root: Node) -> str:
    """[PRIMITIVES] [FULLNAMES] [STRIP] [ORDER] [STRINGS] [INTEGERS] [WHITESPACE] of the spec."""
    parts: list[str] = []
    _write(root, parts, set())
    return "".join(parts)


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _write(node: Node, out: list[str], written: set[int]) -> None:
    if isinstance(node, PrimitiveNode):
        out.append(_q(node.type))
    elif isinstance(node, NamedNode):
        # A named type is spelled out at its first (defining) use and named after that.
        if node.external or id(node) in written:
            out.append(_q(node.fullname))
            return
        written.add(id(node))
        head = f'{{"name":{_q(node.fullname)},"type":'
        if isinstance(node, RecordNode):
            out.append(head + '"record","fields":[')
            for index, field in enumerate(node.fields):
                out.append(("," if index else "") + f'{{"name":{_q(field.name)},"type":')
                _write(field.type, out, written)
                out.append("}")
            out.append("]}")
        elif isinstance(node, EnumNode):
            symbols = ",".join(_q(s) for s in node.symbols)
            out.append(head + f'"enum","symbols":[{symbols}]}}')
        elif isinstance(node, FixedNode):
            out.append(head + f'"fixed","size":{node.size}}}')
    elif isinstance(node, ArrayNode):
        out.append('{"type":"array","items":')
        _write(node.items, out, written)
        out.append("}")
    elif isinstance(node, MapNode):
        out.append('{"type":"map","values":')
        _write(node.values, out, written)
        out.append("}")
    elif isinstance(node, UnionNode):
        out.append("[")
        for index, branch in enumerate(node.branches):
            if index:
                out.append(",")
            _write(branch, out, written)
        out.append("]")
