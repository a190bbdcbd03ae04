"""SLOs in the spec: what each measures, and what lint refuses (at the line to fix)."""

from __future__ import annotations

from pathlib import Path

from streamplane.model import load_spec, objectives
from tests.unit.model.test_load import EXAMPLE, errors_of, only

BASE = """\
clusters:
  - name: local
    local: true
tenants:
  - name: shop
    owners: [team@example.com]
    clusters: [local]
    slos:
{tenant}
    domains:
      - name: orders
        topics:
          - name: placed
        applications:
          - name: writer
            produces: [shop.orders.placed]
          - name: reader
            consumes: [shop.orders.placed]
slos:
{platform}
"""


def spec_text(platform: str = "  []", tenant: str = "      []") -> str:
    return BASE.format(platform=platform, tenant=tenant)


def test_objectives_resolve_owners_applications_and_groups(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(
        spec_text(
            "  - {name: up, sli: availability, objective: 99.9}",
            "      - {name: fresh, sli: freshness, objective: 99, max_lag: 10}\n"
            "      - {name: fast, sli: produce_latency, objective: 99, threshold: 50ms,"
            " applications: [writer]}",
        )
    )
    found = {o.key: o for o in objectives(load_spec(tmp_path))}
    assert set(found) == {"platform/up", "shop/fresh", "shop/fast"}
    assert found["platform/up"].slo.window == 30 * 86400 * 1000
    assert found["shop/fresh"].applications == ("writer", "reader")
    assert found["shop/fresh"].groups == ("shop.reader",)
    assert found["shop/fast"].applications == ("writer",)
    assert found["shop/fast"].slo.threshold == 50


def test_example_platform_declares_slos() -> None:
    keys = {o.key for o in objectives(load_spec(EXAMPLE))}
    assert {"platform/produce-availability", "platform/zero-loss"} <= keys
    assert any(k.startswith("payments/") for k in keys)


def test_a_latency_slo_needs_a_threshold(tmp_path: Path) -> None:
    issue = only(errors_of(tmp_path, spec_text("  - {name: p99, sli: e2e_latency, objective: 99}")))
    assert issue.line == 20
    assert "needs a threshold" in issue.message and "50ms" in (issue.hint or "")


def test_a_tenant_cannot_declare_what_only_the_canary_measures(tmp_path: Path) -> None:
    issue = only(
        errors_of(tmp_path, spec_text(tenant="      - {name: d, sli: durability, objective: 100}"))
    )
    assert issue.line == 9
    assert "cannot be measured from its applications' traffic" in issue.message
    assert "platform's slos" in (issue.hint or "")


def test_a_tenant_latency_threshold_must_be_a_histogram_bound(tmp_path: Path) -> None:
    issue = only(
        errors_of(
            tmp_path,
            spec_text(
                tenant="      - {name: l, sli: produce_latency, objective: 99, threshold: 40ms}"
            ),
        )
    )
    assert "40ms is not a bound" in issue.message and "50ms" in (issue.hint or "")


def test_refusals_name_the_field(tmp_path: Path) -> None:
    cases = {
        "  - {name: a, sli: availability, objective: 99, window: 30m}": "shorter than 1h",
        "  - {name: a, sli: availability, objective: 99, max_lag: 3}": "takes no max_lag",
        "  - {name: a, sli: freshness, objective: 99}": "needs max_lag",
        "  - {name: a, sli: availability, objective: 99, threshold: 5ms}": "takes no threshold",
        "  - {name: a, sli: availability, objective: 99, applications: [writer]}": "measures the canary",
        "  - {name: a, sli: availability, objective: 99}\n  - {name: a, sli: durability, objective: 100}": "duplicate SLO",
    }
    for text, expected in cases.items():
        issue = only(errors_of(tmp_path, spec_text(text)))
        assert expected in issue.message, (text, issue)


def test_unknown_application_and_bad_objective(tmp_path: Path) -> None:
    issue = only(
        errors_of(
            tmp_path,
            spec_text(
                tenant="      - {name: a, sli: availability, objective: 99, applications: [nope]}"
            ),
        )
    )
    assert '"nope" is not an application of tenant shop' in issue.message
    issues = errors_of(tmp_path, spec_text("  - {name: a, sli: availability, objective: 100.5}"))
    assert any("objective" in str(i) for i in issues)
