"""The spec's schema-resolution rules, as a check: can data written with one schema be read
with another? Every rule that would make a reader signal an error becomes a message.

A writer union is checked branch by branch even though a reader only fails on the branch a
datum actually uses: a registry cannot know which branches producers use, so any unreadable
branch is an incompatibility (as in Avro's and Confluent's own checkers).
"""

from __future__ import annotations

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
    describe,
    kind,
)

#: writer type -> reader types it may be promoted to.
PROMOTIONS: dict[str, frozenset[str]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}


def resolve(writer: Node, reader: Node) -> list[str]:
    """Messages, one per reason, each prefixed by the reader-side path; [] when readable."""
    resolver = _Resolver()
    resolver.check(writer, reader, "", in_writer_union=False)
    return resolver.errors


def names_match(writer: NamedNode, reader: NamedNode) -> bool:
    """The spec matches named types by unqualified name; reader aliases rename the writer.

    Aliases are compared both fully qualified and unqualified, the latter for symmetry with
    the unqualified match of the names themselves.
    """
    if writer.short_name == reader.short_name or writer.fullname in reader.aliases:
        return True
    return writer.short_name in {a.rpartition(".")[2] for a in reader.aliases}


def select_branch(writer: Node, union: UnionNode) -> Node | None:
    """The reader branch a non-union writer type resolves against: the first that matches.

    "First" is taken in tiers, as Avro's Java resolver does, so an exact match (same
    primitive, same full name) wins over a later-listed one reached through an unqualified
    name, an alias or a promotion.
    """
    writer_kind = kind(writer)
    same_kind = [b for b in union.branches if kind(b) == writer_kind]
    for branch in same_kind:
        if not isinstance(branch, NamedNode) or (
            isinstance(writer, NamedNode) and branch.fullname == writer.fullname
        ):
            return branch
    for branch in same_kind:
        if (
            isinstance(writer, NamedNode)
            and isinstance(branch, NamedNode)
            and names_match(writer, branch)
        ):
            return branch
    promotions = PROMOTIONS.get(writer_kind, frozenset())
    for branch in union.branches:
        if isinstance(branch, PrimitiveNode) and branch.type in promotions:
            return branch
    return None


class _Resolver:
    def __init__(self) -> None:
        self.errors: list[str] = []
        # Pairs of named types already checked or being checked: a recursive type meets
        # itself again, and assuming the pair resolves there is what ends the recursion
        # (any real problem is reported on the first visit).
        self._seen: set[tuple[int, int]] = set()

    def _fail(self, path: str, message: str) -> None:
        self.errors.append(f"{path or '/'}: {message}")

    def check(self, writer: Node, reader: Node, path: str, *, in_writer_union: bool) -> None:
        if isinstance(writer, UnionNode):
            for branch in writer.branches:
                self.check(branch, reader, path, in_writer_union=True)
            return
        if isinstance(reader, UnionNode):
            chosen = select_branch(writer, reader)
            if chosen is None:
                self._fail(
                    path,
                    f"writer type {describe(writer)} matches no branch of reader "
                    f"{describe(reader)}",
                )
            else:
                self.check(writer, chosen, path, in_writer_union=False)
            return
        if isinstance(writer, PrimitiveNode) and isinstance(reader, PrimitiveNode):
            self._primitive(writer, reader, path, in_writer_union)
        elif isinstance(writer, NamedNode) and isinstance(reader, NamedNode):
            if kind(writer) != kind(reader):
                self._mismatch(writer, reader, path, in_writer_union)
                return
            key = (id(writer), id(reader))
            if key in self._seen:
                return
            self._seen.add(key)
            if not names_match(writer, reader):
                self._fail(
                    path,
                    f"writer {describe(writer)} does not match reader {describe(reader)}: "
                    f"the names differ and the reader has no alias {writer.fullname}",
                )
            elif isinstance(writer, RecordNode) and isinstance(reader, RecordNode):
                self._record(writer, reader, path)
            elif isinstance(writer, EnumNode) and isinstance(reader, EnumNode):
                self._enum(writer, reader, path)
            elif isinstance(writer, FixedNode) and isinstance(reader, FixedNode):
                self._fixed(writer, reader, path)
        elif isinstance(writer, ArrayNode) and isinstance(reader, ArrayNode):
            self.check(writer.items, reader.items, f"{path}/items", in_writer_union=False)
        elif isinstance(writer, MapNode) and isinstance(reader, MapNode):
            self.check(writer.values, reader.values, f"{path}/values", in_writer_union=False)
        else:
            self._mismatch(writer, reader, path, in_writer_union)

    def _mismatch(self, writer: Node, reader: Node, path: str, in_writer_union: bool) -> None:
        where = " (a branch of the writer's union)" if in_writer_union else ""
        self._fail(
            path,
            f"writer type {describe(writer)}{where} does not match reader type {describe(reader)}",
        )

    def _primitive(
        self, writer: PrimitiveNode, reader: PrimitiveNode, path: str, in_writer_union: bool
    ) -> None:
        if writer.type == reader.type:
            # Logical types are ignored (the underlying type decides), except that the spec
            # makes two decimals match only with equal precision and scale: the scale is not
            # in the data, so a different one silently rescales every value.
            self._decimal(writer.decimal, reader.decimal, path)
        elif reader.type not in PROMOTIONS.get(writer.type, frozenset()):
            where = " (a branch of the writer's union)" if in_writer_union else ""
            self._fail(
                path,
                f"writer type {writer.type}{where} cannot be promoted to reader type {reader.type}",
            )

    def _decimal(self, writer: object, reader: object, path: str) -> None:
        if writer is not None and reader is not None and writer != reader:
            self._fail(
                path,
                f"writer {writer} does not match reader {reader}: decimals resolve only "
                "with equal precision and scale",
            )

    def _record(self, writer: RecordNode, reader: RecordNode, path: str) -> None:
        by_name = {f.name: f for f in writer.fields}
        for field in reader.fields:
            field_path = f"{path}/fields/{field.name}"
            source = by_name.get(field.name)
            if source is None:
                source = next((by_name[a] for a in field.aliases if a in by_name), None)
            if source is not None:
                self.check(source.type, field.type, field_path, in_writer_union=False)
            elif not field.has_default:
                self._fail(field_path, "reader field has no default and is missing from the writer")

    def _enum(self, writer: EnumNode, reader: EnumNode, path: str) -> None:
        missing = [s for s in writer.symbols if s not in reader.symbols]
        if missing and reader.default is None:
            self._fail(
                path,
                f"writer enum symbols {', '.join(missing)} are not in reader enum "
                f"{reader.fullname}, which has no default",
            )

    def _fixed(self, writer: FixedNode, reader: FixedNode, path: str) -> None:
        if writer.size != reader.size:
            self._fail(
                path,
                f"writer fixed {writer.fullname} has size {writer.size} but reader fixed "
                f"{reader.fullname} has size {reader.size}",
            )
        else:
            self._decimal(writer.decimal, reader.decimal, path)
