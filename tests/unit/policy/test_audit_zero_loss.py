"""The zero-loss audit over a spec and a live-cluster snapshot (no broker needed)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from streamplane.kafka._durability import ClusterDurability, TopicDurability, TopicSetting
from streamplane.model import Platform, Spec, load_spec
from streamplane.model._yaml import load_documents
from streamplane.policy import ZeroLossViolation, audit_zero_loss, audited_topics

SPEC = """\
clusters:
  - name: local
    local: true
    environment: prod
    brokers: 3
tenants:
  - name: pay
    owners: [pay@example.com]
    clusters: [local]
    domains:
      - name: card
        topics:
          - name: good
          - name: thin
            replication_factor: 1
          - name: loose
            configs:
              min.insync.replicas: 1
          - name: unclean
            configs:
              unclean.leader.election.enable: true
          - name: plain
          - name: fed
          - name: other
            replication_factor: 1
        applications:
          - name: writer
            profile: zero_loss
            produces: [pay.card.good, pay.card.thin, pay.card.loose, pay.card.unclean, pay.card.plain]
          - name: mover
            transactional: true
            profile: low_latency
            consumes: [pay.card.other]
          - name: feeder
            produces: [pay.card.fed]
          - name: reader
            profile:
              name: zero_loss
              consumer: {isolation.level: read_uncommitted}
            consumes: [pay.card.fed]
          - name: bystander
            produces: [pay.card.other]
"""

GOOD_BROKER = {
    "min.insync.replicas": "2",
    "unclean.leader.election.enable": "false",
    "default.replication.factor": "3",
    "offsets.topic.replication.factor": "3",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
}


def _write(tmp_path: Path, text: str) -> Path:
    root = tmp_path / "spec"
    root.mkdir()
    (root / "platform.yaml").write_text(text)
    return root


def _topic(
    name: str, *, rf: int = 3, min_isr: str = "2", overridden: bool = False
) -> TopicDurability:
    return TopicDurability(
        name=name,
        partitions=3,
        replication_factor=rf,
        assignment={p: tuple(range(1, rf + 1)) for p in range(3)},
        settings={
            "min.insync.replicas": TopicSetting(min_isr, overridden),
            "unclean.leader.election.enable": TopicSetting("false", False),
        },
    )


def _live(
    brokers: dict[int, dict[str, str]] | None = None, **topics: TopicDurability
) -> ClusterDurability:
    return ClusterDurability(
        "127.0.0.1:9092",
        brokers=brokers if brokers is not None else {n: dict(GOOD_BROKER) for n in (1, 2, 3)},
        topics={t.name: t for t in topics.values()},
    )


def _by(found: list[ZeroLossViolation]) -> dict[tuple[str, str], ZeroLossViolation]:
    return {(v.resource, v.setting): v for v in found}


def test_audit_reports_spec_and_live_problems_with_their_fix_and_spec_line(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, SPEC))
    live = _live(
        good=_topic("pay.card.good"),
        thin=_topic("pay.card.thin", rf=1),
        loose=_topic("pay.card.loose", min_isr="1", overridden=True),
        unclean=_topic("pay.card.unclean"),
        fed=_topic("pay.card.fed"),
        # plain: missing on the cluster; offsets topic: RF 1 although the brokers say 3
        offsets=_topic("__consumer_offsets", rf=1),
    )
    found = _by(audit_zero_loss(spec, cluster="local", live=live))
    assert set(found) == {
        ("topic pay.card.thin", "replication factor"),
        ("topic pay.card.loose", "min.insync.replicas"),
        ("topic pay.card.unclean", "unclean.leader.election.enable"),
        ("topic pay.card.plain", "existence"),
        ("topic __consumer_offsets", "replication factor"),
        ("application mover", "profile"),
        ("application feeder", "profile"),
        ("application reader", "consumer.isolation.level"),
    }
    spec_file = str(tmp_path / "spec" / "platform.yaml")
    thin = found[("topic pay.card.thin", "replication factor")]
    assert (thin.file, thin.line) == (
        spec_file,
        SPEC.splitlines().index("            replication_factor: 1") + 1,
    )
    assert thin.actual == "1 in the spec, 1 on the cluster"
    assert thin.fix.startswith(
        "set replication_factor: 3, after raising it on the cluster (reassign its partitions "
        'to 3 replicas: `echo \'{"version":1,"partitions":[{"topic":"pay.card.thin",'
        '"partition":0,"replicas":[1,2,3]}'
    )
    assert (
        " > reassign-pay.card.thin.json && streamplane kafka kafka-reassign-partitions "
        "--reassignment-json-file reassign-pay.card.thin.json --execute`" in thin.fix
    )
    assert thin.fix.endswith(f"({spec_file}:{thin.line})")
    loose = found[("topic pay.card.loose", "min.insync.replicas")]
    assert loose.line == SPEC.splitlines().index("              min.insync.replicas: 1") + 1
    assert loose.fix.startswith(
        f"set min.insync.replicas: 2, then `streamplane apply {tmp_path / 'spec'}`"
    )
    mover = found[("application mover", "profile")]
    assert mover.actual == "low_latency" and mover.fix.startswith("set profile: zero_loss")
    feeder = found[("application feeder", "profile")]
    assert "pay.card.fed, which zero_loss application(s) reader read" in feeder.message
    offsets = found[("topic __consumer_offsets", "replication factor")]
    assert offsets.file is None and "streamplane kafka kafka-reassign-partitions" in offsets.fix
    # Spec problems come first, in file order; cluster problems after them.
    ordered = audit_zero_loss(spec, cluster="local", live=live)
    assert [v.file is None for v in ordered] == sorted(v.file is None for v in ordered)


def test_audit_of_a_one_broker_cluster_names_every_broker_setting_to_change(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, SPEC))
    weak = {
        "min.insync.replicas": "1",
        "unclean.leader.election.enable": "true",
        "default.replication.factor": "1",
        "offsets.topic.replication.factor": "1",
    }
    live = _live({1: weak}, good=_topic("pay.card.good", rf=1, min_isr="1"))
    found = _by(audit_zero_loss(spec, cluster="local", live=live))
    assert found[("cluster local", "brokers")].actual == "1"
    isr = found[("broker 1", "min.insync.replicas")]
    assert isr.fix == (
        "set min.insync.replicas=2 on every broker: `streamplane kafka kafka-configs --alter "
        "--entity-type brokers --entity-default --add-config min.insync.replicas=2`"
    )
    assert ("broker 1", "unclean.leader.election.enable") in found
    assert ("broker 1", "default.replication.factor") in found
    inherited = found[("topic pay.card.good", "min.insync.replicas")]
    assert inherited.actual == "1 (inherited from the brokers)"
    # Topics not created yet would get the brokers' defaults.
    assert found[("topic pay.card.plain", "replication factor")].actual.startswith("1 (brokers'")
    assert ("brokers", "offsets.topic.replication.factor") in found


def test_audited_topics_are_the_zero_loss_ones_and_kafkas_own(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, SPEC))
    assert audited_topics(spec, "local") == [
        "__consumer_offsets",
        "__transaction_state",
        "pay.card.fed",
        "pay.card.good",
        "pay.card.loose",
        "pay.card.plain",
        "pay.card.thin",
        "pay.card.unclean",
    ]


def test_a_clean_cluster_and_spec_have_no_violations(tmp_path: Path) -> None:
    text = textwrap.dedent(
        """\
        clusters:
          - {name: local, local: true, environment: prod, brokers: 3}
        tenants:
          - name: pay
            owners: [pay@example.com]
            clusters: [local]
            domains:
              - name: card
                topics: [{name: good}]
                applications:
                  - {name: writer, profile: zero_loss, transactional: true, produces: [pay.card.good]}
        """
    )
    spec = load_spec(_write(tmp_path, text))
    live = _live(good=_topic("pay.card.good"), offsets=_topic("__consumer_offsets"))
    assert audit_zero_loss(spec, cluster="local", live=live) == []


def test_profile_overrides_breaking_zero_loss_are_located(tmp_path: Path) -> None:
    """load_spec refuses these already; a spec built in code is audited the same way."""
    text = SPEC.replace(
        "          - name: writer\n            profile: zero_loss\n",
        "          - name: writer\n            profile:\n              name: zero_loss\n"
        "              producer: {acks: 1}\n",
    )
    root = _write(tmp_path, text)
    doc, source, _ = load_documents(root)
    spec = Spec.index(Platform.model_validate(doc), source, root)
    found = _by(audit_zero_loss(spec, cluster="local", live=_live()))
    acks = found[("application writer", "producer.acks")]
    assert acks.fix.startswith("use acks=all")
    assert acks.line == text.splitlines().index("              producer: {acks: 1}") + 1
