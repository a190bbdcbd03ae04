"""A topic's schemas and their history, read from the registry *as the viewer*.

The console does not decide who may read a subject: it asks the registry with the
viewer's own credentials, so a schema the registry would refuse them is refused here too
(the registry's rules: a tenant's own subjects, and public topics' subjects).

Each version after the first is shown with what changed (a line diff of the canonical,
pretty-printed schema) and the registry's own verdict on it: the version checked against
the one before at the subject's compatibility level, with the registry's reasons when it
is not compatible (an incompatible version exists when the level was NONE at the time, or
was changed since).
"""

from __future__ import annotations

import difflib
import json
from typing import Any
from urllib.parse import quote

import httpx


class SchemaDenied(Exception):
    """The registry refused the viewer this subject (403)."""


def _pretty(schema: str, schema_type: str) -> str:
    if schema_type in ("AVRO", "JSON"):
        try:
            return json.dumps(json.loads(schema), indent=2, sort_keys=False)
        except ValueError:
            return schema
    return schema


def subject_history(
    client: httpx.Client, subject: str, *, limit: int = 20
) -> dict[str, Any] | None:
    """The subject's level and newest ``limit`` versions with diffs; None if it has none.

    ``client`` carries the registry's base URL and the viewer's authentication.
    """
    path = quote(subject, safe="")
    listed = client.get(f"/subjects/{path}/versions")
    if listed.status_code == 403:
        raise SchemaDenied(listed.json().get("message", "denied"))
    if listed.status_code == 404:
        return None
    listed.raise_for_status()
    numbers: list[int] = sorted(listed.json())[-limit:]
    config = client.get(f"/config/{path}", params={"defaultToGlobal": "true"})
    level = config.json().get("compatibilityLevel") if config.status_code == 200 else None
    versions: list[dict[str, Any]] = []
    previous: dict[str, Any] | None = None
    for number in numbers:
        found = client.get(f"/subjects/{path}/versions/{number}")
        found.raise_for_status()
        body = found.json()
        schema_type = body.get("schemaType", "AVRO")
        text = _pretty(body["schema"], schema_type)
        version: dict[str, Any] = {
            "version": number, "id": body["id"], "type": schema_type, "schema": text,
        }  # fmt: skip
        if previous is not None:
            version["diff"] = "".join(
                difflib.unified_diff(
                    previous["schema"].splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    f"version {previous['version']}",
                    f"version {number}",
                    n=2,
                )
            )
            check = client.post(
                f"/compatibility/subjects/{path}/versions/{previous['version']}",
                params={"verbose": "true"},
                json={
                    "schema": body["schema"],
                    "schemaType": schema_type,
                    "references": body.get("references", []),
                },
            )
            if check.status_code == 200:
                verdict = check.json()
                version["compatible"] = verdict.get("is_compatible")
                version["messages"] = verdict.get("messages", [])
        versions.append(version)
        previous = version
    return {"subject": subject, "compatibility": level, "versions": versions[::-1]}
