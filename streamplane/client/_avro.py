"""Avro record bodies without confluent-kafka's per-record overhead, compiled once per schema.

confluent-kafka's Avro serdes call fastavro, which walks its parsed schema through
generic per-type dispatch on every call and needs a ``BytesIO`` around it: about 2.7 µs
to write and 2.0 µs to read a 1 KiB record here. cavro compiles the schema into typed
codec objects once, and writes the same record in about 1.2 µs and reads it in 0.9 µs;
at 100,000 records/s that difference is a fifth of a core. It is also stricter where
fastavro is lenient: 1.5 or True for a ``long``, or an int that overflows an Avro
``int``, are refused instead of being written as truncated bytes.

cavro computes ``timestamp-millis`` through a float and loses a millisecond on some
instants (2107-01-01T00:00:00.004Z is written as .003), so a schema with a logical type
not known to be exact in cavro gets fastavro's writer and reader instead, still without
the serdes' bookkeeping around them. Either way the SDK lets confluent-kafka's serializer
and deserializer handle the first record of each schema (registration, lookups,
framing, rules) and takes this path only when it gives identical bytes or values (see
``_serdes``).

Neither library refuses a dict key the record schema has no field for: both drop it, and
a producer that misspelt a field, or writes one the schema does not have yet, loses that
data without a word. :func:`field_check` finds such keys, in nested records too, so the
SDK can refuse the value instead. (cavro's own ``record_allow_extra_fields=False`` does
the same for its writer, but costs more per record than a set comparison, and neither
fastavro nor confluent-kafka's serializer has such a switch.)
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import cavro
from fastavro import parse_schema, schemaless_reader, schemaless_writer

#: Writes one value's Avro body (no frame); raises when the schema cannot hold the value.
BodyWriter = Callable[[Any], bytes]
#: Reads one Avro body (no frame) into the value.
BodyReader = Callable[[bytes], Any]

#: Records decode to dicts, as fastavro and confluent-kafka return them; everything else
#: (unions to their raw value, uuid and decimal logical types) already matches fastavro.
_OPTIONS = cavro.DEFAULT_OPTIONS.replace(record_decodes_to_dict=True)
#: Logical types cavro writes and reads exactly as fastavro does (checked value by value
#: in tests/unit/client/test_avro_codec.py).
_EXACT_IN_CAVRO = frozenset(
    {"decimal", "uuid", "date", "time-millis", "time-micros", "timestamp-micros"}
)
_CAVRO_ERRORS = (cavro.CavroException, ValueError, TypeError, KeyError)


def body_writer(document: Any) -> BodyWriter | None:
    """The fastest writer for a parsed-JSON Avro schema, or None when none applies.

    A bare ``"bytes"`` schema is written by confluent-kafka without Avro encoding, so it
    never takes this path; neither does a document neither library can compile (the
    serdes, which accepted it, stay in charge).
    """
    if _bare_bytes(document):
        return None
    compiled = _compiled(document)
    if compiled is not None:
        return compiled.binary_encode  # type: ignore[no-any-return]
    parsed = _parsed(document)
    if parsed is None:
        return None

    def write(value: Any) -> bytes:
        out = io.BytesIO()
        schemaless_writer(out, parsed, value)
        return out.getvalue()

    return write


def body_reader(writer: Any, reader: Any | None) -> BodyReader | None:
    """Reads bodies written with ``writer`` as ``reader`` (Avro schema resolution), or None."""
    if _bare_bytes(writer):
        return None
    compiled_writer = _compiled(writer)
    compiled_reader = _compiled(reader) if reader is not None else None
    if compiled_writer is not None and (reader is None or compiled_reader is not None):
        try:
            codec = (
                compiled_writer
                if compiled_reader is None
                else compiled_reader.reader_for_writer(compiled_writer)
            )
        except _CAVRO_ERRORS:
            codec = None
        if codec is not None:
            return codec.binary_decode  # type: ignore[no-any-return]
    parsed_writer = _parsed(writer)
    parsed_reader = _parsed(reader) if reader is not None else None
    if parsed_writer is None or (reader is not None and parsed_reader is None):
        return None

    def read(body: bytes) -> Any:
        return schemaless_reader(io.BytesIO(body), parsed_writer, parsed_reader)

    return read


def _bare_bytes(document: Any) -> bool:
    return document == "bytes" or (isinstance(document, dict) and document.get("type") == "bytes")


def _compiled(document: Any) -> Any:
    if not _logical_types(document) <= _EXACT_IN_CAVRO:
        return None
    try:
        return cavro.Schema(document, options=_OPTIONS)
    except _CAVRO_ERRORS:
        return None


def _parsed(document: Any) -> Any:
    try:
        return parse_schema(document)
    except (ValueError, TypeError, KeyError):
        return None


def _logical_types(node: Any) -> set[str]:
    """Every ``logicalType`` named anywhere in a schema document."""
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            name = item.get("logicalType")
            if isinstance(name, str):
                found.add(name)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


# ------------------------------------------------------------------ fields the schema lacks
#: A key the schema has no field for: its path in the value (``lines[0].sku``) and the
#: full name of the record that lacks it.
ExtraField = tuple[str, str]
#: Appends the extra fields of ``value`` (found at path ``where``) to ``out``.
_Finder = Callable[[Any, str, list[ExtraField]], None]

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


@dataclass(frozen=True)
class FieldCheck:
    """Finds dict keys a record schema has no field for, at any depth.

    ``flat`` is the field names of a top-level record with no record below it: for a
    plain dict, ``value.keys() <= flat`` is then the whole check, the cheapest there is.
    """

    flat: frozenset[str] | None
    _find: _Finder

    def extra_fields(self, value: Any) -> list[ExtraField]:
        found: list[ExtraField] = []
        self._find(value, "", found)
        return found


def field_check(document: Any) -> FieldCheck | None:
    """The check for a parsed-JSON Avro schema, or None when it holds no record at all."""
    builder = _FinderBuilder()
    try:
        find = builder.build(document, "")
    except (KeyError, TypeError, AttributeError):
        return None  # not a schema this walk understands; the serializer judges the value
    if find is None:
        return None
    flat = find.fields if isinstance(find, _RecordFinder) and not find.children else None
    return FieldCheck(flat, find)


def extra_fields_reason(found: list[ExtraField]) -> str:
    """Why a value with keys its schema lacks is refused, and what to do, for people."""
    listed = ", ".join(f"`{path}` (record {record})" for path, record in found)
    if len(found) == 1:
        return (
            f"it has a key the schema has no field for: {listed}. Avro would drop it without "
            "a word; remove it, or add the field to the schema (with a default, so the "
            "schema's readers stay compatible)"
        )
    return (
        f"it has keys the schema has no field for: {listed}. Avro would drop them without a "
        "word; remove them, or add the fields to the schema (with defaults, so the schema's "
        "readers stay compatible)"
    )


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


class _RecordFinder:
    """One record type; built before its fields, so recursive schemas refer to it."""

    def __init__(self, full_name: str) -> None:
        self.full_name = full_name
        self.fields: frozenset[str] = frozenset()
        #: (field name, finder) for the fields whose type holds a record.
        self.children: tuple[tuple[str, _Finder], ...] = ()

    def __call__(self, value: Any, where: str, out: list[ExtraField]) -> None:
        if not isinstance(value, Mapping):
            return  # not a dict: the writer says whether it can hold it
        extra = value.keys() - self.fields
        if extra:
            out.extend((_join(where, str(k)), self.full_name) for k in sorted(extra, key=str))
        for name, child in self.children:
            item = value.get(name)
            if item is not None:
                child(item, _join(where, name), out)

    def unknown(self, value: Mapping[Any, Any]) -> int:
        return len(value.keys() - self.fields)


class _FinderBuilder:
    def __init__(self) -> None:
        self.named: dict[str, _RecordFinder | None] = {}

    def build(self, node: Any, namespace: str) -> _Finder | None:
        if isinstance(node, str):
            return self._reference(node, namespace)
        if isinstance(node, list):
            return self._union(node, namespace)
        if not isinstance(node, dict):
            return None
        kind = node.get("type")
        if isinstance(kind, dict | list):
            return self.build(kind, namespace)
        if kind in ("record", "error"):
            return self._record(node, namespace)
        if kind in ("enum", "fixed"):
            self.named[_full_name(node, namespace)] = None
            return None
        if kind == "array":
            return _array(self.build(node["items"], namespace))
        if kind == "map":
            return _map(self.build(node["values"], namespace))
        return None

    def _reference(self, name: str, namespace: str) -> _Finder | None:
        if name in _PRIMITIVES:
            return None
        if "." not in name and namespace and f"{namespace}.{name}" in self.named:
            return self.named[f"{namespace}.{name}"]
        return self.named.get(name)

    def _record(self, node: dict[str, Any], namespace: str) -> _RecordFinder:
        full = _full_name(node, namespace)
        record = _RecordFinder(full)
        self.named[full] = record
        inner = full.rpartition(".")[0]
        children: list[tuple[str, _Finder]] = []
        for field in node["fields"]:
            child = self.build(field["type"], inner)
            if child is not None:
                children.append((field["name"], child))
        record.fields = frozenset(field["name"] for field in node["fields"])
        record.children = tuple(children)
        return record

    def _union(self, branches: list[Any], namespace: str) -> _Finder | None:
        records: list[_RecordFinder] = []
        others: list[_Finder] = []  # array and map branches
        for branch in branches:
            built = self.build(branch, namespace)
            if isinstance(built, _RecordFinder):
                records.append(built)
            elif built is not None:
                others.append(built)
        if not records and not others:
            return None
        return _UnionFinder(tuple(records), tuple(others))


class _UnionFinder:
    """A union: a dict is judged by the record branch it fits best (one that has every key,
    else the one lacking fewest); a dict no record fits may be a map's value instead."""

    def __init__(self, records: tuple[_RecordFinder, ...], others: tuple[_Finder, ...]) -> None:
        self.records = records
        self.others = others
        self.has_map = any(isinstance(o, _MapFinder) for o in others)

    def __call__(self, value: Any, where: str, out: list[ExtraField]) -> None:
        if isinstance(value, Mapping) and self.records:
            best = min(self.records, key=lambda r: r.unknown(value))
            if best.unknown(value) == 0 or not self.has_map:
                best(value, where, out)
                return
        for other in self.others:
            other(value, where, out)


class _ArrayFinder:
    def __init__(self, items: _Finder) -> None:
        self.items = items

    def __call__(self, value: Any, where: str, out: list[ExtraField]) -> None:
        if isinstance(value, list | tuple):
            for i, item in enumerate(value):
                if item is not None:
                    self.items(item, f"{where}[{i}]", out)


class _MapFinder:
    def __init__(self, values: _Finder) -> None:
        self.values = values

    def __call__(self, value: Any, where: str, out: list[ExtraField]) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if item is not None:
                    self.values(item, f"{where}[{key!r}]", out)


def _array(items: _Finder | None) -> _Finder | None:
    return None if items is None else _ArrayFinder(items)


def _map(values: _Finder | None) -> _Finder | None:
    return None if values is None else _MapFinder(values)


def _full_name(node: dict[str, Any], namespace: str) -> str:
    """A named type's full name, with Avro's namespace rules."""
    name = str(node["name"])
    if "." in name:
        return name
    space = node.get("namespace", namespace)
    return f"{space}.{name}" if space else name
