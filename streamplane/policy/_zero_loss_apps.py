"""The applications' side of the zero-loss promise, judged from the spec alone.

An application with the ``zero_loss`` profile is configured never to lose an
acknowledged record. The spec can break that without any cluster: a transactional
application that does not declare ``zero_loss``, overrides that undo the profile, a
consumer reading uncommitted records, or a producer without acks=all and idempotence
feeding a zero_loss consumer. ``lint`` reports these as rule ``zero-loss`` and ``audit
zero-loss`` reports the same problems beside what it reads from the live cluster, from
this one module, so the two never disagree about the spec.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from streamplane.kafka import PROFILES, violations
from streamplane.model import ApplicationEntry, Spec
from streamplane.policy._context import RuleContext, RuleViolation, SpecPath

ZERO_LOSS = "zero_loss"
#: The rule id under which ``lint`` reports these problems (and ``policy.rules`` tunes them).
ZERO_LOSS_RULE = "zero-loss"


@dataclass(frozen=True, kw_only=True)
class ApplicationProblem:
    """One application setting that lets a record be lost, and the spec change that fixes it."""

    application: str
    setting: str
    actual: str
    required: str
    message: str
    fix: str
    path: SpecPath


def declares_zero_loss(app: ApplicationEntry) -> bool:
    return app.app.profile is not None and app.app.profile.name == ZERO_LOSS


def application_problems(spec: Spec, cluster: str) -> Iterator[ApplicationProblem]:
    """Every application problem of the applications on ``cluster``, in spec order."""
    zero_loss_apps = [a for a in spec.applications_on(cluster) if declares_zero_loss(a)]
    consumed_by_zero_loss: dict[str, list[str]] = {}
    for app in zero_loss_apps:
        for name in app.app.consumes:
            consumed_by_zero_loss.setdefault(name, []).append(app.app.name)
    for app in spec.applications_on(cluster):
        yield from _transactional(app)
        yield from _profile_overrides(app)
        yield from _feeds_zero_loss(app, consumed_by_zero_loss)


def zero_loss_rule(ctx: RuleContext) -> Iterator[RuleViolation]:
    """Applications keep the zero_loss promise: transactional ones declare it, no override
    breaks it, and whoever feeds a zero_loss consumer guarantees acks=all and idempotence."""
    seen: set[tuple[str, str, str]] = set()
    for cluster in ctx.spec.platform.clusters:
        for problem in application_problems(ctx.spec, cluster.name):
            key = (problem.application, problem.setting, problem.message)
            if key in seen:
                continue  # an application on two clusters has one spec entry to fix
            seen.add(key)
            yield RuleViolation(
                resource=problem.application,
                path=problem.path,
                message=f"{problem.setting}: {problem.message}",
                hint=problem.fix,
            )


def _transactional(app: ApplicationEntry) -> Iterator[ApplicationProblem]:
    profile = app.app.profile
    if not app.app.transactional or (profile is not None and profile.name == ZERO_LOSS):
        return
    yield ApplicationProblem(
        application=app.app.name,
        setting="profile",
        actual=profile.name if profile is not None else "none",
        required=ZERO_LOSS,
        message="a transactional application promises exactly-once, which needs the "
        "zero_loss guarantees (acks=all, idempotence, offsets committed after processing)",
        fix=f"set profile: {ZERO_LOSS}",
        path=(*app.path, "profile") if profile is not None else (*app.path, "transactional"),
    )


def _profile_overrides(app: ApplicationEntry) -> Iterator[ApplicationProblem]:
    profile = app.app.profile
    if profile is None or profile.name != ZERO_LOSS:
        return
    for role in ("producer", "consumer"):
        overrides = getattr(profile, role)
        for problem in violations(ZERO_LOSS, role, overrides):
            key = problem.split("=", 1)[0]
            what, _, advice = problem.partition(": ")
            why, _, need = advice.rpartition("; use ")
            yield ApplicationProblem(
                application=app.app.name,
                setting=f"{role}.{key}",
                actual=str(overrides[key]),
                required=need.removesuffix(" or remove the override"),
                message=f"{what}: {why}",
                fix=f"use {need}",
                path=(*app.path, "profile", role, key),
            )
    level = profile.consumer.get("isolation.level")
    if level is not None and str(level) != "read_committed" and app.app.consumes:
        yield ApplicationProblem(
            application=app.app.name,
            setting="consumer.isolation.level",
            actual=str(level),
            required="read_committed",
            message=f"isolation.level={level} reads records of aborted transactions, "
            "which were never acknowledged to their producer",
            fix="remove the isolation.level override (zero_loss reads read_committed)",
            path=(*app.path, "profile", "consumer", "isolation.level"),
        )


def _feeds_zero_loss(
    app: ApplicationEntry, consumed_by_zero_loss: dict[str, list[str]]
) -> Iterator[ApplicationProblem]:
    if declares_zero_loss(app):
        return
    fed = [t for t in app.app.produces if t in consumed_by_zero_loss]
    if not fed:
        return
    readers = sorted({r for t in fed for r in consumed_by_zero_loss[t]})
    profile = app.app.profile
    if profile is None:
        problems = ["it declares no client profile, so nothing guarantees acks=all and "
                    "idempotence"]  # fmt: skip
    else:
        effective = {**PROFILES[profile.name].producer, **profile.producer}
        problems = violations(ZERO_LOSS, "producer", effective)
    if not problems:
        return
    yield ApplicationProblem(
        application=app.app.name,
        setting="profile",
        actual=profile.name if profile is not None else "none",
        required=f"{ZERO_LOSS} (or producer settings that keep its guarantee)",
        message=f"writes {', '.join(fed)}, which zero_loss application(s) "
        f"{', '.join(readers)} read, but {'; '.join(problems)}: records can be lost "
        "before they are read",
        fix=f"set profile: {ZERO_LOSS}",
        path=(*app.path, "profile") if profile is not None else app.path,
    )
