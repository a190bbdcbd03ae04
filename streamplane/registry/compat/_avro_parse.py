"""Schema text to a validated node graph, with errors that say where.

fastavro accepts many schemas the spec forbids (duplicate field names, bad names, defaults of
the wrong type, unions of unions), and a registry that stores one of those hands every
Java client a schema it refuses to parse. So the rules are checked here, with a path to the
offending part; fastavro still runs afterwards as a second opinion (see ``avro.py``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any

from streamplane.registry.compat._avro_nodes import (
    PRIMITIVES,
    ArrayNode,
    Decimal,
    EnumNode,
    FieldNode,
    FixedNode,
    MapNode,
    Named,
    NamedNode,
    Node,
    PrimitiveNode,
    RecordNode,
    UnionNode,
    describe,
    kind,
)

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ORDERS = frozenset({"ascending", "descending", "ignore"})
_INT_RANGE = (-(2**31), 2**31 - 1)
_LONG_RANGE = (-(2**63), 2**63 - 1)


class SchemaProblem(Exception):
    """One thing wrong with a schema, at a path like ``/fields/amount``."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path or '/'}: {message}")


class UnknownNameProblem(SchemaProblem):
    """A name that is not (yet) defined: among references, another may define it later."""


def load_json(text: str) -> Any:
    """Parse strictly: duplicate keys and NaN are not JSON, and Java parsers reject them."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise SchemaProblem(
            "", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise SchemaProblem("", f"not valid JSON: duplicate key {key!r} in an object")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise SchemaProblem("", f"not valid JSON: {name} is not a JSON value")


class Builder:
    """Builds nodes into a shared name table; one builder per schema text."""

    def __init__(self, names: dict[str, Named], *, external: bool) -> None:
        self.names = names
        self.external = external
        # Checked after the whole schema is built: a default may be a record whose type
        # is still being defined (a recursive record) when the field is reached.
        self._defaults: list[tuple[str, Node, Any]] = []

    def build_root(self, schema: Any) -> Node:
        node = self._build(schema, "", "")
        for path, type_, value in self._defaults:
            reason = default_error(type_, value)
            if reason is not None:
                shown = json.dumps(value)
                raise SchemaProblem(
                    path, f"default {shown} is not valid for {describe(type_)}: {reason}"
                )
        return node

    def _build(self, schema: Any, namespace: str, path: str) -> Node:
        if isinstance(schema, str):
            return self._lookup(schema, namespace, path)
        if isinstance(schema, list):
            return self._union(schema, namespace, path)
        if isinstance(schema, dict):
            return self._object(schema, namespace, path)
        raise SchemaProblem(
            path, f"a schema is a JSON string, object or array, not {json.dumps(schema)}"
        )

    def _lookup(self, name: str, namespace: str, path: str) -> Node:
        if name in PRIMITIVES:
            return PrimitiveNode(name)
        fullname = name if "." in name or not namespace else f"{namespace}.{name}"
        found = self.names.get(fullname)
        if found is None:
            hint = f" (a name without a dot is looked up in namespace {namespace!r})"
            raise UnknownNameProblem(
                path, f"unknown type {fullname!r}" + (hint if fullname != name else "")
            )
        return found

    def _object(self, schema: dict[str, Any], namespace: str, path: str) -> Node:
        if "type" not in schema:
            raise SchemaProblem(path, "schema object has no 'type'")
        type_ = schema["type"]
        if not isinstance(type_, str):
            raise SchemaProblem(
                path,
                "'type' of a schema object must be a string; a field's type may be any schema, "
                "but a schema object's may not",
            )
        if type_ in PRIMITIVES:
            decimal = _decimal(schema, None) if type_ == "bytes" else None
            return PrimitiveNode(type_, decimal)
        if type_ in ("record", "error"):
            return self._record(schema, namespace, path)
        if type_ == "enum":
            return self._enum(schema, namespace, path)
        if type_ == "fixed":
            return self._fixed(schema, namespace, path)
        if type_ == "array":
            if "items" not in schema:
                raise SchemaProblem(path, "array schema has no 'items'")
            return ArrayNode(self._build(schema["items"], namespace, f"{path}/items"))
        if type_ == "map":
            if "values" not in schema:
                raise SchemaProblem(path, "map schema has no 'values'")
            return MapNode(self._build(schema["values"], namespace, f"{path}/values"))
        raise SchemaProblem(
            path,
            f"unknown type {type_!r} (to use a named type, write its name as a JSON string)",
        )

    def _union(self, schema: list[Any], namespace: str, path: str) -> UnionNode:
        branches: list[Node] = []
        seen: set[str] = set()
        for index, item in enumerate(schema):
            where = f"{path}/{index}"
            if isinstance(item, list):
                raise SchemaProblem(where, "a union may not immediately contain another union")
            branch = self._build(item, namespace, where)
            key = branch.fullname if isinstance(branch, NamedNode) else kind(branch)
            if key in seen:
                raise SchemaProblem(where, f"the union already has a branch of type {key!r}")
            seen.add(key)
            branches.append(branch)
        return UnionNode(tuple(branches))

    def _define(self, schema: dict[str, Any], namespace: str, path: str) -> tuple[str, str]:
        """The fullname and namespace of a new named type, by the spec's name rules."""
        name = schema.get("name")
        if not isinstance(name, str) or not name:
            raise SchemaProblem(path, f"{schema['type']} schema needs a 'name' string")
        if "." in name:
            fullname = name
        else:
            declared = schema.get("namespace", namespace)
            if declared is None:
                declared = ""
            if not isinstance(declared, str):
                raise SchemaProblem(path, "'namespace' must be a string")
            fullname = f"{declared}.{name}" if declared else name
        for part in fullname.split("."):
            if not _NAME.fullmatch(part):
                raise SchemaProblem(
                    path,
                    f"invalid name {fullname!r}: each part must match [A-Za-z_][A-Za-z0-9_]*",
                )
        own_namespace, _, short = fullname.rpartition(".")
        if short in PRIMITIVES:
            raise SchemaProblem(path, f"a named type may not be called {short!r}, a primitive")
        if fullname in self.names:
            raise SchemaProblem(path, f"type {fullname!r} is defined more than once")
        return fullname, own_namespace

    def _aliases(self, schema: dict[str, Any], namespace: str, path: str) -> frozenset[str]:
        aliases = _string_list(schema, "aliases", path)
        return frozenset(a if "." in a or not namespace else f"{namespace}.{a}" for a in aliases)

    def _record(self, schema: dict[str, Any], namespace: str, path: str) -> RecordNode:
        fullname, own_namespace = self._define(schema, namespace, path)
        fields = schema.get("fields")
        if not isinstance(fields, list):
            raise SchemaProblem(path, f"record {fullname} needs a 'fields' array")
        node = RecordNode(
            fullname=fullname,
            aliases=self._aliases(schema, own_namespace, path),
            external=self.external,
        )
        self.names[fullname] = node  # before the fields, which may refer to it
        for index, field in enumerate(fields):
            node.fields.append(self._field(field, node, own_namespace, f"{path}/fields", index))
        return node

    def _field(
        self, field: Any, record: RecordNode, namespace: str, fields_path: str, index: int
    ) -> FieldNode:
        if not isinstance(field, dict):
            raise SchemaProblem(f"{fields_path}/{index}", "a field must be a JSON object")
        name = field.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise SchemaProblem(
                f"{fields_path}/{index}",
                f"field name {json.dumps(name)} is not a valid name ([A-Za-z_][A-Za-z0-9_]*)",
            )
        path = f"{fields_path}/{name}"
        if any(f.name == name for f in record.fields):
            raise SchemaProblem(path, f"record {record.fullname} has more than one field {name!r}")
        if "type" not in field:
            raise SchemaProblem(path, "field has no 'type'")
        order = field.get("order", "ascending")
        if order not in _ORDERS:
            raise SchemaProblem(path, f"'order' must be one of {sorted(_ORDERS)}, not {order!r}")
        node = FieldNode(
            name=name,
            type=self._build(field["type"], namespace, path),
            aliases=tuple(_string_list(field, "aliases", path)),
            has_default="default" in field,
            default=field.get("default"),
        )
        if node.has_default:
            self._defaults.append((path, node.type, node.default))
        return node

    def _enum(self, schema: dict[str, Any], namespace: str, path: str) -> EnumNode:
        fullname, own_namespace = self._define(schema, namespace, path)
        symbols = schema.get("symbols")
        if not isinstance(symbols, list):
            raise SchemaProblem(path, f"enum {fullname} needs a 'symbols' array")
        for symbol in symbols:
            if not isinstance(symbol, str) or not _NAME.fullmatch(symbol):
                raise SchemaProblem(
                    f"{path}/symbols",
                    f"enum symbol {json.dumps(symbol)} is not a valid name",
                )
        if len(set(symbols)) != len(symbols):
            raise SchemaProblem(f"{path}/symbols", f"enum {fullname} has duplicate symbols")
        default = schema.get("default")
        if "default" in schema and default not in symbols:
            raise SchemaProblem(
                path, f"enum default {json.dumps(default)} is not one of its symbols"
            )
        node = EnumNode(
            fullname=fullname,
            aliases=self._aliases(schema, own_namespace, path),
            external=self.external,
            symbols=tuple(symbols),
            default=default,
        )
        self.names[fullname] = node
        return node

    def _fixed(self, schema: dict[str, Any], namespace: str, path: str) -> FixedNode:
        fullname, own_namespace = self._define(schema, namespace, path)
        size = schema.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise SchemaProblem(path, f"fixed {fullname} needs a non-negative integer 'size'")
        node = FixedNode(
            fullname=fullname,
            aliases=self._aliases(schema, own_namespace, path),
            external=self.external,
            size=size,
            decimal=_decimal(schema, size),
        )
        self.names[fullname] = node
        return node


def _string_list(schema: dict[str, Any], key: str, path: str) -> list[str]:
    value = schema.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SchemaProblem(path, f"{key!r} must be an array of strings")
    return value


def _decimal(schema: dict[str, Any], fixed_size: int | None) -> Decimal | None:
    """The decimal annotation, or None when absent or invalid.

    The spec says an invalid logical type is ignored in favour of the underlying type, not
    rejected; fastavro rejects some of them anyway, and that stricter answer stands.
    """
    if schema.get("logicalType") != "decimal":
        return None
    precision = schema.get("precision")
    scale = schema.get("scale", 0)
    if not isinstance(precision, int) or not isinstance(scale, int):
        return None
    if isinstance(precision, bool) or isinstance(scale, bool):
        return None
    if precision <= 0 or scale < 0 or scale > precision:
        return None
    if fixed_size is not None:
        max_digits = math.floor(math.log10(2) * (8 * fixed_size - 1)) if fixed_size else 0
        if precision > max_digits:
            return None
    return Decimal(precision, scale)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def default_error(node: Node, value: Any) -> str | None:
    """Why ``value`` is not a valid default for ``node`` (the spec's table), or None if it is.

    A union's default must match its first branch. Avro 1.12 relaxed this to "the first
    branch that matches", but Avro 1.11 Java clients still reject such schemas, and the
    stricter rule is the one that every reader of the registry accepts.
    """
    if isinstance(node, PrimitiveNode):
        return _primitive_default_error(node.type, value)
    if isinstance(node, EnumNode):
        if isinstance(value, str) and value in node.symbols:
            return None
        return f"expected one of the symbols {', '.join(node.symbols)}"
    if isinstance(node, FixedNode):
        if not _is_byte_string(value):
            return "expected a string of characters \\u0000-\\u00ff"
        if len(value) != node.size:
            return f"expected exactly {node.size} bytes, got {len(value)}"
        return None
    if isinstance(node, ArrayNode):
        if not isinstance(value, list):
            return "expected a JSON array"
        return _first_error((f"item {i}", node.items, v) for i, v in enumerate(value))
    if isinstance(node, MapNode):
        if not isinstance(value, dict):
            return "expected a JSON object"
        return _first_error((f"value {k!r}", node.values, v) for k, v in value.items())
    if isinstance(node, RecordNode):
        return _record_default_error(node, value)
    if not node.branches:
        return "an empty union has no values"
    first = node.branches[0]
    reason = default_error(first, value)
    if reason is None:
        return None
    return (
        f"a union's default must match its first branch ({describe(first)}): {reason}; "
        "put the branch of the default first"
    )


def _first_error(parts: Iterable[tuple[str, Node, Any]]) -> str | None:
    for where, node, value in parts:
        reason = default_error(node, value)
        if reason is not None:
            return f"{where}: {reason}"
    return None


def _record_default_error(node: RecordNode, value: Any) -> str | None:
    if not isinstance(value, dict):
        return "expected a JSON object"
    for field in node.fields:
        if field.name in value:
            reason = default_error(field.type, value[field.name])
            if reason is not None:
                return f"field {field.name!r}: {reason}"
        elif not field.has_default:
            return f"field {field.name!r} is missing and has no default of its own"
    return None


def _primitive_default_error(type_: str, value: Any) -> str | None:
    ok: bool
    if type_ == "null":
        ok = value is None
    elif type_ == "boolean":
        ok = isinstance(value, bool)
    elif type_ in ("int", "long"):
        low, high = _INT_RANGE if type_ == "int" else _LONG_RANGE
        if _is_int(value) and not low <= value <= high:
            return f"{value} is out of range for {type_}"
        ok = _is_int(value)
    elif type_ in ("float", "double"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif type_ == "bytes":
        if isinstance(value, str) and not _is_byte_string(value):
            return "bytes defaults map characters \\u0000-\\u00ff to bytes; this has others"
        ok = isinstance(value, str)
    else:
        ok = isinstance(value, str)
    return None if ok else f"expected {_JSON_FOR[type_]}"


_JSON_FOR = {
    "null": "null",
    "boolean": "true or false",
    "int": "a JSON integer",
    "long": "a JSON integer",
    "float": "a JSON number",
    "double": "a JSON number",
    "bytes": "a JSON string",
    "string": "a JSON string",
}


def _is_byte_string(value: Any) -> bool:
    return isinstance(value, str) and all(ord(c) <= 0xFF for c in value)
