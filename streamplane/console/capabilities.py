"""The pages built on the platform's other capabilities: lineage, plan and drift, audit,
SLOs, cost and replication, each filtered to what the viewer may see.

They call the same functions as the CLI commands (``lineage graph``, ``plan``/``drift``,
``audit query``, ``slo report``, ``cost report``, ``replicate status``), so the console and
the command line never disagree. Those reads are heavier than the cached snapshot (a
plan reads every resource, the audit trail is a topic), so each result is kept for a few
seconds (``Recent``); the cost report measures traffic over a window, so it is computed
in the background and the page shows the newest one with its age.

Who sees what:
* lineage: flows whose topic the viewer may see (a flow names an application, which the
  spec already shows to every tenant, and a topic, which it may not);
* plan and drift: super users only (a plan lists every tenant's resources and changes);
* audit: super users see every event; others the events of their tenant's principals and
  of resources in their namespace;
* SLOs: the platform's and the viewer's tenant's;
* cost: the topics the viewer may see, with totals over those only;
* replication: every flow's state, with per-topic lag for topics the viewer may see.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from streamplane.console.access import Viewer
from streamplane.console.views import Estate
from streamplane.kafka import ClusterInspector, ConnectionSettings
from streamplane.lineage.flows import declared_flows, lineage, observed_consumers
from streamplane.model import Spec, objectives
from streamplane.model._dead_letters import parking_kind
from streamplane.security.audit import AuditFilter, read_trail

T = TypeVar("T")


class Recent(Generic[T]):
    """The last value of ``compute`` for ``ttl_s``, computed once however many ask at once."""

    def __init__(self, compute: Callable[[], T], ttl_s: float) -> None:
        self._compute = compute
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._value: tuple[float, T] | None = None

    def get(self) -> T:
        with self._lock:
            if self._value is None or time.monotonic() - self._value[0] > self.ttl_s:
                self._value = (time.monotonic(), self._compute())
            return self._value[1]


@dataclass
class Capabilities:
    """The heavier reads, shared by every viewer and filtered per viewer."""

    spec: Spec
    cluster: str
    settings: ConnectionSettings
    inspector: ClusterInspector
    data_dir: Path | None
    _lineage: Recent[list[dict[str, Any]]] | None = field(default=None, repr=False)
    _cost: dict[str, Any] = field(default_factory=dict, repr=False)
    _cost_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ---------------------------------------------------------------- lineage
    def lineage(self, estate: Estate, viewer: Viewer) -> dict[str, Any]:
        """Declared and observed flows (consumer groups' offsets) the viewer may see, and
        the graph's nodes: applications and topics."""
        if self._lineage is None:
            self._lineage = Recent(self._lineage_rows, ttl_s=10.0)
        rows = [r for r in self._lineage.get() if estate.rules.may_see_topic(viewer, r["topic"])]
        return {"flows": rows, **graph_layout(rows)}

    def _lineage_rows(self) -> list[dict[str, Any]]:
        observed = observed_consumers(self.spec, self.inspector)
        return [row.to_json() for row in lineage(declared_flows(self.spec), observed)]

    # ------------------------------------------------------------ plan, drift
    def plan(self) -> dict[str, Any]:
        """What apply would change now, and what the cluster has that the spec does not."""
        from streamplane.reconcile import compute_plan, connect

        target = connect(self.spec, cluster=self.cluster, data_dir=self.data_dir or Path("."))
        planned = compute_plan(self.spec, target).plan
        body = planned.to_json()
        body.pop("observed", None)
        body["drift"] = bool(planned.actions or planned.kept or planned.refusals)
        return body

    # ------------------------------------------------------------------ audit
    def audit(
        self,
        viewer: Viewer,
        *,
        principal: str | None = None,
        resource: str | None = None,
        denied: bool = False,
        source: str | None = None,
        since_ms: int | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` events matching the filters that the viewer may see."""
        where = AuditFilter(principal or None, resource or None, denied, source or None, since_ms)
        mine = self._tenant_principals(viewer)
        found = []
        for record in read_trail(self.settings, where):
            if not viewer.super_user:
                who = (record.principal or "").removeprefix("User:")
                name = record.resource_name or ""
                ours = viewer.namespace is not None and name.startswith(viewer.namespace)
                if who not in mine and not ours:
                    continue
            found.append(record)
        return [asdict(r) for r in found[-limit:]][::-1]

    def _tenant_principals(self, viewer: Viewer) -> set[str]:
        if viewer.tenant is None:
            return {viewer.principal}
        return {
            e.principal for e in self.spec.applications.values() if e.tenant.name == viewer.tenant
        }

    # ------------------------------------------------------------------- SLOs
    def slos(self, viewer: Viewer, *, prometheus: str | None = None) -> list[dict[str, Any]]:
        """Budget left and burn rates of the platform's SLOs and the viewer's tenant's."""
        from streamplane.slo.report import lookback_s, slo_report
        from streamplane.slo.samples import read_samples

        found = [
            o for o in objectives(self.spec)
            if viewer.super_user or o.tenant is None or o.tenant == viewer.tenant
        ]  # fmt: skip
        if not found:
            return []
        now = time.time()
        records = read_samples(self.settings, since=now - lookback_s(found))
        return [s.as_json() for s in slo_report(found, records, now=now, prometheus=prometheus)]

    # ------------------------------------------------------------------- cost
    def cost(self, estate: Estate, viewer: Viewer, *, window_s: float = 5.0) -> dict[str, Any]:
        """The newest cost report, filtered to the viewer's topics; started on first ask."""
        with self._cost_lock:
            state = dict(self._cost)
            stale = not state or time.time() - state.get("at", 0) > 600
            if stale and not state.get("running"):
                self._cost["running"] = True
                threading.Thread(
                    target=self._measure_cost, args=(window_s,), name="cost-report", daemon=True
                ).start()
        report = state.get("report")
        if report is None:
            return {"measuring": True, "error": state.get("error"), "window_s": window_s}
        topics = [t for t in report["topics"] if estate.rules.may_see_topic(viewer, t["topic"])]
        savings = [s for s in report["savings"] if estate.rules.may_see_topic(viewer, s["topic"])]
        totals = {
            key: round(sum(t[key] for t in topics), 2)
            for key in ("storage_month", "cross_zone_month", "total_month")
        }
        return {
            "measuring": bool(state.get("running")), "measured_at": state.get("at"),
            "cloud": report["cloud"], "window_s": report["window_s"], "zones": report["zones"],
            "topics": topics, "savings": savings, "totals": totals,
        }  # fmt: skip

    def _measure_cost(self, window_s: float) -> None:
        from streamplane.ops.cost.prices import load_prices
        from streamplane.ops.cost.report import cost_report

        try:
            report = cost_report(
                self.spec, self.cluster, self.settings, load_prices("aws", None),
                window_s=window_s, sample_records=200,
            ).to_dict()  # fmt: skip
            update: dict[str, Any] = {"report": report, "at": time.time(), "error": None}
        except Exception as exc:  # noqa: BLE001 - shown on the page, retried on the next ask
            update = {"error": str(exc), "at": time.time()}
        with self._cost_lock:
            self._cost.update(update, running=False)

    # ------------------------------------------------------------ replication
    def replication(self, estate: Estate, viewer: Viewer) -> list[dict[str, Any]]:
        """Each flow from or to this cluster: MM2's state and lag, per visible topic."""
        from streamplane.replication.status import flow_status

        flows = [
            f for f in self.spec.platform.replication.flows
            if self.cluster in (f.source, f.target)
        ]  # fmt: skip
        if not flows or self.data_dir is None:
            return []
        root = _spec_root(self.spec, self.cluster, self.data_dir)
        reports = []
        for flow in flows:
            report = flow_status(self.spec, flow, root)
            report["topics"] = [
                t for t in report.get("topics", [])
                if estate.rules.may_see_topic(viewer, t["topic"])
            ]  # fmt: skip
            report.pop("log", None)
            reports.append(report)
        return reports


def _spec_root(spec: Spec, cluster: str, data_dir: Path) -> Path:
    """The --data-dir a spec of several local clusters keeps this one's folder under."""
    local = spec.local_clusters()
    if len(local) > 1:
        entry = next((c for c in local if c.name == cluster), None)
        if entry is not None and data_dir.name == spec.local_folder(entry):
            return data_dir.parent
    return data_dir


def graph_layout(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Nodes in columns, left to right along the flows, and edges between them.

    A node's column is one more than the furthest of its inputs (a longest-path layering;
    a cycle is cut at the edge that closes it, walking from the sources), applications
    and topics alternating as data flows;
    within a column, nodes sit near the average row of their inputs (one barycentre pass,
    which removes most crossings). Retry and dead-letter topics are an application's own
    plumbing: they are listed with the flows but not drawn.
    """
    inputs: dict[str, set[str]] = {}
    kinds: dict[str, str] = {}
    edges = []
    for row in rows:
        if parking_kind(row["topic"]) is not None:
            continue
        app, topic = f"app:{row['application']}", f"topic:{row['topic']}"
        kinds[app], kinds[topic] = "app", "topic"
        source, target = (app, topic) if row["direction"] == "produces" else (topic, app)
        inputs.setdefault(target, set()).add(source)
        inputs.setdefault(source, set())
        edges.append({"from": source, "to": target, "status": row["status"]})
    column = _columns(inputs)
    per_column: dict[int, list[str]] = {}
    for node in sorted(column, key=lambda n: (column[n], n)):
        per_column.setdefault(column[node], []).append(node)
    placed: dict[str, float] = {}
    for col in sorted(per_column):
        members = per_column[col]
        for i, node in enumerate(members):
            above = [placed[i_] for i_ in inputs.get(node, ()) if i_ in placed]
            placed[node] = sum(above) / len(above) if above else float(i)
        members.sort(key=lambda n: (placed[n], n))
        for i, node in enumerate(members):
            placed[node] = float(i)
    nodes = [
        {"id": node, "kind": kinds[node], "name": node.split(":", 1)[1], "column": col, "row": i}
        for col, members in sorted(per_column.items())
        for i, node in enumerate(members)
    ]
    return {"nodes": nodes, "edges": edges}


def _columns(inputs: dict[str, set[str]]) -> dict[str, int]:
    """Longest-path layers of the graph ``inputs`` describes, its cycles' back edges cut."""
    outputs: dict[str, list[str]] = {n: [] for n in inputs}
    for node, sources in inputs.items():
        for source in sources:
            outputs[source].append(node)
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}  # 1: on the walk's path, 2: done
    starts = sorted(inputs, key=lambda n: (bool(inputs[n]), n))  # sources first
    for start in starts:
        if start in state:
            continue
        state[start] = 1
        stack = [(start, iter(sorted(outputs[start])))]
        while stack:
            node, pending = stack[-1]
            step = next(pending, None)
            if step is None:
                state[node] = 2
                stack.pop()
            elif state.get(step) == 1:
                back.add((node, step))
            elif step not in state:
                state[step] = 1
                stack.append((step, iter(sorted(outputs[step]))))
    remaining = {n: {s for s in inputs[n] if (s, n) not in back} for n in inputs}
    column = {n: 0 for n in inputs}
    ready = sorted(n for n, s in remaining.items() if not s)
    while ready:
        node = ready.pop()
        for target in outputs[node]:
            if (node, target) in back:
                continue
            column[target] = max(column[target], column[node] + 1)
            remaining[target].discard(node)
            if not remaining[target]:
                ready.append(target)
    return column
