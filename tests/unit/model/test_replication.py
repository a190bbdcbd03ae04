"""Replication flows and several local clusters in the spec: what a flow copies, under
which names, and what lint refuses (with the line to fix)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from streamplane.model import (
    copy_origins,
    flow_topics,
    load_spec,
    regional_topics,
    replicated_copies,
    replication_names,
)
from streamplane.model._spec import Spec
from tests.unit.model.test_load import errors_of, only

REGIONS = """\
clusters:
  - name: eu
    local: true
    region: eu-west
    port_offset: 10000
    data_classes: [public, internal, confidential, pii]
  - name: hub
    local: true
    port_offset: 20000
    data_dir: central
    data_classes: [public, internal]
tenants:
  - name: shop
    owners: [team@example.com]
    clusters: [eu]
    domains:
      - name: orders
        topics:
          - name: placed.v1
            visibility: public
            classification: internal
          - name: customers
            classification: pii
          - name: notes
            classification: internal
replication:
  flows:
{flows}
"""

HUB_FLOW = """\
    - source: eu
      target: hub
      topics: {visibility: [public]}
      groups: ["shop.*"]
"""


def _line_of(text: str, start: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith(start))


def _spec(tmp_path: Path, flows: str = HUB_FLOW) -> Spec:
    (tmp_path / "spec.yaml").write_text(REGIONS.format(flows=flows))
    return load_spec(tmp_path)


def test_a_flow_copies_only_the_declared_topics_its_selection_takes(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    flow = spec.platform.replication.flows[0]
    assert [(t.name, t.remote) for t in flow_topics(spec, flow)] == [
        ("shop.orders.placed.v1", "eu.shop.orders.placed.v1")
    ]
    assert replicated_copies(spec, "hub") == {"eu.shop.orders.placed.v1"}
    assert copy_origins(spec, "hub") == {"eu.shop.orders.placed.v1": "shop.orders.placed.v1"}
    # The hub holds the event only as a copy; eu holds the original.
    assert regional_topics(spec, "shop.orders.placed.v1", "hub") == ["eu.shop.orders.placed.v1"]
    assert regional_topics(spec, "shop.orders.placed.v1", "eu") == ["shop.orders.placed.v1"]


def test_the_guardrails_allow_what_mm2_makes_on_each_cluster(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    prefixes, names = replication_names(spec, "hub")
    assert prefixes == ["eu."]
    assert "heartbeats" in names and "mm2-offset-syncs.eu.internal" in names
    assert "mm2-offsets.eu.internal" in names and "eu.checkpoints.internal" in names
    assert replication_names(spec, "eu") == ([], [])


def test_each_local_cluster_has_its_own_folder_under_the_root(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    eu, hub = spec.platform.clusters
    root = Path(".streamplane")
    assert spec.local_data_dir(eu, root) == root / "eu"
    assert spec.local_data_dir(hub, root) == root / "central"


def test_a_flow_carrying_pii_to_a_cluster_that_may_not_hold_it_is_refused(
    tmp_path: Path,
) -> None:
    flows = """\
    - source: eu
      target: hub
      topics: {names: ["shop.*"]}
"""
    issues = errors_of(tmp_path, REGIONS.format(flows=flows))
    issue = only(issues)
    assert "shop.orders.customers (pii)" in issue.message and "may not hold pii" in issue.message
    assert issue.line == _line_of(REGIONS.format(flows=flows), "      topics: {names")
    assert "classifications" in (issue.hint or "")


def test_identity_naming_on_a_cycle_is_refused_and_prefix_naming_is_not(
    tmp_path: Path,
) -> None:
    both = """\
    - source: eu
      target: hub
      topics: {visibility: [public]}
      naming: NAMING
    - source: hub
      target: eu
      topics: {names: []}
      naming: NAMING
"""
    text = REGIONS.format(flows=both.replace("NAMING", "identity"))
    issues = errors_of(tmp_path, text)
    assert len(issues) == 2
    assert all("keeps topic names on a cycle" in i.message for i in issues)
    first = _line_of(text, "      naming: identity")
    assert [i.line for i in issues] == [first, first + 4]
    assert _spec(tmp_path, both.replace("NAMING", "prefix")).platform.replication.flows


def test_identity_naming_without_a_cycle_keeps_the_names(tmp_path: Path) -> None:
    one = HUB_FLOW + "      naming: identity\n"
    spec = _spec(tmp_path, one)
    flow = spec.platform.replication.flows[0]
    assert [t.remote for t in flow_topics(spec, flow)] == ["shop.orders.placed.v1"]


@pytest.mark.parametrize(
    ("flows", "message"),
    [
        ("    - source: eu\n      target: moon\n", 'unknown cluster "moon"'),
        ("    - source: eu\n      target: eu\n", "cannot copy a cluster onto itself"),
        (HUB_FLOW + HUB_FLOW, "a second flow eu->hub"),
        (
            "    - source: eu\n      target: hub\n      topics: {visibility: [public]}\n"
            "      groups: ['a*b']\n",
            "neither a name, a prefix",
        ),
    ],
)
def test_bad_flows_are_refused_with_what_is_wrong(tmp_path: Path, flows: str, message: str) -> None:
    issue = only(errors_of(tmp_path, REGIONS.format(flows=flows)))
    assert message in issue.message


def test_several_local_clusters_need_their_own_port_offsets(tmp_path: Path) -> None:
    text = REGIONS.format(flows=HUB_FLOW).replace("    port_offset: 20000\n", "")
    issue = only(errors_of(tmp_path, text))
    assert "local cluster hub has no port_offset" in issue.message
    assert "port_offset: 10000" in (issue.hint or "")
    clash = REGIONS.format(flows=HUB_FLOW).replace("port_offset: 20000", "port_offset: 10000")
    issue = only(errors_of(tmp_path, clash))
    assert "share port_offset 10000" in issue.message


def test_a_remote_cluster_takes_no_port_offset(tmp_path: Path) -> None:
    text = textwrap.dedent(
        """\
        clusters:
          - name: prod
            bootstrap_servers: kafka:9092
            auth: {username: admin, password: {env: PW}}
            port_offset: 100
        """
    )
    issue = only(errors_of(tmp_path, text))
    assert "`port_offset` is for a local cluster" in issue.message
