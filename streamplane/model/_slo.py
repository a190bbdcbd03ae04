"""The spec's SLOs resolved to what measures them, and what lint refuses about them.

Platform SLOs are measured by the canary (availability, latencies, durability) and the
lag monitor (freshness of every consumer group); a tenant's by its own applications'
traffic: the SDK's metrics (availability, produce latency) and the lag of their groups
(freshness). What the SDK cannot see (its clients do not number their records, nor time
them end to end) is refused on a tenant with a pointer to the platform's canary.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from streamplane.errors import SpecIssue
from streamplane.model._spec import Spec
from streamplane.model._types import Slo
from streamplane.model._yaml import Path_

#: Seconds: the bucket bounds of the SDK's latency histograms (and of the canary's, which
#: add every threshold of the spec). A tenant's produce_latency threshold must be one of
#: them: a histogram only tells how many events fell under one of its bounds.
LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0,
)  # fmt: skip

LATENCY_SLIS = ("produce_latency", "e2e_latency")
#: What a tenant's own traffic can measure through the SDK and the lag monitor.
TENANT_SLIS = ("availability", "produce_latency", "freshness")
#: The shortest SLO window: its fast-burn short window is then 5 s, a few scrapes.
MIN_WINDOW_MS = 3600 * 1000


@dataclass(frozen=True)
class Objective:
    """One SLO with its owner: ``tenant`` None for the platform's."""

    slo: Slo
    tenant: str | None
    #: Tenant SLOs: the applications whose traffic counts, and their consumer groups.
    applications: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    path: Path_ = ()

    @property
    def key(self) -> str:
        """Unique in the spec: ``platform/NAME`` or ``TENANT/NAME``."""
        return f"{self.tenant or 'platform'}/{self.slo.name}"

    @property
    def owner(self) -> str:
        return self.tenant or "platform"


def objectives(spec: Spec) -> list[Objective]:
    """Every SLO of the spec, the platform's first."""
    found = [Objective(slo, None, path=("slos", i)) for i, slo in enumerate(spec.platform.slos)]
    for ti, tenant in enumerate(spec.platform.tenants):
        entries = [e for e in spec.applications.values() if e.tenant.name == tenant.name]
        for si, slo in enumerate(tenant.slos):
            chosen = [e for e in entries if not slo.applications or e.app.name in slo.applications]
            found.append(
                Objective(
                    slo,
                    tenant.name,
                    tuple(e.app.name for e in chosen),
                    tuple(sorted({e.consumer_group for e in chosen if e.app.consumes})),
                    ("tenants", ti, "slos", si),
                )
            )
    return found


def check_slos(spec: Spec) -> Iterator[SpecIssue]:
    src = spec.source
    seen: dict[str, Path_] = {}
    for objective in objectives(spec):
        slo, path = objective.slo, objective.path
        if objective.key in seen:
            first = src.locate(seen[objective.key])
            yield src.issue(
                (*path, "name"),
                f'duplicate SLO "{slo.name}" of {objective.owner}',
                f"first defined at {first.file}:{first.line}",
            )
            continue
        seen[objective.key] = path
        if slo.window < MIN_WINDOW_MS:
            yield src.issue(
                (*path, "window"),
                "an SLO window shorter than 1h",
                "its alert windows would be shorter than a few scrapes; use 1h or more "
                "(30d is usual)",
            )
        if slo.sli in LATENCY_SLIS and slo.threshold is None:
            yield src.issue(path, f"a {slo.sli} SLO needs a threshold", "e.g. threshold: 50ms")
        if slo.sli not in LATENCY_SLIS and slo.threshold is not None:
            yield src.issue(
                (*path, "threshold"),
                f"a {slo.sli} SLO takes no threshold",
                "threshold bounds produce_latency and e2e_latency only",
            )
        if slo.sli == "freshness" and slo.max_lag is None:
            yield src.issue(path, "a freshness SLO needs max_lag", "e.g. max_lag: 1000 (records)")
        if slo.sli != "freshness" and slo.max_lag is not None:
            yield src.issue((*path, "max_lag"), f"a {slo.sli} SLO takes no max_lag")
        if objective.tenant is None:
            if slo.applications:
                yield src.issue(
                    (*path, "applications"),
                    "a platform SLO measures the canary, not applications",
                    "declare an SLO of the applications under their tenant's slos",
                )
            continue
        yield from _check_tenant_slo(spec, objective)


def _check_tenant_slo(spec: Spec, objective: Objective) -> Iterator[SpecIssue]:
    src, slo, path = spec.source, objective.slo, objective.path
    if slo.sli not in TENANT_SLIS:
        yield src.issue(
            (*path, "sli"),
            f"a tenant's {slo.sli} cannot be measured from its applications' traffic",
            "the SDK neither numbers records nor times them end to end; declare it under "
            "the platform's slos, where the canary measures it",
        )
    if (
        slo.sli == "produce_latency"
        and slo.threshold is not None
        and slo.threshold / 1000 not in LATENCY_BUCKETS_S
    ):
        bounds = ", ".join(f"{b * 1000:g}ms" for b in LATENCY_BUCKETS_S)
        yield src.issue(
            (*path, "threshold"),
            f"threshold {slo.threshold}ms is not a bound of the SDK's latency histogram",
            f"choose one of {bounds}",
        )
    for ai, name in enumerate(slo.applications):
        entry = spec.applications.get(name)
        if entry is None or entry.tenant.name != objective.tenant:
            yield src.issue(
                (*path, "applications", ai),
                f'"{name}" is not an application of tenant {objective.tenant}',
            )
    if not objective.applications and not slo.applications:
        yield src.issue(path, f"tenant {objective.tenant} has no application to measure")
    if slo.sli == "freshness" and objective.applications and not objective.groups:
        yield src.issue(
            path,
            "a freshness SLO of applications that consume nothing",
            "list applications with `consumes:`",
        )
