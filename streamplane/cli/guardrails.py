"""``streamplane guardrails SPEC``: the rules the brokers' guardrails plugin enforces.

For a local cluster ``apply`` writes them itself; for any other cluster, deploy this file
with the plugin's jar (``~/.cache/streamplane/guardrails-*/target/``) and point the
brokers' ``streamplane.guardrails.rules.file`` at it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from streamplane.cli._options import ClusterOpt
from streamplane.errors import PlanError
from streamplane.model import load_spec
from streamplane.reconcile._guardrails import guardrail_rules


def register(app: typer.Typer) -> None:
    app.command("guardrails")(guardrails)


def guardrails(
    spec: Annotated[Path, typer.Argument(help="Spec directory (or file).")],
    cluster: ClusterOpt = None,
) -> None:
    """Print the guardrail rules (Java properties) the spec gives a cluster's brokers."""
    loaded = load_spec(spec)
    try:
        chosen = loaded.cluster(cluster)
    except KeyError:
        known = ", ".join(c.name for c in loaded.platform.clusters) or "none"
        raise PlanError(
            f"the spec {loaded.root} has no cluster {cluster!r} (its clusters: {known}); "
            "pass one of them with --cluster"
        ) from None
    if not loaded.platform.policy.guardrails:
        typer.echo(
            f"# policy.guardrails is off in {loaded.root}: the brokers enforce nothing "
            "(set `policy: {guardrails: true}` to enforce these)",
            err=True,
        )
    typer.echo(guardrail_rules(loaded, chosen), nl=False)
