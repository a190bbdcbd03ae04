"""Load a directory of YAML files into one document, remembering where every value came from.

PyYAML's composer gives each node its position; we build the Python values
ourselves from the node tree so each path (("tenants", 0, "domains", 1, "name"))
maps to the file, line and column it came from. pydantic errors carry the same
paths, which is how every spec error gets a file:line:column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from streamplane.errors import SpecIssue

Path_ = tuple[str | int, ...]

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Top-level keys whose lists are concatenated across files.
LIST_SECTIONS = ("clusters", "tenants", "acl_exceptions", "quotas")
#: Top-level keys whose mappings are merged across files (a key set twice is an error).
MAPPING_SECTIONS = ("policy", "deletion", "encryption")


@dataclass(frozen=True)
class Position:
    file: str
    line: int
    column: int


@dataclass
class SourceMap:
    """Where each path of the merged document was written: value and key positions."""

    values: dict[Path_, Position]
    keys: dict[Path_, Position]

    def locate(self, path: Path_, *, key: bool = False) -> Position:
        """Position of ``path``, or of its nearest ancestor that has one."""
        table = self.keys if key else self.values
        probe = path
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), Position("<spec>", 1, 1))

    def issue(
        self, path: Path_, message: str, hint: str | None = None, *, key: bool = False
    ) -> SpecIssue:
        pos = self.locate(path, key=key)
        return SpecIssue(pos.file, pos.line, pos.column, message, hint)


def _position(file: str, node: yaml.Node) -> Position:
    return Position(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, file: str, text: str) -> None:
        self.file = file
        # libyaml's parser (when PyYAML has it) is several times faster than the pure
        # Python one and gives nodes the same marks.
        self.loader = _Loader(text)
        self.values: dict[Path_, Position] = {}
        self.keys: dict[Path_, Position] = {}
        self.issues: list[SpecIssue] = []

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.values[path] = _position(self.file, node)
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.loader.construct_object(key_node)
                if key in result:
                    pos = _position(self.file, key_node)
                    self.issues.append(
                        SpecIssue(
                            pos.file,
                            pos.line,
                            pos.column,
                            f'duplicate key "{key}"',
                            "a key may appear once per mapping; merge the two entries",
                        )
                    )
                    continue
                self.keys[(*path, key)] = _position(self.file, key_node)
                result[key] = self.build(value_node, (*path, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node)


def spec_files(root: Path) -> list[Path]:
    """The YAML files of a spec: one file, or every *.yaml / *.yml below a directory."""
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def load_documents(root: Path) -> tuple[dict[str, Any], SourceMap, list[SpecIssue]]:
    """Merge every YAML file under ``root`` into one document with its source map."""
    merged: dict[str, Any] = {}
    smap = SourceMap(values={(): Position(str(root), 1, 1)}, keys={})
    issues: list[SpecIssue] = []
    files = spec_files(root)
    if not files:
        issues.append(
            SpecIssue(
                str(root), 1, 1, "no YAML files found", "a spec is a directory of *.yaml files"
            )
        )
        return merged, smap, issues
    for path in files:
        file = str(path)
        text = path.read_text()
        builder = _Builder(file, text)
        try:
            node = builder.loader.get_single_node()
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            issues.append(
                SpecIssue(file, line, col, f"not valid YAML: {getattr(exc, 'problem', exc)}")
            )
            continue
        finally:
            builder.loader.dispose()
        if node is None:
            continue
        doc = builder.build(node, ())
        issues.extend(builder.issues)
        if not isinstance(doc, dict):
            issues.append(
                SpecIssue(
                    file,
                    1,
                    1,
                    "a spec file must be a mapping of sections",
                    f"use top-level keys among {', '.join(LIST_SECTIONS + MAPPING_SECTIONS)}",
                )
            )
            continue
        _merge_file(doc, builder, merged, smap, issues)
    return merged, smap, issues


def _merge_file(
    doc: dict[str, Any],
    builder: _Builder,
    merged: dict[str, Any],
    smap: SourceMap,
    issues: list[SpecIssue],
) -> None:
    for section, value in doc.items():
        if section in LIST_SECTIONS and isinstance(value, list):
            offset = len(merged.setdefault(section, []))
            merged[section].extend(value)
            _copy_positions(builder, (section,), (section,), offset, smap)
        elif section in MAPPING_SECTIONS and isinstance(value, dict):
            target = merged.setdefault(section, {})
            for key, item in value.items():
                if key in target:
                    pos = builder.keys[(section, key)]
                    issues.append(
                        SpecIssue(
                            pos.file,
                            pos.line,
                            pos.column,
                            f'"{section}.{key}" is set in more than one file',
                            "set it once",
                        )
                    )
                    continue
                target[key] = item
            _copy_positions(builder, (section,), (section,), None, smap)
        elif section in merged and section not in LIST_SECTIONS + MAPPING_SECTIONS:
            # Unknown sections are reported by validation; keep the first one's positions.
            continue
        else:
            merged[section] = value
            _copy_positions(builder, (section,), (section,), None, smap)


def _copy_positions(
    builder: _Builder, src: Path_, dst: Path_, offset: int | None, smap: SourceMap
) -> None:
    """Copy positions under ``src`` to ``dst``, shifting the first list index by ``offset``."""
    for table, target in ((builder.values, smap.values), (builder.keys, smap.keys)):
        for path, pos in table.items():
            if path[: len(src)] != src:
                continue
            rest = path[len(src) :]
            if offset is not None and rest and isinstance(rest[0], int):
                rest = (rest[0] + offset, *rest[1:])
            elif offset is not None and not rest and (*dst,) in target:
                continue  # keep the first file's position for the section itself
            target[(*dst, *rest)] = pos
