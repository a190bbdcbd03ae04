"""Normalised schema text (``?normalize=true``, config ``normalize``) and field checks.

With normalisation on, the registry stores and dedups the normalised text, so schemas that
differ only in layout get one id. Per format, following what Confluent does:

- AVRO: Confluent's normalised form. Named types carry their full name (no separate
  ``namespace``), references to them are full names, a type defined twice is written once,
  keys come in a fixed order (name, type, symbols/size/fields, logical type, doc, aliases,
  enum default, then other properties sorted), aliases are full names and sorted, a
  primitive without properties is its bare name, and a field's ``order`` appears only when
  not ascending. Confluent then prints that schema through Avro's Java library, which writes
  short names plus ``namespace``; ours keeps the full names, which every Avro parser reads
  as the same schema.
- JSON: compact JSON with sorted keys, as Confluent's normalisation gives.
- PROTOBUF: the canonical .proto text the registry renders from the compiled descriptor
  (fully-qualified types, fixed layout); Confluent renders its own canonical text.

References are sorted by subject and version and deduplicated, as Confluent does.
"""

from __future__ import annotations

import json
from typing import Any

from streamplane.errors import RegistryError
from streamplane.registry.compat import avro, json_schema, protobuf

_PRIMITIVES = frozenset(("null", "boolean", "int", "long", "float", "double", "bytes", "string"))
_NAMED = frozenset(("record", "error", "enum", "fixed"))
_NAMED_KEYS = frozenset(
    ("type", "name", "namespace", "fields", "symbols", "size", "doc", "aliases", "logicalType")
)
_FIELD_KEYS = frozenset(("name", "type", "order", "doc", "aliases", "default"))

Reference = tuple[str, str, int]


def normalized_text(schema_type: str, parsed: Any, references: dict[str, str]) -> str:
    """The text Confluent would store for ``parsed`` with normalisation on."""
    if schema_type == "AVRO":
        return normalized_avro(parsed.raw, references)
    if schema_type in ("JSON", "PROTOBUF"):
        return str(parsed.canonical)
    raise ValueError(f"no normal form for schema type {schema_type}")


def normalized_references(references: tuple[Reference, ...]) -> tuple[Reference, ...]:
    return tuple(sorted(set(references), key=lambda r: (r[1], r[2], r[0])))


def normalized_avro(raw: Any, references: dict[str, str] | None = None) -> str:
    """Confluent's normalised Avro form of the (already validated) schema ``raw``."""
    known: set[str] = set()
    for text in (references or {}).values():
        _AvroNormaliser(set(), collect=known).write(json.loads(text), None)
    out = _AvroNormaliser(known).write(raw, None)
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


class _AvroNormaliser:
    def __init__(self, known: set[str], *, collect: set[str] | None = None) -> None:
        #: Full names already spelled out: later uses are written as the bare name.
        self.written = set(known)
        self.collect = collect if collect is not None else set()

    def write(self, schema: Any, namespace: str | None) -> Any:
        if isinstance(schema, list):
            return [self.write(branch, namespace) for branch in schema]
        if isinstance(schema, str):
            return schema if schema in _PRIMITIVES else self._reference(schema, namespace)
        if not isinstance(schema, dict):
            return schema
        kind = schema.get("type")
        if isinstance(kind, list | dict):  # {"type": <schema>}: the inner schema itself
            return self.write(kind, namespace)
        if kind in _NAMED:
            return self._named(schema, namespace)
        if kind in ("array", "map"):
            part = "items" if kind == "array" else "values"
            out: dict[str, Any] = {"type": kind, part: self.write(schema.get(part), namespace)}
            return self._props(out, schema, {"type", part})
        if kind in _PRIMITIVES:
            if len(schema) == 1:
                return kind
            return self._props({"type": kind}, schema, {"type"})
        return self._reference(str(kind), namespace)

    def _reference(self, name: str, namespace: str | None) -> str:
        full = _full_name(name, namespace)
        if full not in self.written and name in self.written:
            return name  # a name from the null namespace used inside a namespace
        return full

    def _named(self, schema: dict[str, Any], namespace: str | None) -> Any:
        name = str(schema.get("name", ""))
        if "." in name:
            own_namespace: str | None = name.rpartition(".")[0]
        else:
            own_namespace = schema.get("namespace", namespace)
        full = _full_name(name, own_namespace or None)
        if full in self.written:
            return full
        self.written.add(full)
        self.collect.add(full)
        kind = "record" if schema["type"] == "error" else schema["type"]
        out: dict[str, Any] = {"name": full, "type": schema["type"]}
        if kind == "enum":
            out["symbols"] = list(schema.get("symbols", []))
        elif kind == "fixed":
            out["size"] = schema.get("size")
        else:
            inner = own_namespace or None
            out["fields"] = [self._field(f, inner) for f in schema.get("fields", [])]
        skip = set(_NAMED_KEYS)
        self._logical(out, schema, skip)
        if schema.get("doc"):
            out["doc"] = schema["doc"]
        aliases = schema.get("aliases") or []
        if aliases:
            out["aliases"] = sorted({_full_name(a, own_namespace or None) for a in aliases})
        if kind == "enum":
            skip.add("default")
            if schema.get("default") is not None:
                out["default"] = schema["default"]
        return self._props(out, schema, skip)

    def _field(self, field: dict[str, Any], namespace: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {"name": field.get("name")}
        out["type"] = self.write(field.get("type"), namespace)
        order = str(field.get("order", "ascending")).lower()
        if order != "ascending":
            out["order"] = order
        if field.get("doc") is not None:
            out["doc"] = field["doc"]
        if field.get("aliases"):
            out["aliases"] = sorted(set(field["aliases"]))
        if "default" in field:
            out["default"] = field["default"]
        return self._props(out, field, set(_FIELD_KEYS))

    @staticmethod
    def _logical(out: dict[str, Any], schema: dict[str, Any], skip: set[str]) -> None:
        logical = schema.get("logicalType")
        if logical is None:
            return
        out["logicalType"] = logical
        if logical == "decimal":
            skip.update(("precision", "scale"))
            if "precision" in schema:
                out["precision"] = schema["precision"]
            if schema.get("scale"):
                out["scale"] = schema["scale"]

    def _props(self, out: dict[str, Any], schema: dict[str, Any], skip: set[str]) -> dict[str, Any]:
        if "logicalType" not in out and "logicalType" in schema:
            skip.add("logicalType")
            self._logical(out, schema, skip)
        for key in sorted(k for k in schema if k not in skip and k not in out):
            out[key] = schema[key]
        return out


def _full_name(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


# ------------------------------------------------------------------------ fields
def top_level_fields(schema_type: str, parsed: Any) -> set[str]:
    """The field names Confluent's reserved-field check looks at: an Avro record's fields,
    a JSON Schema's top ``properties``, the fields of a .proto file's top-level messages."""
    if schema_type == "AVRO" and isinstance(parsed, avro.ParsedAvro):
        raw = parsed.raw
        if isinstance(raw, dict) and raw.get("type") in ("record", "error"):
            return {str(f.get("name")) for f in raw.get("fields", []) if isinstance(f, dict)}
        return set()
    if schema_type == "JSON" and isinstance(parsed, json_schema.ParsedJsonSchema):
        properties = parsed.raw.get("properties") if isinstance(parsed.raw, dict) else None
        return set(properties) if isinstance(properties, dict) else set()
    if schema_type == "PROTOBUF" and isinstance(parsed, protobuf.ParsedProtobuf):
        return {f.name for m in parsed.descriptor.message_type for f in m.field}
    return set()


def check_field_names(schema_type: str, parsed: Any) -> None:
    """``validateFields``' check of field names, beyond what parsing already refuses.

    Avro names and Protobuf fields are held to their grammars whenever a schema is parsed
    (Confluent's strict name validation); JSON Schema properties may not start with ``$$``.
    """
    if schema_type != "JSON":
        return
    for name in sorted(top_level_fields(schema_type, parsed)):
        if name.startswith("$$"):
            raise RegistryError(
                422,
                42201,
                f"Invalid schema: Field names cannot start with $$ prefix (#/properties/{name})",
            )
