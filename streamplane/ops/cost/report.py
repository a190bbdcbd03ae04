"""``cost report``: the spec's topics on a live cluster, priced, with what each change saves.

Traffic is measured, not declared: each partition's bytes on disk are read twice,
``window_s`` apart (DescribeLogDirs, ``read_cluster_with_rates``), and the growth is the
bytes written per second. Compression is measured on each topic's newest records (up to
``sample_records`` per topic). Everything else comes from the spec (retention, tiering,
who reads the topic and from which rack) and the metadata (placement, racks).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from streamplane.kafka import ConnectionSettings
from streamplane.model import Spec
from streamplane.ops.cost.compression import CodecFigure, measure
from streamplane.ops.cost.model import (
    MONTH_S,
    PartitionPlacement,
    Reader,
    TopicCost,
    monthly,
    topic_cost,
)
from streamplane.ops.cost.prices import Prices
from streamplane.ops.rebalance.live import read_cluster_with_rates
from streamplane.policy._context import topic_config

_DEFAULT_RETENTION_MS = 7 * 86400 * 1000
#: A tiered topic keeps this much locally when the report proposes tiering it.
PROPOSED_LOCAL_S = 86400.0
GB = 1e9


@dataclass
class Saving:
    change: str
    topic: str
    month: float
    detail: str


@dataclass
class CostReport:
    cloud: str
    window_s: float
    zones: int
    topics: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, float] = field(default_factory=dict)
    savings: list[Saving] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["savings"] = [asdict(s) for s in self.savings]
        return body


def sample_batches(
    settings: ConnectionSettings, topic: str, partitions: list[int], records: int
) -> list[bytes]:
    """The newest ``records`` records of ``topic`` (spread over its partitions), as
    batches of up to 100 records' keys and values concatenated."""
    consumer = Consumer(
        settings.librdkafka(
            **{"group.id": f"streamplane-cost-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False}
        )
    )
    try:
        per = max(1, records // max(1, len(partitions)))
        assignment = []
        wanted = 0
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                start = max(low, high - per)
                assignment.append(TopicPartition(topic, p, start))
                wanted += high - start
        if not assignment:
            return []
        consumer.assign(assignment)
        batches: list[bytes] = []
        current: list[bytes] = []
        seen = 0
        deadline = time.monotonic() + 15
        while seen < wanted and time.monotonic() < deadline:
            for message in consumer.consume(500, timeout=1.0):
                if message.error() is not None:
                    continue
                current.append((message.key() or b"") + (message.value() or b""))
                seen += 1
                if len(current) == 100:
                    batches.append(b"".join(current))
                    current = []
        if current:
            batches.append(b"".join(current))
        return batches
    finally:
        consumer.close()


def cost_report(
    spec: Spec,
    cluster: str,
    settings: ConnectionSettings,
    prices: Prices,
    *,
    window_s: float = 10.0,
    sample_records: int = 1000,
) -> CostReport:
    live = read_cluster_with_rates(settings, window_s)
    rates = {p.key: p.bytes_in_s for p in live.model.partitions}
    brokers = live.model.brokers
    zones = max(1, len({b.rack for b in brokers.values()}))
    report = CostReport(cloud=prices.cloud, window_s=window_s, zones=zones)
    apps = list(spec.applications_on(cluster))
    by_topic: dict[str, list[Any]] = {}
    for part in live.model.partitions:
        by_topic.setdefault(part.topic, []).append(part)
    for entry in spec.topics_on(cluster):
        parts = by_topic.get(entry.full_name)
        if not parts:
            continue  # not applied yet: nothing to measure
        placement = [
            PartitionPlacement(
                brokers[p.replicas[0]].rack,
                tuple(brokers[b].rack for b in p.replicas),
                rates.get(p.key, 0.0),
            )
            for p in parts
            if p.replicas
        ]
        readers = [
            Reader(a.consumer_group, a.app.rack) for a in apps if entry.full_name in a.app.consumes
        ]
        writers = [a.app.rack for a in apps if entry.full_name in a.app.produces]
        retention = int(topic_config(entry, "retention.ms") or _DEFAULT_RETENTION_MS)
        tiered = topic_config(entry, "remote.storage.enable") == "true"
        local = topic_config(entry, "local.retention.ms")
        local_s = (
            (int(local) / 1000 if local and int(local) >= 0 else retention / 1000)
            if tiered
            else None
        )
        cost = topic_cost(
            entry.full_name,
            placement,
            zones=zones,
            retention_s=retention / 1000 if retention >= 0 else 365 * 86400.0,
            local_retention_s=local_s,
            readers=readers,
            producer_rack=writers[0] if len(set(writers)) == 1 else None,
        )
        codecs = measure(
            sample_batches(settings, entry.full_name, [p.partition for p in parts], sample_records)
        )
        current = topic_config(entry, "compression.type") or "producer"
        report.topics.append(_topic_row(cost, codecs, current, prices))
        report.savings += _savings(cost, codecs, current, tiered, prices)
    report.totals = {
        key: round(sum(t[key] for t in report.topics), 2)
        for key in ("storage_month", "cross_zone_month", "total_month")
    }
    report.savings.sort(key=lambda s: -s.month)
    return report


def _topic_row(
    cost: TopicCost, codecs: list[CodecFigure], current: str, prices: Prices
) -> dict[str, Any]:
    storage = (
        cost.local_bytes / GB * prices.block_storage_gb_month
        + cost.remote_bytes / GB * prices.object_storage_gb_month
    )
    cross = cost.cross_zone_replication_s + cost.cross_zone_produce_s + cost.cross_zone_consume_s
    cross_month = monthly(cross, prices.cross_zone_gb)
    return {
        "topic": cost.topic,
        "bytes_in_s": round(cost.bytes_in_s, 1),
        "replication_factor": cost.replication_factor,
        "readers": [asdict(r) for r in cost.readers],
        "local_gb": round(cost.local_bytes / GB, 3),
        "remote_gb": round(cost.remote_bytes / GB, 3),
        "cross_zone_bytes_s": {
            "replication": round(cost.cross_zone_replication_s, 1),
            "produce": round(cost.cross_zone_produce_s, 1),
            "consume": round(cost.cross_zone_consume_s, 1),
            "consume_with_follower_fetching": round(cost.cross_zone_consume_ff_s, 1),
        },
        "compression": {"configured": current, "measured": [asdict(c) for c in codecs]},
        "storage_month": round(storage, 2),
        "cross_zone_month": round(cross_month, 2),
        "total_month": round(storage + cross_month, 2),
    }


def _savings(
    cost: TopicCost, codecs: list[CodecFigure], current: str, tiered: bool, prices: Prices
) -> list[Saving]:
    out = []
    fetch = monthly(cost.cross_zone_consume_s - cost.cross_zone_consume_ff_s, prices.cross_zone_gb)
    if fetch > 0:
        unknown = [r.name for r in cost.readers if r.rack is None]
        out.append(Saving(
            "follower fetching", cost.topic, round(fetch, 2),
            "consumers read the replica in their own zone (KIP-392)"
            + (f"; declare rack: on {', '.join(unknown)}" if unknown else ""),
        ))  # fmt: skip
    if not tiered and cost.retention_s > PROPOSED_LOCAL_S:
        whole = cost.bytes_in_s * cost.retention_s
        now = whole * cost.replication_factor / GB * prices.block_storage_gb_month
        local = cost.bytes_in_s * PROPOSED_LOCAL_S * cost.replication_factor / GB
        then = local * prices.block_storage_gb_month + whole / GB * prices.object_storage_gb_month
        if now - then > 0:
            out.append(Saving("tiered storage", cost.topic, round(now - then, 2),
                              "tiered: true, local_retention: 1d"))  # fmt: skip
    if codecs:
        ratio_now = next((c.ratio for c in codecs if c.codec == current), 1.0)
        best = min(codecs, key=lambda c: c.ratio)
        if best.ratio < ratio_now:
            stored = cost.local_bytes / GB * prices.block_storage_gb_month + (
                cost.remote_bytes / GB * prices.object_storage_gb_month
            )
            cross = monthly(
                cost.cross_zone_replication_s
                + cost.cross_zone_produce_s
                + cost.cross_zone_consume_s,
                prices.cross_zone_gb,
            )
            saved = (stored + cross) * (1 - best.ratio / ratio_now)
            cores = cost.bytes_in_s / 1e6 / best.compress_mb_s
            cpu = cores * prices.cpu_core_hour * MONTH_S / 3600
            if saved - cpu > 0:
                out.append(Saving(
                    f"compression {best.codec}", cost.topic, round(saved - cpu, 2),
                    f"ratio {best.ratio:.2f} vs {ratio_now:.2f} ({current}); costs "
                    f"{cores:.3f} cores at {best.compress_mb_s:,.0f} MB/s per core",
                ))  # fmt: skip
    return out
