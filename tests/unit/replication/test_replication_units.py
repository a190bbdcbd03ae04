"""MM2's records decoded, offsets translated, configuration and ACLs generated from a spec."""

from __future__ import annotations

import struct
from pathlib import Path

from streamplane.kafka import ConnectionSettings
from streamplane.model import Spec, load_spec
from streamplane.reconcile._desired import desired_state
from streamplane.replication.config import FlowEnds, mm2_properties, render
from streamplane.replication.failover import translate
from streamplane.replication.observe import replicated_position
from streamplane.replication.records import OffsetSync, checkpoint, heartbeat, offset_sync
from tests.unit.model.test_replication import HUB_FLOW, REGIONS


def _s(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">h", len(raw)) + raw


def test_offset_syncs_checkpoints_and_heartbeats_decode_as_mm2_writes_them() -> None:
    sync = offset_sync(_s("orders") + struct.pack(">i", 3), struct.pack(">qq", 1200, 1180))
    assert sync == OffsetSync("orders", 3, 1200, 1180)
    point = checkpoint(
        _s("billing") + _s("eu.orders") + struct.pack(">i", 1),
        struct.pack(">h", 0) + struct.pack(">qq", 500, 490) + _s(""),
        1_700_000_000_000,
    )
    assert (point.group, point.topic, point.partition) == ("billing", "eu.orders", 1)
    assert (point.upstream, point.downstream, point.timestamp_ms) == (500, 490, 1_700_000_000_000)
    beat = heartbeat(_s("eu") + _s("hub"), struct.pack(">h", 0) + struct.pack(">q", 42))
    assert (beat.source, beat.target, beat.timestamp_ms) == ("eu", "hub", 42)


def test_translation_is_exact_where_the_copy_is_contiguous_and_never_overshoots() -> None:
    syncs = [OffsetSync("t", 0, 0, 0), OffsetSync("t", 0, 100, 100), OffsetSync("t", 0, 200, 200)]
    assert translate(syncs, 150) == (150, 0)
    assert translate(syncs, 200) == (200, 0)
    # Past the newest sync nothing proves contiguity: MM2's rule, sync + 1, and the window.
    assert translate(syncs, 260) == (201, 59)
    # Upstream gaps (compaction, transaction markers): 100 offsets became 60 records.
    gappy = [OffsetSync("t", 0, 0, 0), OffsetSync("t", 0, 100, 60)]
    offset, duplicates = translate(gappy, 50) or (0, 0)
    assert offset == 1 and duplicates == 49
    assert translate([OffsetSync("t", 0, 10, 5)], 9) is None


def test_after_an_mm2_restart_the_newest_sync_of_an_offset_wins() -> None:
    # Record 100 was copied twice (at 100, and at 130 after a restart re-copied 30).
    syncs = [OffsetSync("t", 0, 100, 100), OffsetSync("t", 0, 100, 130)]
    assert translate(syncs, 100) == (130, 0)


def test_the_replicated_position_follows_the_newest_sync_and_the_copy() -> None:
    syncs = [OffsetSync("t", 0, 1000, 900)]
    assert replicated_position(syncs, (0, 950), source_low=0) == 1050
    assert replicated_position([], (0, 40), source_low=10) == 50


def _spec(tmp_path: Path) -> Spec:
    (tmp_path / "spec.yaml").write_text(REGIONS.format(flows=HUB_FLOW))
    return load_spec(tmp_path)


def test_mm2_copies_only_the_selected_topics_with_acl_and_offset_sync_off(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    flow = spec.platform.replication.flows[0]
    eu = ConnectionSettings("127.0.0.1:19092", username="mm2.eu.hub", password="s3cret")
    hub = ConnectionSettings("127.0.0.1:29092", username="mm2.eu.hub", password="s3cret")
    props = mm2_properties(spec, flow, FlowEnds(eu, hub, eu, hub))
    assert props["eu->hub.topics"] == r"^shop\.orders\.placed\.v1$"
    assert props["eu->hub.groups"] == r"^shop\..*"
    assert props["eu->hub.sync.topic.acls.enabled"] == "false"
    assert props["eu->hub.sync.group.offsets.enabled"] == "false"
    assert props["eu->hub.offset-syncs.topic.location"] == "target"
    assert props["hub->eu.enabled"] == "false"
    assert props["replication.factor"] == "1"
    shown = render(props, redact=True)
    assert "s3cret" not in shown and "[redacted]" in shown
    # java.util.Properties reads "\\." back as "\.": the regex MM2 gets is the one above.
    assert r"^shop\\.orders\\.placed\\.v1$" in render(props, redact=False)


def test_mm2_gets_least_privilege_on_both_ends(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    source = {(a.resource_type, a.resource_name, a.pattern_type, a.operation)
              for a in desired_state(spec, "eu").acls if a.principal == "User:mm2.eu.hub"}  # fmt: skip
    target = {(a.resource_type, a.resource_name, a.pattern_type, a.operation)
              for a in desired_state(spec, "hub").acls if a.principal == "User:mm2.eu.hub"}  # fmt: skip
    assert ("TOPIC", "shop.orders.placed.v1", "LITERAL", "READ") in source
    assert not any(name == "shop.orders.customers" for _t, name, _p, _o in source)
    assert not any(op in ("WRITE", "CREATE") and t == "TOPIC" for t, _n, _p, op in source)
    assert ("GROUP", "shop.", "PREFIXED", "DESCRIBE") in source
    assert ("TOPIC", "eu.", "PREFIXED", "WRITE") in target
    assert ("TOPIC", "mm2-offset-syncs.eu.internal", "LITERAL", "WRITE") in target
    assert ("GROUP", "eu-mm2", "LITERAL", "READ") in target
    assert not any(op == "ALL" or name == "*" for _t, name, _p, op in source | target)
    assert desired_state(spec, "hub").principals["mm2.eu.hub"] is None
