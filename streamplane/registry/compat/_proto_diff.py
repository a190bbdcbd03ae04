"""Confluent Schema Registry's Protobuf compatibility rules, applied to descriptors.

Confluent diffs the writer's schema (its "original") against the reader's ("update") and
sorts each difference into a type; only some types make the pair incompatible:

- the package changed;
- a message of the writer's file is missing from the reader's (looked up by name, level by
  level; map entries do not count). Moving one into an imported file counts as missing;
- a field (matched by number) changed kind (scalar, message or map; an enum is a scalar),
  scalar group, or message type (compared by name without its package; a type from another
  file is also compared field by field, and any incompatibility inside it counts);
- a numeric field's label changed: Confluent's labels are ``optional``, ``required`` and
  ``repeated``, where proto3 fields without a keyword and oneof members have *no* label and
  so never differ. String and bytes fields may change label;
- a proto2 ``required`` field was added or removed;
- a member of a writer's oneof is gone, unless the whole oneof is;
- a reader's oneof gathers fields the writer sets independently: one field moved into an
  existing oneof, several top-level fields moved into one oneof, or oneofs merged.

Everything else is compatible: fields added or removed, renamed fields and oneofs, fields
moved out of a oneof, messages added or reordered, and every enum change (values added,
renamed or removed, whole enums removed).

Scalars change compatibly within these groups (the wire type stays the same):
int32/int64/uint32/uint64/bool/enum, sint32/sint64, string/bytes, fixed32/sfixed32,
fixed64/sfixed64, float, double.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from google.protobuf import descriptor_pb2

from streamplane.registry.compat._proto_render import SCALARS

FileDescriptorProto = descriptor_pb2.FileDescriptorProto
_F = descriptor_pb2.FieldDescriptorProto

#: A schema as the checker sees it: its own file, and the files it imports (transitively).
Schema = tuple[FileDescriptorProto, Sequence[FileDescriptorProto]]

_SCALAR_GROUPS: dict[str, str] = {
    **dict.fromkeys(("int32", "int64", "uint32", "uint64", "bool"), "number"),
    **dict.fromkeys(("sint32", "sint64"), "zigzag"),
    **dict.fromkeys(("string", "bytes"), "bytes"),
    **dict.fromkeys(("fixed32", "sfixed32"), "fixed32"),
    **dict.fromkeys(("fixed64", "sfixed64"), "fixed64"),
    "float": "float",
    "double": "double",
}


def incompatibilities(*, reader: Schema, writer: Schema) -> list[str]:
    """Why data written with ``writer`` cannot be read with ``reader``, by Confluent's rules."""
    checker = _Checker(writer=_Side.of(*writer), reader=_Side.of(*reader), visiting=set())
    return checker.check_files()


@dataclass(frozen=True)
class _Type:
    """A message or enum declared somewhere in a schema's files."""

    full_name: str  # without the leading dot
    package: str
    syntax: str  # of the declaring file
    local: bool  # declared in the schema's own file, not in an import
    message: descriptor_pb2.DescriptorProto | None = None

    @property
    def local_name(self) -> str:
        """The name without its package, which is what Confluent compares."""
        return self.full_name.removeprefix(f"{self.package}.") if self.package else self.full_name


@dataclass(frozen=True)
class _Side:
    file: FileDescriptorProto
    types: dict[str, _Type]

    @classmethod
    def of(cls, file: FileDescriptorProto, dependencies: Sequence[FileDescriptorProto]) -> _Side:
        types: dict[str, _Type] = {}
        for declaring in [*dependencies, file]:
            _index(declaring, types, local=declaring is file)
        return cls(file, types)


def _index(file: FileDescriptorProto, types: dict[str, _Type], *, local: bool) -> None:
    """Add every message and enum ``file`` declares to ``types``, by full name."""
    scopes: list[tuple[str, Sequence[descriptor_pb2.DescriptorProto], Iterable[str]]] = [
        (_scope(file.package), file.message_type, (e.name for e in file.enum_type))
    ]
    while scopes:
        scope, messages, enums = scopes.pop()
        for enum in enums:
            types[scope + enum] = _Type(scope + enum, file.package, file.syntax, local)
        for message in messages:
            name = scope + message.name
            types[name] = _Type(name, file.package, file.syntax, local, message)
            scopes.append((f"{name}.", message.nested_type, (e.name for e in message.enum_type)))


def _scope(package: str) -> str:
    """The prefix of the full names declared at the top of a file of ``package``."""
    return f"{package}." if package else ""


@dataclass(frozen=True)
class _FieldType:
    """What Confluent compares of a field's type."""

    kind: Literal["scalar", "message", "map"]  # an enum is a scalar
    name: str = ""  # scalar type, or full name of the enum or message
    group: str = ""  # of a scalar: values of one group share a wire encoding
    is_enum: bool = False
    key: _FieldType | None = None
    value: _FieldType | None = None

    def __str__(self) -> str:
        if self.kind == "map":
            return f"map<{self.key}, {self.value}>"
        if self.kind == "message" or self.is_enum:
            return f"{'enum' if self.is_enum else 'message'} {self.name}"
        return self.name


class _Checker:
    """Collects the incompatible differences between a writer's and a reader's schema."""

    def __init__(self, *, writer: _Side, reader: _Side, visiting: set[tuple[str, str]]) -> None:
        self.writer = writer
        self.reader = reader
        self.visiting = visiting  # message pairs being compared: recursive types stop here
        self.problems: list[str] = []

    def check_files(self) -> list[str]:
        written, read = self.writer.file, self.reader.file
        if written.package != read.package:
            before, after = written.package or "(none)", read.package or "(none)"
            self._problem("", f"package changed from {before} to {after}")
        self._messages(
            written.message_type,
            read.message_type,
            "",
            _scope(written.package),
            _scope(read.package),
        )
        return list(dict.fromkeys(self.problems))  # a type reached twice reports once

    def _problem(self, path: str, text: str) -> None:
        self.problems.append(f"{path or '/'}: {text}")

    def _messages(
        self,
        written: Iterable[descriptor_pb2.DescriptorProto],
        read: Iterable[descriptor_pb2.DescriptorProto],
        path: str,
        scope_w: str,
        scope_r: str,
    ) -> None:
        """Messages pair up by name; one the reader lacks is incompatible, one it adds is not."""
        read_by_name = {m.name: m for m in read if not m.options.map_entry}
        for message in written:
            if message.options.map_entry:
                continue  # a map field's entry: compared as part of that field
            here = f"{path}/{message.name}"
            counterpart = read_by_name.get(message.name)
            if counterpart is None:
                self._problem(here, "message is in the writer's schema but not in the reader's")
                continue
            self._message(
                message, counterpart, here, f"{scope_w}{message.name}", f"{scope_r}{message.name}"
            )

    def _message(
        self,
        written: descriptor_pb2.DescriptorProto,
        read: descriptor_pb2.DescriptorProto,
        path: str,
        name_w: str,
        name_r: str,
    ) -> None:
        if (name_w, name_r) in self.visiting:
            return
        self.visiting.add((name_w, name_r))
        try:
            self._oneof_moves(written, read, path)
            self._fields(written, read, path, name_w, name_r)
            self._messages(written.nested_type, read.nested_type, path, f"{name_w}.", f"{name_r}.")
        finally:
            self.visiting.discard((name_w, name_r))

    def _oneof_moves(
        self,
        written: descriptor_pb2.DescriptorProto,
        read: descriptor_pb2.DescriptorProto,
        path: str,
    ) -> None:
        """A reader's oneof keeps one field of those the writer may have set together."""
        written_numbers = {f.number for f in written.field}
        written_oneof = _oneof_of(written)
        for oneof, members in _members(read).items():
            origins: set[str] = set()
            moved_in: list[descriptor_pb2.FieldDescriptorProto] = []
            for member in members:
                if member.number in written_oneof:
                    origins.add(f"oneof {written_oneof[member.number]}")
                elif member.number in written_numbers:
                    origins.add(f"field {member.number}")
                    moved_in.append(member)
            if len(origins) < 2:
                continue  # the members were already exclusive, or are new
            here = f"{path}/oneofs/{oneof}"
            if len(moved_in) > 1:
                names = ", ".join(_field_name(f) for f in moved_in)
                self._problem(
                    here,
                    f"fields {names} are not in a oneof in the writer's schema, but share "
                    "this oneof in the reader's",
                )
            else:
                self._problem(
                    here,
                    f"holds fields from {' and '.join(sorted(origins))} of the writer's schema, "
                    "which may be set together",
                )

    def _fields(
        self,
        written: descriptor_pb2.DescriptorProto,
        read: descriptor_pb2.DescriptorProto,
        path: str,
        name_w: str,
        name_r: str,
    ) -> None:
        """Fields pair up by number, wherever they are (in a oneof or not)."""
        fields_w = {f.number: f for f in written.field}
        fields_r = {f.number: f for f in read.field}
        oneof_w, oneof_r = _oneof_of(written), _oneof_of(read)
        vanished = set(oneof_w.values()) - set(oneof_r.values())
        vanished -= {oneof_w[n] for n in oneof_w if n in fields_r}  # some member lives on
        syntax_w, syntax_r = self._syntax(self.writer, name_w), self._syntax(self.reader, name_r)
        for number in sorted(fields_w.keys() | fields_r.keys()):
            field_w, field_r = fields_w.get(number), fields_r.get(number)
            label_w = _label(field_w, syntax_w, number in oneof_w) if field_w else None
            label_r = _label(field_r, syntax_r, number in oneof_r) if field_r else None
            here = f"{path}/fields/{_field_name(field_r or field_w)}"
            if field_r is None:
                if number in oneof_w and oneof_w[number] not in vanished:
                    self._problem(
                        here,
                        f"member of oneof {oneof_w[number]} in the writer's schema is missing "
                        "from the reader's",
                    )
                elif label_w == "required":
                    self._problem(
                        here, "required field is in the writer's schema but not in the reader's"
                    )
            elif field_w is None:
                if label_r == "required":
                    self._problem(
                        here, "required field is in the reader's schema but not in the writer's"
                    )
            else:
                type_w = self._field_type(field_w, self.writer)
                type_r = self._field_type(field_r, self.reader)
                self._types(label_w, label_r, type_w, type_r, here, "")

    def _types(
        self,
        label_w: str | None,
        label_r: str | None,
        type_w: _FieldType,
        type_r: _FieldType,
        path: str,
        what: str,
    ) -> None:
        if type_w.kind != type_r.kind:
            self._problem(path, f"{what}kind changed from {type_w} to {type_r}")
        elif type_w.kind == "scalar":
            if type_w.group != type_r.group:
                self._problem(path, f"{what}scalar type changed from {type_w} to {type_r}")
            elif label_w and label_r and label_w != label_r and type_w.group != "bytes":
                self._problem(path, f"label changed from {label_w} to {label_r}")
        elif type_w.kind == "message":
            self._message_types(type_w.name, type_r.name, path, what)
        else:
            assert type_w.key and type_r.key and type_w.value and type_r.value
            self._types(None, None, type_w.key, type_r.key, path, "map key ")
            self._types(None, None, type_w.value, type_r.value, path, "map value ")

    def _message_types(self, name_w: str, name_r: str, path: str, what: str) -> None:
        """Same name (without package) is the same type; one from an import is also compared
        field by field, as Confluent does unless both sides use one subject version."""
        declared_w, declared_r = self.writer.types.get(name_w), self.reader.types.get(name_r)
        local_w = declared_w.local_name if declared_w else name_w
        local_r = declared_r.local_name if declared_r else name_r
        if local_w != local_r:
            self._problem(path, f"{what}message type changed from {name_w} to {name_r}")
            return
        if declared_w is None or declared_r is None or (declared_w.local and declared_r.local):
            return  # local types are compared where they are declared
        assert declared_w.message is not None and declared_r.message is not None
        inner = _Checker(writer=self.writer, reader=self.reader, visiting=self.visiting)
        inner._message(
            declared_w.message, declared_r.message, "/" + local_w.replace(".", "/"), name_w, name_r
        )
        for problem in inner.problems:
            self._problem(path, f"{what}message type {name_r} cannot read {name_w}: {problem}")

    @staticmethod
    def _syntax(side: _Side, message_name: str) -> str:
        declared = side.types.get(message_name)
        return declared.syntax if declared else side.file.syntax

    @staticmethod
    def _field_type(field: descriptor_pb2.FieldDescriptorProto, side: _Side) -> _FieldType:
        if field.type in SCALARS:
            scalar = SCALARS[field.type]
            return _FieldType("scalar", scalar, group=_SCALAR_GROUPS[scalar])
        name = field.type_name.removeprefix(".")
        declared = side.types.get(name)
        if field.type == _F.TYPE_ENUM or (declared is not None and declared.message is None):
            return _FieldType("scalar", name, group="number", is_enum=True)  # read as a varint
        entry = declared.message if declared is not None else None
        if entry is not None and entry.options.map_entry:
            key, value = sorted(entry.field, key=lambda f: f.number)[:2]
            return _FieldType(
                "map",
                key=_Checker._field_type(key, side),
                value=_Checker._field_type(value, side),
            )
        return _FieldType("message", name)


def _label(field: descriptor_pb2.FieldDescriptorProto, syntax: str, in_oneof: bool) -> str | None:
    """The label Confluent's parser gives a field: None for oneof members and for proto3
    fields written without ``optional`` or ``repeated``."""
    if in_oneof:
        return None
    if field.proto3_optional:
        return "optional"
    if field.label == _F.LABEL_REPEATED:
        return "repeated"
    if syntax == "proto3":
        return None
    return "required" if field.label == _F.LABEL_REQUIRED else "optional"


def _oneof_of(message: descriptor_pb2.DescriptorProto) -> dict[int, str]:
    """The declared oneof of each field number in one (proto3 ``optional`` ones are not)."""
    return {
        f.number: message.oneof_decl[f.oneof_index].name
        for f in message.field
        if f.HasField("oneof_index") and not f.proto3_optional
    }


def _members(
    message: descriptor_pb2.DescriptorProto,
) -> dict[str, list[descriptor_pb2.FieldDescriptorProto]]:
    members: dict[str, list[descriptor_pb2.FieldDescriptorProto]] = {}
    for field in message.field:
        if field.HasField("oneof_index") and not field.proto3_optional:
            members.setdefault(message.oneof_decl[field.oneof_index].name, []).append(field)
    return members


def _field_name(field: descriptor_pb2.FieldDescriptorProto | None) -> str:
    assert field is not None
    return f"{field.name} ({field.number})"
