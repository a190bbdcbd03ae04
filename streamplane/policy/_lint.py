"""Run the rules over a spec: settings, exemptions and custom rules applied, findings located."""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass

from streamplane.model import Spec
from streamplane.model._types import RuleSetting
from streamplane.policy._context import Rule, RuleContext, RuleViolation, SpecPath
from streamplane.policy._findings import Finding, Severity
from streamplane.policy._rules import BUILTIN_RULES
from streamplane.policy._scope import configured_severity, matching_exemption

#: The rule id of findings about the policy settings themselves (never configurable).
POLICY_RULE = "policy"


@dataclass(frozen=True)
class _Loaded:
    """A rule with the place it was configured, for locating problems it causes."""

    rule: Rule
    origin: SpecPath | None  # ("policy", "custom", i) for a custom rule


def lint(spec: Spec) -> list[Finding]:
    """Every finding of the built-in and custom rules, as configured, in file/line order.

    Problems with the policy settings themselves (an unknown rule id, a custom rule that
    cannot be imported or that crashes) are findings too, so one run shows everything.
    """
    settings = spec.platform.policy
    findings: list[Finding] = []
    rules = [_Loaded(rule, None) for rule in BUILTIN_RULES]
    unloaded: list[str] = []  # ids of custom rules that failed: their settings are not unknown
    for index, entry in enumerate(settings.custom):
        path: SpecPath = ("policy", "custom", index)
        loaded = _load_custom(entry)
        if isinstance(loaded, str):
            unloaded.append(entry.partition(":")[2])
            findings.append(
                _policy_finding(spec, path, resource=entry, message=loaded, hint=_CUSTOM_HINT)
            )
        elif loaded.id in {r.rule.id for r in rules} or loaded.id == POLICY_RULE:
            findings.append(
                _policy_finding(
                    spec,
                    path,
                    resource=entry,
                    message=f'custom rule id "{loaded.id}" is already taken',
                    hint="rename the function: rule ids are unique",
                )
            )
        else:
            rules.append(_Loaded(loaded, path))
    findings.extend(_unknown_rule_ids(spec, [r.rule.id for r in rules], unloaded=unloaded))
    context = RuleContext(spec, settings)
    for item in rules:
        findings.extend(_run(context, item, setting=settings.rules.get(item.rule.id)))
    return sorted(findings, key=lambda f: (f.file, f.line, f.column, f.rule, f.resource))


def _run(context: RuleContext, item: _Loaded, *, setting: RuleSetting | None) -> list[Finding]:
    """The findings of one rule, with its configured severity and exemptions applied."""
    rule = item.rule
    severity = configured_severity(setting, rule.default_severity)
    if severity is None:
        return []
    spec = context.spec
    if item.origin is None:
        violations = list(rule.check(context))  # a built-in rule failing is a bug: let it raise
    else:
        try:
            violations = list(rule.check(context))
        except Exception as exc:  # noqa: BLE001 - a team's rule must not hide every other finding
            message = f"custom rule raised {type(exc).__name__}: {exc}"
            return [
                _policy_finding(
                    spec, item.origin, resource=rule.id, message=message, hint="fix the rule's code"
                )
            ]
        wrong = [v for v in violations if not isinstance(v, RuleViolation)]
        if wrong:
            message = f"custom rule returned {type(wrong[0]).__name__}, not RuleViolation"
            hint = "yield streamplane.policy.RuleViolation(resource=..., path=..., ...)"
            return [
                _policy_finding(spec, item.origin, resource=rule.id, message=message, hint=hint)
            ]
    findings = []
    for violation in violations:
        if matching_exemption(setting, violation.resource) is not None:
            continue
        pos = spec.source.locate(violation.path)
        findings.append(
            Finding(
                rule=rule.id,
                severity=severity,
                resource=violation.resource,
                message=violation.message,
                hint=violation.hint,
                file=pos.file,
                line=pos.line,
                column=pos.column,
            )
        )
    return findings


_CUSTOM_HINT = (
    'write "package.module:function", where the module is importable (installed, or on '
    "PYTHONPATH) and the function takes a RuleContext and returns RuleViolations"
)


def _load_custom(entry: str) -> Rule | str:
    """The rule named by a "module:function" entry, or why it cannot be loaded.

    The target may be a ``Rule`` (its own id and default severity) or a plain function
    (id = the function's name, default severity error, summary = its docstring's first line).
    """
    module_name, sep, attribute = entry.partition(":")
    if not sep or not module_name or not attribute:
        return f'custom rule "{entry}" is not of the form "module:function"'
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import-time error is reported, not raised
        return f'cannot import custom rule "{entry}": {type(exc).__name__}: {exc}'
    target = getattr(module, attribute, None)
    if isinstance(target, Rule):
        return target
    if target is None or not callable(target):
        found = "nothing" if target is None else type(target).__name__
        return f'custom rule "{entry}": module {module_name} has {found} named "{attribute}"'
    doc = (target.__doc__ or "").strip().splitlines()
    return Rule(
        id=getattr(target, "__name__", attribute),
        default_severity=Severity.ERROR,
        summary=doc[0] if doc else entry,
        check=target,
    )


def _unknown_rule_ids(spec: Spec, known: list[str], *, unloaded: list[str]) -> list[Finding]:
    """A setting for a rule that does not exist would silently do nothing: report it."""
    findings = []
    for rule_id in spec.platform.policy.rules:
        if rule_id in known or rule_id in unloaded:
            continue
        close = difflib.get_close_matches(rule_id, known, n=1)
        hint = f'did you mean "{close[0]}"?' if close else f"known rules: {', '.join(known)}"
        findings.append(
            _policy_finding(
                spec,
                ("policy", "rules", rule_id),
                resource=f"policy.rules.{rule_id}",
                message=f'unknown rule "{rule_id}"',
                hint=hint,
                key=True,
            )
        )
    return findings


def _policy_finding(
    spec: Spec, path: SpecPath, *, resource: str, message: str, hint: str, key: bool = False
) -> Finding:
    """A finding about the policy settings: always an error, since the policy is not in force."""
    pos = spec.source.locate(path, key=key)
    return Finding(
        rule=POLICY_RULE,
        severity=Severity.ERROR,
        resource=resource,
        message=message,
        hint=hint,
        file=pos.file,
        line=pos.line,
        column=pos.column,
    )
