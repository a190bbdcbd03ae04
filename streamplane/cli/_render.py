"""Plans and drift for people: Terraform-style, grouped by tenant."""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console
from rich.markup import escape

from streamplane.reconcile import Action, Plan

_SIGN = {"create": ("+", "green"), "update": ("~", "yellow"), "delete": ("-", "red")}


def render_plan(
    plan: Plan, console: Console, *, show_kept: bool = True, summary: bool = True
) -> None:
    """The plan grouped by tenant, then refusals and what is kept; ``summary`` adds the
    closing count (``drift`` prints its own verdict instead)."""
    groups: dict[str, list[Action]] = defaultdict(list)
    for action in plan.actions:
        groups[action.tenant or "(platform)"].append(action)
    for tenant in sorted(groups):
        console.print(f"\n[bold]tenant {tenant}[/]")
        for action in groups[tenant]:
            sign, colour = _SIGN[action.op]
            if action.kind == "compatibility":
                # One line, the way a reviewer reads it: ~ compatibility s BACKWARD → FULL
                change = action.changes[0]
                console.print(
                    f"  [{colour}]{sign} {action.kind} {action.resource}[/] "
                    f"{change.before} → {change.after}",
                    highlight=False,
                )
                continue
            console.print(f"  [{colour}]{sign} {action.kind} {action.resource}[/]", highlight=False)
            for change in action.changes:
                if action.op == "create":
                    console.print(f"      {change.key} = {change.after}", highlight=False)
                elif change.after is None:
                    console.print(
                        f"      {change.key}: {change.before} → (default)", highlight=False
                    )
                else:
                    console.print(
                        f"      {change.key}: {change.before} → {change.after}", highlight=False
                    )
            if action.reason:
                console.print(f"      [dim]# {action.reason}[/]", highlight=False)
    if plan.refusals:
        console.print("\n[bold red]refused[/]")
        for refusal in plan.refusals:
            what = "" if refusal.kind == "topic" else f"~ {refusal.kind} "
            console.print(
                f"  [red]! {what}{escape(refusal.resource)}[/]: {escape(refusal.problem)}",
                highlight=False,
            )
            for detail in refusal.details:
                console.print(f"      · {detail}", highlight=False, markup=False)
            console.print(
                f"      safe alternative: {refusal.alternative}", highlight=False, markup=False
            )
    if plan.renames:
        console.print(
            "\n[bold]renamed[/] (retry and dead-letter topics now belong to their consumers; "
            "Kafka cannot rename topics: the new ones are created, each old one is kept until "
            "every record it holds is read or replayed, then deleted under --allow-delete)"
        )
        for rename in plan.renames:
            new = ", ".join(rename.new) or "(none: no application parks these records now)"
            console.print(f"  [yellow]~ rename {rename.old} -> {new}[/]", highlight=False)
            verb = "to delete" if rename.state == "delete" else "kept"
            console.print(f"      old topic {verb}: {rename.why}", highlight=False, markup=False)
    renamed = {rename.old for rename in plan.renames}
    # An old parking topic is shown with its rename above, not again here.
    unmanaged = [k for k in plan.kept if not (k.kind == "topic" and k.resource in renamed)]
    if show_kept and unmanaged:
        console.print("\n[bold]kept[/] (on the cluster, not in the spec)")
        for kept in unmanaged:
            console.print(f"  · {kept.kind} {kept.resource}: {kept.why}", highlight=False)
    if not summary:
        return
    counts = {
        op: sum(1 for a in plan.actions if a.op == op) for op in ("create", "update", "delete")
    }
    line = ", ".join(f"{n} to {op}" for op, n in counts.items())
    if plan.empty and not plan.refusals:
        console.print(f"\n[green]No changes.[/] Cluster {plan.cluster} matches the spec.")
    else:
        console.print(f"\nPlan for cluster {plan.cluster}: {line}, {len(plan.refusals)} refused.")
