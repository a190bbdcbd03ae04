"""Schema text (either form) and references to checked FileDescriptorProtos, through protoc.

protoc runs in-process (``grpc_tools._protoc_compiler.get_protos``: the compiler behind
``grpc.protos()``), so every schema gets the authoritative grammar, name resolution and
checks. It reads files, not strings: each parse writes its schema and references into a
directory of its own, which keeps parses on different threads apart. It only reads .proto
text, so a serialized (base64 FileDescriptorProto) schema or reference is first checked by a
DescriptorPool, then rendered to text; text and serialized forms of one schema therefore take
the same last step, and come out the same.

Well-known files are the ones Confluent Schema Registry knows without a reference:
google/protobuf/*.proto (shipped as text with grpcio-tools), google/type/*.proto and
confluent/*.proto (rendered once per process from the descriptors their Python packages ship).
A reference named like one of them is ignored, as it would be by Confluent's clients.
"""

from __future__ import annotations

import ast
import atexit
import base64
import binascii
import importlib
import importlib.resources
import re
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, unknown_fields
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from grpc_tools import _protoc_compiler  # type: ignore[import-untyped]

from streamplane.registry.compat._proto_errors import ProtobufSchemaError
from streamplane.registry.compat._proto_render import render_file

FileDescriptorProto = descriptor_pb2.FileDescriptorProto

#: The schema's own file name, as Confluent's clients and its ``format=serialized`` name it.
ROOT_NAME = "default"

_GRPC_INCLUDE = Path(str(importlib.resources.files("grpc_tools") / "_proto"))
#: Well-known files without .proto text on disk, and the Python modules of their descriptors.
_DESCRIPTOR_MODULES: dict[str, str] = {
    **{
        f"google/type/{name}.proto": f"google.type.{name}_pb2"
        for name in [
            "calendar_period",
            "color",
            "date",
            "datetime",
            "dayofweek",
            "decimal",
            "expr",
            "fraction",
            "interval",
            "latlng",
            "money",
            "month",
            "phone_number",
            "postal_address",
            "quaternion",
            "timeofday",
        ]
    },
    "confluent/meta.proto": "confluent_kafka.schema_registry.confluent.meta_pb2",
    "confluent/type/decimal.proto": "confluent_kafka.schema_registry.confluent.type.decimal_pb2",
    "confluent/type/variant.proto": "confluent_kafka.schema_registry.confluent.type.variant_pb2",
}
_BASE64 = re.compile(r"[A-Za-z0-9+/\r\n]+={0,2}\s*")
_GENERATED_DESCRIPTOR = re.compile(rb"AddSerializedFile\((b'(?:[^'\\]|\\.)*')\)")
_IMPORT_NOT_FOUND = re.compile(r'Import "(.*)" was not found or had errors\.')
# Just enough of the .proto grammar to find imports: comments and strings are skipped whole.
_TOKEN = re.compile(
    r"""\s+|//[^\n]*|/\*.*?(?:\*/|\Z)|"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?|\w+|.""",
    re.DOTALL,
)
_MAX_REPORTED_ERRORS = 5


@dataclass(frozen=True)
class Compiled:
    """What protoc made of a schema: its file, and every file it imports (imports first)."""

    file: FileDescriptorProto
    dependencies: tuple[FileDescriptorProto, ...]
    canonical: str


@dataclass
class _Source:
    name: str
    text: str | None = None
    descriptor: FileDescriptorProto | None = None

    @property
    def label(self) -> str:
        """How messages name the file; protoc's positions in a serialized one are in our text."""
        what = _file_label(self.name)
        return what if self.text is not None else f"{what} (as rendered from its serialized form)"


def compile_schema(text: str, references: dict[str, str]) -> Compiled:
    """Check ``text`` with ``references`` (import path -> text of either form) through protoc."""
    sources = {ROOT_NAME: _decode(ROOT_NAME, text)}
    for name, reference in references.items():
        _check_reference_name(name)
        if not is_well_known(name):
            sources[name] = _decode(name, reference)
    with tempfile.TemporaryDirectory(prefix="streamplane-proto-") as directory:
        return _Workspace(sources, Path(directory)).compile()


def is_well_known(name: str) -> bool:
    """Whether ``name`` is a file every schema may import without a reference."""
    if name in _DESCRIPTOR_MODULES:
        return True
    return (
        name.startswith("google/protobuf/")
        and _is_relative_path(name)
        and (_GRPC_INCLUDE / name).is_file()
    )


def decode_serialized(text: str) -> FileDescriptorProto | None:
    """The FileDescriptorProto ``text`` encodes in base64, or None when it is .proto text.

    .proto text always has a character base64 lacks (a space, ``;``, ``{``, a quote), so the
    two forms cannot be confused; base64 that does not hold a descriptor is an error.
    """
    if not text.strip() or not _BASE64.fullmatch(text):
        return None
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
        descriptor = FileDescriptorProto.FromString(data)
    except (binascii.Error, ValueError, DecodeError) as exc:
        raise ProtobufSchemaError(
            f"looks like base64, but is not a serialized FileDescriptorProto: {exc}"
        ) from None
    if len(unknown_fields.UnknownFieldSet(descriptor)):
        raise ProtobufSchemaError(
            "looks like base64, but is not a serialized FileDescriptorProto "
            "(it has fields a FileDescriptorProto does not)"
        )
    if not _strings_are_text(descriptor):
        raise ProtobufSchemaError("is a FileDescriptorProto with a name that is not UTF-8")
    return descriptor


def _strings_are_text(message: Message) -> bool:
    """Whether every string field holds text: descriptor.proto is proto2, so the runtime does
    not check UTF-8, and hands invalid strings over as bytes."""
    for field, value in message.ListFields():
        values = value if field.is_repeated else [value]
        if field.type == FieldDescriptor.TYPE_STRING and any(isinstance(v, bytes) for v in values):
            return False
        if field.type == FieldDescriptor.TYPE_MESSAGE and not all(
            _strings_are_text(v) for v in values
        ):
            return False
    return True


def scan_imports(text: str) -> list[str]:
    """The paths ``text`` imports, found without parsing it (protoc does that later).

    Only used to order the work when .proto text imports a serialized reference, which has to
    be rendered to text before protoc can read it.
    """
    imports: list[str] = []
    depth = 0
    expecting = False  # just after a top-level ``import`` (and ``weak``/``public``/``option``)
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token[0].isspace() or token.startswith(("//", "/*")):
            continue
        if expecting and token in ("weak", "public", "option"):
            continue
        if expecting and token[0] == '"' and len(token) > 1 and token.endswith('"'):
            imports.append(token[1:-1])
        expecting = depth == 0 and token == "import"
        depth += {"{": 1, "}": -1}.get(token, 0)
    return imports


def _decode(name: str, text: str) -> _Source:
    try:
        descriptor = decode_serialized(text)
    except ProtobufSchemaError as exc:
        raise ProtobufSchemaError(f"invalid Protobuf schema: {_file_label(name)} {exc}") from None
    if descriptor is None:
        return _Source(name, text=text)
    return _Source(name, descriptor=descriptor)


def _file_label(name: str) -> str:
    return "the schema" if name == ROOT_NAME else f"reference {name!r}"


def _check_reference_name(name: str) -> None:
    if name == ROOT_NAME:
        raise ProtobufSchemaError(
            f"invalid reference name {name!r}: it is the name of the schema's own file"
        )
    if not _is_relative_path(name):
        raise ProtobufSchemaError(
            f"invalid reference name {name!r}: expected an import path such as "
            "'common/money.proto' (no leading '/', no '.' or '..' parts, no backslash)"
        )


def _is_relative_path(name: str) -> bool:
    return (
        bool(name)
        and "\\" not in name
        and "\0" not in name
        and all(part not in ("", ".", "..") for part in name.split("/"))
    )


class _Workspace:
    """One parse: its directory of .proto files, and a pool of what has been checked so far."""

    def __init__(self, sources: dict[str, _Source], directory: Path) -> None:
        self.sources = sources
        self.directory = directory
        self.include = [str(p).encode() for p in (_BUILTINS.directory(), _GRPC_INCLUDE, directory)]
        self.pool = descriptor_pool.DescriptorPool()
        self.in_pool: set[str] = set()
        self.prepared: set[str] = set()

    def compile(self) -> Compiled:
        for source in self.sources.values():
            if source.text is not None:
                self._write(source, source.text)
        if any(s.descriptor is not None for s in self.sources.values()):
            self._prepare(ROOT_NAME, ())
        closure = self._protoc(ROOT_NAME)
        self._add_to_pool(closure.values())  # the root too: its extensions may name its options
        root = closure.pop(ROOT_NAME)
        try:
            canonical = render_file(root, self.pool)
        except ProtobufSchemaError as exc:
            raise ProtobufSchemaError(f"invalid Protobuf schema: {exc}") from None
        return Compiled(root, tuple(_dependencies_first(closure.values())), canonical)

    def _prepare(self, name: str, importers: tuple[str, ...]) -> None:
        """Render every serialized source ``name`` imports, then ``name`` itself if serialized."""
        source = self.sources.get(name)
        if source is None or name in self.prepared:
            return
        if name in importers:
            cycle = " -> ".join([*importers[importers.index(name) :], name])
            raise ProtobufSchemaError(f"invalid Protobuf schema: import cycle {cycle}")
        descriptor = source.descriptor
        imports = list(descriptor.dependency) if descriptor else scan_imports(source.text or "")
        for imported in imports:
            unknown = imported not in self.sources and not is_well_known(imported)
            if descriptor is not None and unknown:  # text: protoc says where the import is
                raise ProtobufSchemaError(
                    f"invalid Protobuf schema: {source.label} imports {imported!r}, which "
                    "is neither a reference nor a well-known type; pass it as a reference "
                    f"named {imported!r}"
                )
            self._prepare(imported, (*importers, name))
        if descriptor is not None:
            for imported in imports:
                if imported not in self.in_pool:
                    self._add_to_pool(self._protoc(imported).values())
            self._render_serialized(source, descriptor)
        self.prepared.add(name)

    def _render_serialized(self, source: _Source, descriptor: FileDescriptorProto) -> None:
        file = FileDescriptorProto()
        file.CopyFrom(descriptor)
        file.name = source.name  # as Confluent's clients do: the reference name is the path
        try:
            self.pool.Add(file)
        except (TypeError, ValueError) as exc:
            detail = str(exc).removeprefix("Couldn't build proto file into descriptor pool: ")
            raise ProtobufSchemaError(
                f"invalid Protobuf schema: {source.label}: not a valid descriptor: {detail}"
            ) from None
        self.in_pool.add(source.name)
        normalised = FileDescriptorProto()  # type names resolved and fully qualified
        self.pool.FindFileByName(source.name).CopyToProto(normalised)
        try:
            self._write(source, render_file(normalised, self.pool))
        except ProtobufSchemaError as exc:
            raise ProtobufSchemaError(f"invalid Protobuf schema: {source.label}: {exc}") from None

    def _write(self, source: _Source, text: str) -> None:
        path = self.directory / source.name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except (OSError, UnicodeEncodeError) as exc:
            raise ProtobufSchemaError(
                f"invalid Protobuf schema: cannot use {source.label}: {exc}"
            ) from None

    def _protoc(self, name: str) -> dict[str, FileDescriptorProto]:
        """protoc's descriptors of ``name`` and every file it imports, by name."""
        try:
            generated = _protoc_compiler.get_protos(name.encode(), self.include)
        except _protoc_compiler.ProtocErrors as exc:
            raise self._protoc_problem(exc.errors()) from None
        files: dict[str, FileDescriptorProto] = {}
        for _module, code in generated:
            file = _generated_descriptor(code)
            files[file.name] = file
        if name not in files:
            raise ProtobufSchemaError(f"invalid Protobuf schema: protoc could not compile {name}")
        return files

    def _add_to_pool(self, files: Iterable[FileDescriptorProto]) -> None:
        """Add what protoc built (and the pool lacks) to the pool, which names custom options."""
        for file in _dependencies_first(files):
            if file.name in self.in_pool:
                continue  # a serialized source, added as it came
            try:
                self.pool.Add(file)
            except (TypeError, ValueError) as exc:  # it disagrees with a serialized source
                raise ProtobufSchemaError(
                    f"invalid Protobuf schema: {_file_label(file.name)}: {exc}"
                ) from None
            self.in_pool.add(file.name)

    def _protoc_problem(self, errors: list[Any]) -> ProtobufSchemaError:
        """One error that says what protoc found wrong, and where, in the user's terms."""
        missing = {
            e.filename.decode("utf-8", "replace")
            for e in errors
            if e.line < 0 and e.message == b"File not found."
        }
        messages: list[str] = []
        for error in errors:
            filename = error.filename.decode("utf-8", "replace")
            text = error.message.decode("utf-8", "replace")
            if error.line < 0 and filename in missing:
                continue
            found = _IMPORT_NOT_FOUND.fullmatch(text)
            if found and found.group(1) in missing:
                text = (
                    f'import "{found.group(1)}" is neither a reference nor a well-known type; '
                    f"pass it as a reference named {found.group(1)!r}"
                )
            messages.append(f"{self._where(filename, error.line, error.column)}: {text}")
        messages = list(dict.fromkeys(messages))  # protoc repeats itself after some errors
        if not messages:
            messages = [f"file not found: {name}" for name in sorted(missing)]
        extra = len(messages) - _MAX_REPORTED_ERRORS
        summary = "; ".join(messages[:_MAX_REPORTED_ERRORS])
        return ProtobufSchemaError(
            f"invalid Protobuf schema: {summary}" + (f" (and {extra} more)" if extra > 0 else "")
        )

    def _where(self, filename: str, line: int, column: int) -> str:
        source = self.sources.get(filename)
        label = source.label if source is not None else f"well-known file {filename!r}"
        return f"line {line + 1}:{column + 1} of {label}" if line >= 0 else label


def _generated_descriptor(code: bytes) -> FileDescriptorProto:
    """The serialized descriptor protoc's Python generator embeds in the module it writes."""
    found = _GENERATED_DESCRIPTOR.search(code)
    if found is None:
        raise ProtobufSchemaError("invalid Protobuf schema: protoc generated no descriptor")
    literal = ast.literal_eval(found.group(1).decode("ascii"))
    assert isinstance(literal, bytes)
    return FileDescriptorProto.FromString(literal)


def _dependencies_first(files: Iterable[FileDescriptorProto]) -> list[FileDescriptorProto]:
    """``files`` ordered so that each comes after the ones it imports (as a pool needs)."""
    by_name = {f.name: f for f in files}
    ordered: list[FileDescriptorProto] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done or name not in by_name:
            return
        done.add(name)  # before the imports: protoc has already refused import cycles
        for imported in by_name[name].dependency:
            visit(imported)
        ordered.append(by_name[name])

    for name in by_name:
        visit(name)
    return ordered


class _BuiltinTree:
    """The well-known files that have no .proto text on disk, written once per process.

    Written again if something (a tmp cleaner) removed them while the registry was running.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._directory: Path | None = None

    def directory(self) -> Path:
        with self._lock:
            if self._directory is None or not (self._directory / ".complete").exists():
                self._directory = self._write()
            return self._directory

    @staticmethod
    def _write() -> Path:
        directory = Path(tempfile.mkdtemp(prefix="streamplane-proto-builtin-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        pool = descriptor_pool.DescriptorPool()
        files: dict[str, FileDescriptorProto] = {}
        for name in _DESCRIPTOR_MODULES:
            _load_runtime_closure(name, files)
        for file in _dependencies_first(files.values()):
            pool.Add(file)
        for name in _DESCRIPTOR_MODULES:
            path = directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render_file(files[name], pool), encoding="utf-8")
        (directory / ".complete").touch()
        return directory


def _load_runtime_closure(name: str, files: dict[str, FileDescriptorProto]) -> None:
    """Load ``name`` and its imports from the Python modules protoc generated for them."""
    if name in files:
        return
    module = _DESCRIPTOR_MODULES.get(name) or name.removesuffix(".proto").replace("/", ".") + "_pb2"
    serialized = importlib.import_module(module).DESCRIPTOR.serialized_pb
    assert isinstance(serialized, bytes)
    files[name] = FileDescriptorProto.FromString(serialized)
    for imported in files[name].dependency:
        _load_runtime_closure(imported, files)


_BUILTINS = _BuiltinTree()

# protoc's warnings (an unused import, a reserved name that is not an identifier) describe
# schemas it accepts, as Confluent does; as Python warnings they would only fill the logs, and
# filtering them per call (warnings.catch_warnings) is not thread-safe.
warnings.filterwarnings("ignore", category=_protoc_compiler.ProtocWarning)
