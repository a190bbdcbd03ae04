"""Write an imported spec as a directory: platform.yaml, one file per tenant, schema files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from streamplane.model._yaml import spec_files
from streamplane.reconcile._import_schemas import SCHEMA_DIR, SUFFIXES

_HEADER = (
    "# Imported from cluster {cluster} by `streamplane import`.\n"
    "# Review: owners, topic classifications, acl_exceptions and the legacy tenant.\n"
)


def write_spec(
    document: dict[str, Any], out: Path, *, files: Mapping[str, str] | None = None
) -> list[Path]:
    """Write ``document`` as a spec directory: platform.yaml plus tenants/<tenant>.yaml.

    One file per tenant, as in the examples, so that each team reviews (and later owns)
    its own file. Keys keep the document's order: name first, as people write them.
    YAML files already under ``out`` are removed first: loading a directory merges every
    YAML file in it, so a stale one would change the imported spec (the CLI asks for
    ``--force`` before writing into a directory that is not empty). ``files`` (the schemas,
    by path relative to ``out``) are written beside them, replacing stale schema files.
    """
    for stale in spec_files(out) if out.is_dir() else []:
        stale.unlink()
    schemas = out / SCHEMA_DIR
    for stale in schemas.iterdir() if schemas.is_dir() else []:
        if stale.is_file() and stale.suffix.lstrip(".") in SUFFIXES.values():
            stale.unlink()
    cluster = ", ".join(c["name"] for c in document.get("clusters", [])) or "?"
    header = _HEADER.format(cluster=cluster)
    documents = [(out / "platform.yaml", {k: v for k, v in document.items() if k != "tenants"})]
    for tenant in document.get("tenants", []):
        documents.append((out / "tenants" / f"{tenant['name']}.yaml", {"tenants": [tenant]}))
    for path, content in documents:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(content, sort_keys=False, width=100, allow_unicode=True)
        path.write_text(header + text)
    written = [path for path, _ in documents]
    for relative, text in sorted((files or {}).items()):
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
