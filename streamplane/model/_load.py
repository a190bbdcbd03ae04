"""Load a spec directory: YAML with positions -> pydantic -> cross-checks -> Spec, or SpecError."""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from streamplane.errors import SpecError, SpecIssue
from streamplane.model._masking import add_masked_twins
from streamplane.model._spec import Spec
from streamplane.model._types import Platform
from streamplane.model._validate import validate
from streamplane.model._yaml import Path_, SourceMap, load_documents


def load_spec(root: Path) -> Spec:
    """Load and validate the spec at ``root``; every problem is reported at once."""
    if not root.exists():
        raise SpecError(
            [SpecIssue(str(root), 1, 1, "spec not found", "pass a spec directory or file")]
        )
    doc, source, issues = load_documents(root)
    platform = _validate_repairing(doc, source, issues)
    if platform is None:
        raise SpecError(_unique(issues))
    spec = Spec.index(platform, source, root if root.is_dir() else root.parent)
    add_domain_lakes(spec)
    add_masked_twins(spec)
    issues.extend(validate(spec))
    if issues:
        raise SpecError(_unique(issues))
    return spec


def add_domain_lakes(spec: Spec) -> None:
    """Give each declared topic of a domain with ``lake:`` that setting, unless the topic
    has its own or no value schema. Runs before the derived topics (twins, vaults, dead
    letters) exist, so none of those is streamed by inheritance."""
    for name, entry in list(spec.topics.items()):
        lake = entry.domain.lake
        topic = entry.topic
        if lake is None or topic.lake is not None or topic.value_schema is None:
            continue
        spec.topics[name] = dataclasses.replace(
            entry, topic=topic.model_copy(update={"lake": lake})
        )


def _validate_repairing(
    doc: dict[str, Any], source: SourceMap, issues: list[SpecIssue]
) -> Platform | None:
    """Validate; on errors, drop the offending values and go on, so that the
    cross-reference checks still run and every problem is reported in one pass.

    Only leaf values are dropped (their field falls back to its default). When a
    required key is missing the whole entry would have to go, which would shift
    list positions; then the cross-checks are skipped (returns None).
    """
    doc = copy.deepcopy(doc)
    dropped: set[Path_] = set()
    for _ in range(8):
        try:
            return Platform.model_validate(doc)
        except ValidationError as exc:
            # A value already reported and dropped comes back as "missing": not news.
            issues.extend(
                issue for issue, path in _issues_from(exc, doc, source)
                if path not in dropped
            )  # fmt: skip
            for error in exc.errors():
                path = _document_path(error["loc"], doc)
                if error["type"] == "missing" or not _drop(doc, path):
                    return None
                dropped.add(path)
    return None


def _drop(doc: Any, path: Path_) -> bool:
    """Remove the value at ``path`` from its mapping; False if it is not a mapping value."""
    parent = doc
    for step in path[:-1]:
        try:
            parent = parent[step]
        except (KeyError, IndexError, TypeError):
            return False
    if path and isinstance(parent, dict) and path[-1] in parent:
        del parent[path[-1]]
        return True
    return False


def _unique(issues: list[SpecIssue]) -> list[SpecIssue]:
    seen: set[tuple[str, int, int, str]] = set()
    out = []
    for issue in issues:
        key = (issue.file, issue.line, issue.column, issue.message)
        if key not in seen:
            seen.add(key)
            out.append(issue)
    return out


def json_schema() -> str:
    """JSON Schema of the spec, for editor completion (yaml-language-server)."""
    schema = Platform.model_json_schema()
    schema["title"] = "Streamplane platform spec"
    return json.dumps(schema, indent=2)


def _issues_from(
    exc: ValidationError, doc: dict[str, Any], source: SourceMap
) -> list[tuple[SpecIssue, Path_]]:
    """One SpecIssue per pydantic error, with the document path it is about."""
    issues: list[tuple[SpecIssue, Path_]] = []
    for error in exc.errors():
        path = _document_path(error["loc"], doc)
        kind = error["type"]
        if kind == "extra_forbidden":
            key = str(path[-1])
            allowed = _allowed_keys(path[:-1])
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f'did you mean "{close[0]}"?' if close else f"allowed keys: {', '.join(allowed)}"
            issues.append((source.issue(path, f'unknown key "{key}"', hint, key=True), path))
        elif kind == "missing":
            missing = source.issue(
                path[:-1], f'missing required key "{path[-1]}"', f'add "{path[-1]}:"'
            )
            issues.append((missing, path))
        else:
            where = str(path[-1]) if path else "spec"
            if isinstance(path[-1:] and path[-1], int) and len(path) > 1:
                where = f"{path[-2]}[{path[-1]}]"
            message = error["msg"].removeprefix("Value error, ")
            got = error.get("input")
            shown = f" (got {got!r})" if not isinstance(got, dict | list) else ""
            issues.append(
                (source.issue(path, f"{where}: {message}{shown}", _type_hint(kind)), path)
            )
    return issues


def _document_path(loc: tuple[Any, ...], doc: Any) -> Path_:
    """pydantic's loc with validator/union tags removed: only steps that exist in the document."""
    path: list[str | int] = []
    node = doc
    for step in loc:
        if (isinstance(node, dict) and step in node) or (
            isinstance(node, list) and isinstance(step, int) and step < len(node)
        ):
            path.append(step)
            node = node[step]
        elif (
            isinstance(node, dict) and isinstance(step, str) and "[" not in step and "-" not in step
        ):
            path.append(step)  # a missing key: keep it for the message
            node = None
    return tuple(path)


def _allowed_keys(path: Path_) -> list[str]:
    model: Any = Platform
    for step in path:
        if isinstance(step, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(step)
        if field is None:
            return []
        model = _unwrap(field.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return sorted(model.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """list[X] / X | None / Annotated[X, ...] -> X (the model a nested key belongs to)."""
    while True:
        args = typing.get_args(annotation)
        if not args:
            return annotation
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if models:
            return models[0]
        annotation = args[0]


def _type_hint(kind: str) -> str | None:
    return {
        "int_parsing": "write a whole number",
        "int_type": "write a whole number",
        "bool_parsing": "write true or false",
        "bool_type": "write true or false",
        "string_type": "write a string (quote it if it looks like a number)",
        "list_type": "write a YAML list (- item)",
        "dict_type": "write a mapping (key: value)",
        "model_type": "write a mapping (key: value)",
        "literal_error": None,
        "enum": None,
        "string_pattern_mismatch": (
            "names are lower-case letters, digits and '-', starting with a letter"
        ),
        "greater_than_equal": None,
    }.get(kind)
