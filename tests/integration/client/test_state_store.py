"""ChangelogStore with the transactional processor on a real cluster: a running count per
key is exact after an aborted batch, and a fresh store (a new machine, no local files)
restores every key from the changelog; a store that kept its files restores only the
tail after its checkpoint."""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path

from confluent_kafka import Message, Producer

from streamplane.client import ChangelogStore, Output, TransactionalProcessor, TransactionSettings
from streamplane.local import LocalCluster
from tests.integration.conftest import create_topic

KEYS = 50


def _counting(
    cluster: LocalCluster, source: str, changelog: str, out: str, path: Path, group: str
) -> tuple[TransactionalProcessor, ChangelogStore[int], list[int]]:
    settings = cluster.admin_settings()
    store: ChangelogStore[int] = ChangelogStore(
        path, changelog=changelog, connection=settings, group=group,
        encode=lambda n: str(n).encode(), decode=lambda b: int(b),
        checkpoint_interval_s=0.0,
    )  # fmt: skip
    failures: list[int] = []

    def transform(batch: list[Message]) -> list[Output]:
        outputs = []
        for m in batch:
            key = m.key() or b""
            n = (store.get(key) or 0) + 1
            store.put(key, m.partition() or 0, n)
            outputs.append(Output(out, str(n).encode(), key=key))
        if failures:
            failures.pop()
            raise RuntimeError("the batch fails once, after changing the store")
        return [*outputs, *store.changelog_outputs()]

    processor = TransactionalProcessor(
        [source], group=group, transactional_id=f"{group}-0", transform=transform,
        connection=settings, listener=store,
        settings=TransactionSettings(max_records=40, commit_interval_s=0.0, poll_timeout_s=0.2),
    )  # fmt: skip
    return processor, store, failures


def _run(processor: TransactionalProcessor, committed: int) -> None:
    """Step until ``committed`` input records are committed in all."""
    for _ in range(400):
        if processor.stats.records_committed >= committed:
            return
        processor.step()
    raise AssertionError(f"committed {processor.stats.records_committed} of {committed}")


def test_counts_survive_an_abort_and_a_lost_disk(cluster1: LocalCluster, tmp_path: Path,
                                                 topic_name: str) -> None:  # fmt: skip
    settings = cluster1.admin_settings()
    source, changelog, out = f"{topic_name}-in", f"{topic_name}-state", f"{topic_name}-out"
    create_topic(settings, source, partitions=3)
    create_topic(settings, changelog, partitions=3, config={"cleanup.policy": "compact"})
    create_topic(settings, out, partitions=3)
    producer = Producer(settings.librdkafka())
    for i in range(600):
        producer.produce(source, b"x", key=f"k{i % KEYS}".encode())
    producer.flush(30)
    expected = Counter(f"k{i % KEYS}".encode() for i in range(600))

    processor, store, failures = _counting(cluster1, source, changelog, out, tmp_path / "a",
                                           group=f"{topic_name}-g")  # fmt: skip
    try:
        _run(processor, 300)
        failures.append(1)
        # Aborted: the store must forget what the batch did before the transform raised.
        with contextlib.suppress(RuntimeError):
            processor.step()
        _run(processor, 600)
    finally:
        processor.close()
    assert dict(store.items()) == expected
    assert processor.stats.transactions_aborted >= 1
    store.close()

    # A new machine: no local files. Everything comes back from the changelog.
    fresh = _restarted(cluster1, (source, changelog, out), tmp_path / "b", f"{topic_name}-g")
    assert dict(fresh.items()) == expected
    assert sum(r.records for r in fresh.restores) >= KEYS
    fresh.close()

    # The first machine again: its checkpoint (written at revocation) leaves nothing to read.
    kept = _restarted(cluster1, (source, changelog, out), tmp_path / "a", f"{topic_name}-g")
    assert dict(kept.items()) == expected
    assert sum(r.records for r in kept.restores) == 0
    kept.close()


def _restarted(
    cluster: LocalCluster, topics: tuple[str, str, str], path: Path, group: str
) -> ChangelogStore[int]:
    """A processor over the store in ``path``, stepped until it owns every partition
    (its store restored them), then closed; the store stays open."""
    processor, store, _ = _counting(cluster, *topics, path, group=group)
    try:
        for _ in range(20):
            processor.step()
            if store.owned == {0, 1, 2}:
                break
    finally:
        processor.close()
    return store
