"""Where a rule is in force: one answer for ``lint`` and for the audits of live clusters.

A finding of rule R about resource X on cluster C stands unless

- ``policy.rules.R.severity`` is ``off``;
- an exemption of R (``policy.rules.R.exemptions``) matches X, a glob over the resource
  name, with its reason;
- R does not judge C's environment: ``replication`` judges prod clusters only, since a
  dev, test or staging cluster's replication follows its node count (one local node
  means RF 1 and min ISR 1, by design).

``lint`` judges the spec and ``audit zero-loss`` the live cluster, both through these
functions, so neither fails what the other lets pass for a rule the spec exempts. What a
finding is matched against is the same in both: a topic's full name, ``cluster <name>``
for a cluster's (and its brokers') settings, an application's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from streamplane.model import Cluster
from streamplane.model._types import PolicySettings, RuleSetting
from streamplane.policy._findings import Severity

#: Rules that judge only clusters of these environments; the others judge every cluster.
RULE_ENVIRONMENTS: dict[str, frozenset[str]] = {"replication": frozenset({"prod"})}


def judges(rule_id: str, cluster: Cluster) -> bool:
    """Whether ``rule_id`` applies to ``cluster``'s environment."""
    environments = RULE_ENVIRONMENTS.get(rule_id)
    return environments is None or cluster.environment in environments


def configured_severity(setting: RuleSetting | None, default: Severity) -> Severity | None:
    """The severity ``policy.rules`` gives a rule; None when it is switched off."""
    chosen = setting.severity if setting is not None else None
    if chosen == "off":
        return None
    return Severity(chosen) if chosen is not None else default


def matching_exemption(setting: RuleSetting | None, resource: str) -> str | None:
    """The reason of the first exemption whose glob matches ``resource``, if any."""
    for exemption in setting.exemptions if setting is not None else []:
        if fnmatchcase(resource, exemption.resource):
            return f'exempted by policy.rules exemption "{exemption.resource}": {exemption.reason}'
    return None


@dataclass(frozen=True)
class Standing:
    """A rule's verdict on one resource: reported with ``severity``, or not, ``because``."""

    severity: Severity | None
    because: str | None = None


def standing(
    settings: PolicySettings,
    rule_id: str,
    resource: str,
    *,
    cluster: Cluster | None = None,
    default: Severity = Severity.ERROR,
) -> Standing:
    """Whether a finding of ``rule_id`` about ``resource`` (on ``cluster``) is reported."""
    setting = settings.rules.get(rule_id)
    severity = configured_severity(setting, default)
    if severity is None:
        return Standing(None, f"rule {rule_id} is off (policy.rules.{rule_id}.severity)")
    if cluster is not None and not judges(rule_id, cluster):
        environments = " or ".join(sorted(RULE_ENVIRONMENTS[rule_id]))
        return Standing(
            None,
            f"cluster {cluster.name} is a {cluster.environment} environment; rule {rule_id} "
            f"judges {environments} clusters only",
        )
    exempted = matching_exemption(setting, resource)
    if exempted is not None:
        return Standing(None, f"rule {rule_id} {exempted}")
    return Standing(severity)
