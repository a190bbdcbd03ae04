"""``streamplane plan|apply|drift|access|lint|import`` and ``streamplane spec schema``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn

from streamplane import policy
from streamplane.cli._options import ClusterOpt, DataDirOpt, JsonOpt, SpecArg
from streamplane.cli._render import render_plan
from streamplane.cli._tables import new_table, print_table
from streamplane.cli._target import warn_broker_count
from streamplane.cli.lake import provision_tables
from streamplane.errors import PlanError, SpecError
from streamplane.kafka._admin import ClusterAdmin
from streamplane.local import DEFAULT_DATA_DIR, require_local_cluster
from streamplane.model import Spec, json_schema, load_spec
from streamplane.reconcile import (
    AclEntry,
    IdentityReport,
    Plan,
    apply_plan,
    compute_plan,
    connect,
    desired_state,
    provision,
    record_spec_notes,
    stale_changes,
    sync_tenant_records,
)
from streamplane.reconcile._actual import read_actual

console = Console(soft_wrap=True)
err = Console(stderr=True)

AllowDeleteOpt = Annotated[
    bool,
    typer.Option(help="Delete what the spec no longer has (topics only after the grace period)."),
]

spec_app = typer.Typer(help="The platform spec itself.")


def register(app: typer.Typer) -> None:
    app.command()(plan)
    app.command()(apply)
    app.command()(drift)
    app.command()(lint)
    app.command()(access)
    app.command("import")(import_)
    app.add_typer(spec_app, name="spec")


@spec_app.command("schema")
def schema(out: Annotated[Path | None, typer.Option(help="Write to this file.")] = None) -> None:
    """JSON Schema of the spec, for editor completion and validation."""
    text = json_schema()
    if out is None:
        print(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
        console.print(f"wrote {out}")


@spec_app.command("clusters")
def clusters(
    spec: SpecArg,
    local: Annotated[bool, typer.Option("--local", help="Only the `local: true` ones.")] = False,
) -> None:
    """The spec's cluster names, one per line (for scripts: apply each local cluster)."""
    for entry in load_spec(spec).platform.clusters:
        if entry.local or not local:
            print(entry.name)


def plan(
    spec: SpecArg,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    as_json: JsonOpt = False,
    out: Annotated[Path | None, typer.Option(help="Save the plan for `apply PLAN.json`.")] = None,
    allow_delete: AllowDeleteOpt = False,
    detailed_exitcode: Annotated[bool, typer.Option(help="Exit 3 when there are changes.")] = False,
) -> None:
    """Show what apply would change on the live cluster."""
    loaded = load_spec(spec)
    target = connect(loaded, cluster=cluster, data_dir=data_dir)
    warn_broker_count(err, loaded, target.cluster, data_dir)
    result = compute_plan(loaded, target, allow_delete=allow_delete).plan
    result.spec_root = str(spec.resolve())
    if out is not None:
        out.write_text(json.dumps(result.to_json(), indent=1) + "\n")
    if as_json:
        print(json.dumps({k: v for k, v in result.to_json().items() if k != "observed"}, indent=2))
    else:
        render_plan(result, console)
        if out is not None:
            console.print(f"saved to {out}: `streamplane apply {out}` applies exactly this plan")
    if result.refusals:
        raise typer.Exit(1)
    if detailed_exitcode and not result.empty:
        raise typer.Exit(3)


def apply(
    source: Annotated[Path, typer.Argument(help="Spec directory, or a plan saved with --out.")],
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    auto_approve: Annotated[bool, typer.Option(help="Do not ask for confirmation.")] = False,
    allow_delete: AllowDeleteOpt = False,
) -> None:
    """Apply the spec (or a saved plan) to the live cluster."""
    if source.is_file() and source.suffix == ".json":
        saved = Plan.from_json(json.loads(source.read_text()))
        loaded = _spec_to_apply(Path(saved.spec_root))
        target = connect(loaded, cluster=saved.cluster, data_dir=data_dir)
        moved = stale_changes(saved, target)
        if moved:
            shown = "\n  ".join(moved[:20]) + (
                f"\n  ... and {len(moved) - 20} more" if len(moved) > 20 else ""
            )
            raise PlanError(
                f"the cluster changed since {source} was planned; nothing was applied. "
                f"What moved:\n  "
                f"{shown}\nPlan again and review the new plan."
            )
        result = saved
    else:
        loaded = _spec_to_apply(source)
        target = connect(loaded, cluster=cluster, data_dir=data_dir)
        result = compute_plan(loaded, target, allow_delete=allow_delete).plan
    warn_broker_count(err, loaded, target.cluster, data_dir)
    render_plan(result, console, show_kept=False)
    if allow_delete:
        # --allow-delete deletes what the spec dropped, except KEKs: say so, not silently.
        for kept in (k for k in result.kept if k.kind == "kek"):
            console.print(f"  · kept kek {kept.resource}: {kept.why}", highlight=False)
    if result.refusals:
        raise PlanError(
            "the plan has refused changes (above); fix the spec first. Nothing was applied."
        )
    if result.empty:
        sync_tenant_records(loaded, target)  # an estate applied before records existed
        record_spec_notes(loaded, target.cluster, target.settings)  # a note may have changed
        _print_identities(provision(loaded, target))
        _print_lake(provision_tables(loaded, target, data_dir))
        return
    if not auto_approve:
        if not sys.stdin.isatty():
            raise PlanError("not a terminal: pass --auto-approve to apply without confirmation")
        if not typer.confirm(f"Apply {len(result.actions)} change(s) to cluster {result.cluster}?"):
            raise typer.Exit(1)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("applying", total=len(result.actions))

        def progress(step: str, done: int, total: int) -> None:
            bar.update(task, completed=done, description=step)

        identities = apply_plan(result, loaded, target, progress=progress)
    console.print(f"[green]Applied[/] {len(result.actions)} change(s) to cluster {result.cluster}.")
    _print_identities(identities)
    _print_lake(provision_tables(loaded, target, data_dir))


def _print_lake(lines: list[str]) -> None:
    for line in lines:
        console.print(line, highlight=False, markup=False)


def _print_identities(report: IdentityReport | None) -> None:
    if report is not None and report.summary():
        console.print(f"identities: {report.summary()}", highlight=False)


def _data_dir_flag(data_dir: Path) -> str:
    """The --data-dir a suggested command needs to reach the same local cluster."""
    return "" if data_dir == DEFAULT_DATA_DIR else f" --data-dir {data_dir}"


def _spec_to_apply(root: Path) -> Spec:
    """The spec apply works from; an invalid one also says that nothing was applied."""
    try:
        return load_spec(root)
    except SpecError as exc:
        raise exc.with_outcome("nothing was applied") from None


def drift(
    spec: SpecArg,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    as_json: JsonOpt = False,
) -> None:
    """What the cluster has that the spec does not, and what differs. Exit 3 on drift."""
    loaded = load_spec(spec)
    target = connect(loaded, cluster=cluster, data_dir=data_dir)
    result = compute_plan(loaded, target).plan
    drifted = bool(result.actions or result.kept or result.refusals)
    if as_json:
        print(
            json.dumps(
                {
                    "cluster": result.cluster,
                    "drift": drifted,
                    "unmanaged": [vars(k) for k in result.kept],
                    "differs": [a for a in result.to_json()["actions"]],
                    "refused": result.to_json()["refusals"],
                },
                indent=2,
            )
        )
    else:
        render_plan(result, console, summary=False)
        console.print(drift_verdict(result), highlight=False)
    if drifted:
        raise typer.Exit(3)


def drift_verdict(plan: Plan) -> str:
    """The one closing line of ``drift``: no drift, or how much of each kind."""
    if not (plan.actions or plan.kept or plan.refusals):
        return f"[green]No drift.[/] Cluster {plan.cluster} matches the spec."
    parts = [
        f"{len(plan.actions)} change(s) apply would make",
        f"{len(plan.kept)} not in the spec",
    ]
    if plan.refusals:
        parts.append(f"{len(plan.refusals)} refused")
    return f"[yellow]Drift on cluster {plan.cluster}:[/] {', '.join(parts)}."


def lint(spec: SpecArg, as_json: JsonOpt = False) -> None:
    """Governance rules over the spec; exit 1 when any finding is an error."""
    findings = policy.lint(load_spec(spec))
    if as_json:
        print(json.dumps([{**vars(f), "severity": str(f.severity)} for f in findings], indent=2))
    else:
        colours = {"error": "red", "warning": "yellow", "info": "blue"}
        for finding in findings:
            colour = colours[str(finding.severity)]
            console.print(
                f"{finding.file}:{finding.line}:{finding.column}: [{colour}]{finding.severity}[/] "
                f"[{finding.rule}] {finding.resource}: {finding.message}",
                highlight=False,
                markup=True,
            )
            console.print(f"    hint: {finding.hint}", highlight=False, markup=False)
        errors = sum(1 for f in findings if str(f.severity) == "error")
        console.print(f"{len(findings)} finding(s), {errors} error(s)")
    if policy.has_errors(findings):
        raise typer.Exit(1)


def access(
    principal: Annotated[str, typer.Argument(help="Principal (User:name or name).")],
    spec: SpecArg,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    live: Annotated[bool, typer.Option(help="Also compare with the cluster's ACLs.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """A principal's effective access, and the spec entry that grants each right.

    Names are always shown whole: they wrap inside their cell, and piped output is not cut.

    --json prints {principal, grants, not_in_spec} for scripts, every grant with its spec entry.
    """
    loaded = load_spec(spec)
    name = principal if principal.startswith("User:") else f"User:{principal}"
    try:
        cluster_name = loaded.cluster(cluster).name
    except KeyError as exc:
        raise PlanError(f"no cluster {exc.args[0]!r} in the spec") from None
    desired = desired_state(loaded, cluster_name)
    grants = sorted((acl, why) for acl, why in desired.acls.items() if acl.principal == name)
    live_acls = None
    if live:
        target = connect(loaded, cluster=cluster_name, data_dir=data_dir)
        live_acls = {
            AclEntry(**vars(acl))
            for acl in ClusterAdmin(target.settings).describe_acls()
            if acl.principal == name
        }
    rows = [
        {
            "operation": acl.operation, "permission": acl.permission,
            "resource": f"{acl.resource_type}:{acl.resource_name}",
            "pattern": acl.pattern_type, "granted_by": why,
            "on_cluster": None if live_acls is None else acl in live_acls,
        }
        for acl, why in grants
    ]  # fmt: skip
    extra = sorted(a.describe() for a in (live_acls or set()) - set(desired.acls))
    if as_json:
        print(json.dumps({"principal": name, "grants": rows, "not_in_spec": extra}, indent=2))
        return
    if not rows and not extra:
        console.print(f"{name} has no access in the spec (every request is denied).")
        return
    # Names are never cut short: cells fold to fit a terminal; a pipe gets whole lines.
    table = new_table(
        f"access of {name} on cluster {cluster_name}",
        ("permission", "operation", "resource", "granted by") + (("on cluster",) if live else ()),
    )
    for row in rows:
        pattern = "" if row["pattern"] == "LITERAL" else " (prefix)"
        cells: list[str] = [
            str(row["permission"]),
            str(row["operation"]),
            escape(f"{row['resource']}{pattern}"),
            escape(str(row["granted_by"])),
        ]
        if live:
            cells.append("yes" if row["on_cluster"] else "[red]missing[/]")
        table.add_row(*cells)
    print_table(console, table)
    for item in extra:
        console.print(f"[yellow]on the cluster but not in the spec:[/] {item}", highlight=False)


def import_(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the spec to.")],
    cluster_name: Annotated[
        str, typer.Option("--cluster-name", help="Name of the cluster in the spec.")
    ] = "local",
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Write into a non-empty --out, replacing its YAML and schema files."
        ),
    ] = False,
    registry: Annotated[
        str | None,
        typer.Option(
            help="URL of the schema registry holding the cluster's subjects (default: the one "
            "`streamplane up` runs beside the local cluster)."
        ),
    ] = None,
    schemas: Annotated[
        bool, typer.Option(help="Read the topics' schemas from the registry.")
    ] = True,
) -> None:
    """Write a spec from the live local cluster: adopt Streamplane on an existing cluster.

    `plan` on the written spec is empty; nothing moves until the team edits the spec.

    Schemas become files beside it: schemas/<subject>.avsc, .proto or .json.
    """
    from streamplane.cli._target import local_registry
    from streamplane.kafka import ConnectionSettings
    from streamplane.reconcile import RegistryEndpoint, import_estate, write_spec
    from streamplane.reconcile._import_enrich import read_import_sources

    if out.exists() and not out.is_dir():
        raise PlanError(f"--out {out} is a file; name a directory for the spec")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise PlanError(
            f"--out {out} is not empty; nothing was written. Pass --force to replace the spec "
            "files in it (any *.yaml there would be merged into the imported spec), or name "
            "a new directory"
        )
    props = data_dir / "admin.properties"
    if not props.exists():
        raise PlanError(
            f"{props} does not exist; start the local cluster with "
            f"`streamplane up{_data_dir_flag(data_dir)}` (or pass --data-dir)"
        )
    settings = ConnectionSettings.from_properties_file(props)
    # Before the registry: a stopped cluster is one line saying so, in seconds.
    require_local_cluster(data_dir, settings)
    endpoint = None
    if schemas:
        endpoint = (
            local_registry(data_dir, settings)
            if registry is None
            else RegistryEndpoint(
                registry.rstrip("/"), settings.username, settings.password,
                how_to_fix="check the --registry URL",
            )
        )  # fmt: skip
        if endpoint is None:
            raise PlanError(
                f"the schema registry of the local cluster in {data_dir} is not running, and "
                "import reads the topics' schemas from it; nothing was written. Start it with "
                f"`streamplane up --data-dir {data_dir}`, pass --registry URL, or "
                "--no-schemas to import without schemas"
            )
    imported = import_estate(
        read_actual(settings),
        cluster_name=cluster_name,
        local=True,
        sources=read_import_sources(settings, registry=endpoint, cluster_name=cluster_name),
    )
    files = write_spec(imported.document, out, files=imported.files)
    counts = imported.summary()
    console.print(
        f"Imported cluster {cluster_name} into {out}: {counts['tenants']} tenant(s), "
        f"{counts['topics']} topic(s), {counts['applications']} application(s), "
        f"{counts['exceptions']} ACL exception(s), {counts['quotas']} quota(s); "
        f"{len(files)} file(s) written.",
        highlight=False,
    )
    if imported.left_out:
        err.print("[yellow]left out[/] (the spec cannot hold these; plan will still show them):")
        for item in imported.left_out:
            err.print(f"  · {item}", highlight=False, markup=False)
    console.print(
        "Next: set the tenants' owners, review acl_exceptions, then "
        f"`streamplane plan {out}{_data_dir_flag(data_dir)}`.",
        highlight=False,
    )
