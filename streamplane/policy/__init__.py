"""Governance policy: rules the spec must follow before anything reaches a cluster.

``lint(spec)`` runs the built-in rules (``BUILTIN_RULES``) and the team's own, and
returns located findings; ``has_errors`` says whether they block the change. The
spec's ``policy`` section tunes them without code::

    policy:
      core_compression: zstd
      max_retention_without_tiered: 30d
      rules:
        partition-limits:
          severity: warning            # error | warning | info | off
        tiered-retention:
          exemptions:                  # skip resources matching a glob, with a reason
            - resource: "payments.ledger.*"
              reason: "audit archive, moving to tiered storage in Q3"
      custom:
        - "acme_policy.rules:no_test_topics"

A rule id under ``rules`` that no rule has is itself an error (a typo would otherwise
switch nothing off and silently leave the intended exemption out of force).

The live cluster is judged by the same policy: ``zero_loss_report(spec, cluster=...,
live=...)`` (``streamplane audit zero-loss``) files each problem it reads from the
cluster under a lint rule (``replication``, ``unclean-leader-election``, ``zero-loss``)
and applies that rule's severity, exemptions and environments (``replication`` judges
prod clusters only), so lint and the audit never disagree about what is enforced. Each
fix it prints runs as printed (``FixCommands``: ``streamplane kafka …``, ``streamplane
apply …``).

Writing a custom rule
---------------------
A custom rule is a function that takes a ``RuleContext`` and returns (or yields)
``RuleViolation``s. Its id is the function's name, its severity ``error`` unless
``policy.rules.<id>.severity`` says otherwise, and exemptions apply to it as to any
rule. The module must be importable by the process running ``lint`` (installed, or
on ``PYTHONPATH``)::

    # acme_policy/rules.py
    from collections.abc import Iterator

    from streamplane.policy import RuleContext, RuleViolation


    def no_test_topics(ctx: RuleContext) -> Iterator[RuleViolation]:
        \"\"\"Test topics do not belong in the platform spec.\"\"\"
        for entry in ctx.spec.topics.values():
            if "test" in entry.topic.name:
                yield RuleViolation(
                    resource=entry.full_name,
                    path=(*entry.path, "name"),
                    message=f'topic "{entry.topic.name}" looks like a test topic',
                    hint="create test topics on the local cluster, outside the spec",
                )

``path`` points into the spec document (``entry.path`` for a topic, ``("clusters", i)``
for a cluster), which is how the finding gets its file:line:column. To choose another
default severity, point the entry at a ``Rule(id=..., default_severity=..., summary=...,
check=...)`` instead of a function. An entry that cannot be imported, or a rule that
raises, is reported as an error finding of rule ``policy`` rather than stopping the run.
"""

from __future__ import annotations

from streamplane.policy._context import (
    Rule,
    RuleContext,
    RuleViolation,
    SpecPath,
    config_path,
    effective_min_insync_replicas,
    effective_replication_factor,
    topic_config,
)
from streamplane.policy._findings import Finding, Severity, has_errors
from streamplane.policy._fixes import FixCommands
from streamplane.policy._lint import POLICY_RULE, lint
from streamplane.policy._rules import BUILTIN_RULES
from streamplane.policy._scope import Standing, judges, standing
from streamplane.policy._zero_loss import (
    ExemptedViolation,
    ZeroLossReport,
    ZeroLossViolation,
    audit_zero_loss,
    audited_topics,
    zero_loss_report,
)

__all__ = [
    "BUILTIN_RULES",
    "POLICY_RULE",
    "ExemptedViolation",
    "Finding",
    "FixCommands",
    "Rule",
    "RuleContext",
    "RuleViolation",
    "Severity",
    "SpecPath",
    "Standing",
    "ZeroLossReport",
    "ZeroLossViolation",
    "audit_zero_loss",
    "audited_topics",
    "config_path",
    "effective_min_insync_replicas",
    "effective_replication_factor",
    "has_errors",
    "judges",
    "lint",
    "standing",
    "topic_config",
    "zero_loss_report",
]
