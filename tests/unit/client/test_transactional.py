"""The transactional processor's client settings, decided before any broker is reached."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from streamplane.client import ClientError, transactional
from streamplane.client.transactional import (
    Output,
    TransactionalProcessor,
    TransactionError,
    TransactionFencedError,
    TransactionSettings,
    _consumer_config,
    _is_cooperative,
    _is_fenced,
    _producer_config,
)
from streamplane.kafka import ConnectionSettings, ProfileError

CONN = ConnectionSettings(bootstrap_servers="127.0.0.1:1", username="app", password="secret")


def test_consumer_reads_committed_with_the_zero_loss_profile_and_its_group() -> None:
    config = _consumer_config(CONN, group="pay.authorizer", overrides=None, owner="authorizer")
    assert config["group.id"] == "pay.authorizer"
    assert config["isolation.level"] == "read_committed"
    assert config["enable.auto.commit"] is False
    assert config["sasl.username"] == "app"
    assert _is_cooperative(config)


def test_consumer_refuses_to_read_uncommitted() -> None:
    with pytest.raises(TransactionError, match="read_committed"):
        _consumer_config(
            CONN, group="g", overrides={"isolation.level": "read_uncommitted"}, owner="authorizer"
        )


def test_consumer_overrides_that_break_zero_loss_are_refused() -> None:
    with pytest.raises(ProfileError, match=r"enable\.auto\.commit"):
        _consumer_config(CONN, group="g", overrides={"enable.auto.commit": True}, owner="x")


def test_producer_is_transactional_and_its_transaction_outlives_its_deliveries() -> None:
    config = _producer_config(CONN, transactional_id="pay.authorizer-0", overrides=None, owner="x")
    assert config["transactional.id"] == "pay.authorizer-0"
    assert config["acks"] == "all" and config["enable.idempotence"] is True
    # librdkafka refuses a delivery timeout longer than the transaction timeout.
    assert config["transaction.timeout.ms"] >= config["delivery.timeout.ms"]


def test_producer_keeps_an_explicit_transaction_timeout() -> None:
    config = _producer_config(
        CONN,
        transactional_id="t",
        overrides={"transaction.timeout.ms": 300_000},
        owner="x",
    )
    assert config["transaction.timeout.ms"] == 300_000


def test_transactional_id_is_an_argument_not_an_override() -> None:
    with pytest.raises(TransactionError, match="transactional_id="):
        _producer_config(CONN, transactional_id="t", overrides={"transactional.id": "u"}, owner="x")


def test_producer_overrides_that_break_zero_loss_are_refused() -> None:
    with pytest.raises(ProfileError, match="acks=1"):
        _producer_config(CONN, transactional_id="t", overrides={"acks": 1}, owner="x")


def test_fencing_errors_are_recognised() -> None:
    assert _is_fenced(KafkaError(KafkaError._FENCED))
    assert _is_fenced(KafkaError(KafkaError.PRODUCER_FENCED))
    assert not _is_fenced(KafkaError(KafkaError._TIMED_OUT))


def test_eager_assignment_is_not_cooperative() -> None:
    assert not _is_cooperative({"partition.assignment.strategy": "range"})
    assert _is_cooperative({"group.protocol": "consumer"})


# ------------------------------------------------- the loop, on fake clients
class FakeProducer:
    """Records the transactional calls; ``failures`` maps a call to errors to raise, in order."""

    created: ClassVar[list[FakeProducer]] = []

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.calls: list[str] = []
        self.produced: list[tuple[str, Any, Any]] = []
        self.failures: dict[str, list[KafkaError]] = {}
        FakeProducer.created.append(self)

    def _call(self, name: str) -> None:
        self.calls.append(name)
        pending = self.failures.get(name)
        if pending:
            raise KafkaException(pending.pop(0))

    def init_transactions(self, timeout: float) -> None:
        self._call("init")

    def begin_transaction(self) -> None:
        self._call("begin")

    def produce(self, topic: str, value: Any, key: Any, **_: Any) -> None:
        self.produced.append((topic, key, value))

    def send_offsets_to_transaction(self, positions: Any, metadata: Any, timeout: float) -> None:
        self._call("send_offsets")
        self.offsets = [(tp.topic, tp.partition, tp.offset) for tp in positions]

    def commit_transaction(self, timeout: float) -> None:
        self._call("commit")

    def abort_transaction(self, timeout: float) -> None:
        self._call("abort")

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0


class FakeConsumer:
    def __init__(self, config: dict[str, Any]) -> None:
        self.batches: list[list[Message]] = []
        self.seeks: list[tuple[str, int, int]] = []
        self.committed_offsets: dict[tuple[str, int], int] = {}

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.callbacks = callbacks

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        return self.batches.pop(0) if self.batches else []

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, 100 + tp.partition) for tp in partitions]

    def consumer_group_metadata(self) -> object:
        return object()

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [
            TopicPartition(
                tp.topic, tp.partition, self.committed_offsets.get((tp.topic, tp.partition), -1001)
            )
            for tp in partitions
        ]

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition("in", p) for p in range(4)]

    def seek(self, tp: TopicPartition) -> None:
        self.seeks.append((tp.topic, tp.partition, tp.offset))

    def close(self) -> None:
        pass


@pytest.fixture
def processor(monkeypatch: pytest.MonkeyPatch) -> TransactionalProcessor:
    monkeypatch.setattr(transactional, "Producer", FakeProducer)
    monkeypatch.setattr(transactional, "Consumer", FakeConsumer)
    FakeProducer.created = []

    def copy(batch: list[Message]) -> list[Output]:
        return [Output(topic="out", key=m.key(), value=m.value()) for m in batch]

    return TransactionalProcessor(
        ["in"],
        group="g",
        transactional_id="t-0",
        transform=copy,
        connection=CONN,
        settings=TransactionSettings(max_records=10, commit_interval_s=60, operation_timeout_s=5),
    )


def _batch(*offsets: int, partition: int = 0) -> list[Message]:
    return [
        Message(topic="in", partition=partition, offset=o, key=b"k", value=f"v{o}".encode())
        for o in offsets
    ]


def _fakes(processor: TransactionalProcessor) -> tuple[FakeProducer, FakeConsumer]:
    return processor._producer, processor._consumer  # type: ignore[return-value]


def test_a_full_batch_commits_outputs_and_positions_in_one_transaction(
    processor: TransactionalProcessor,
) -> None:
    producer, consumer = _fakes(processor)
    consumer.batches = [_batch(*range(6)) + _batch(7, 8, 9, 10, partition=1)]
    assert processor.step() == 10
    assert producer.calls == ["init", "begin", "send_offsets", "commit"]
    assert producer.offsets == [("in", 0, 100), ("in", 1, 101)]
    assert len(producer.produced) == 10
    assert processor.stats.transactions_committed == 1


def test_an_idle_poll_commits_the_open_transaction(processor: TransactionalProcessor) -> None:
    producer, consumer = _fakes(processor)
    consumer.batches = [_batch(0, 1), []]
    assert processor.step() == 0  # below max_records, interval not reached: still open
    assert processor.step() == 2
    assert producer.calls[-2:] == ["send_offsets", "commit"]


def test_a_retriable_commit_is_repeated(processor: TransactionalProcessor) -> None:
    producer, consumer = _fakes(processor)
    producer.failures["commit"] = [KafkaError(KafkaError._TIMED_OUT, retriable=True)]
    consumer.batches = [_batch(*range(10))]
    assert processor.step() == 10
    assert producer.calls == ["init", "begin", "send_offsets", "commit", "commit"]


def test_an_abortable_error_aborts_and_rereads_the_batch(processor: TransactionalProcessor) -> None:
    producer, consumer = _fakes(processor)
    producer.failures["send_offsets"] = [
        KafkaError(KafkaError.ILLEGAL_GENERATION, txn_requires_abort=True)
    ]
    consumer.batches = [_batch(*range(4, 10)) + _batch(20, 21, 22, 23, partition=2)]
    assert processor.step() == 0
    assert producer.calls[-2:] == ["send_offsets", "abort"]
    assert consumer.seeks == [("in", 0, 4), ("in", 2, 20)]
    assert processor.stats.transactions_aborted == 1
    assert processor._txn is None


def test_a_fenced_producer_is_replaced_and_reading_resumes_from_the_committed_offsets(
    processor: TransactionalProcessor,
) -> None:
    producer, consumer = _fakes(processor)
    producer.failures["commit"] = [KafkaError(KafkaError._FENCED, fatal=True)]
    consumer.committed_offsets = {("in", 0): 7}  # partition 1 never committed
    consumer.batches = [_batch(*range(7, 13)) + _batch(3, 4, 5, 6, partition=1)]
    assert processor.step() == 0
    assert len(FakeProducer.created) == 2 and FakeProducer.created[1].calls == ["init"]
    assert "abort" not in producer.calls  # a fenced producer cannot abort
    assert consumer.seeks == [("in", 0, 7), ("in", 1, 3)]
    assert processor.stats.producer_restarts == 1


def test_fenced_again_and_again_means_a_twin_instance_and_stops(
    processor: TransactionalProcessor,
) -> None:
    processor.settings = TransactionSettings(
        max_records=1, max_fenced_restarts=1, operation_timeout_s=5
    )
    for offset in (0, 1):
        producer, consumer = _fakes(processor)
        producer.failures["commit"] = [KafkaError(KafkaError.PRODUCER_FENCED, fatal=True)]
        consumer.batches = [_batch(offset)]
        if offset == 0:
            processor.step()  # fenced once: replaced
    with pytest.raises(TransactionFencedError, match="same transactional id"):
        processor.step()  # fenced again before any commit: another live instance
    with pytest.raises(TransactionError, match="cannot continue safely"):
        processor.step()


def test_a_failing_transform_aborts_and_rewinds_then_raises(
    processor: TransactionalProcessor,
) -> None:
    producer, consumer = _fakes(processor)

    def broken(batch: list[Message]) -> list[Output]:
        raise ValueError("bad record")

    processor.transform = broken
    consumer.batches = [_batch(5, 6)]
    with pytest.raises(ValueError, match="bad record"):
        processor.step()
    assert producer.calls[-1] == "abort"
    assert consumer.seeks == [("in", 0, 5)]


# ------------------------------------------------- the listener: state beside Kafka
class Heard(transactional.TransactionListener):
    def __init__(self) -> None:
        self.events: list[str] = []

    def on_assigned(self, partitions: list[TopicPartition]) -> None:
        self.events.append(f"assigned {[tp.partition for tp in partitions]}")

    def on_committed(self) -> None:
        self.events.append("committed")

    def on_aborted(self, *, certain: bool) -> None:
        self.events.append(f"aborted certain={certain}")

    def on_revoked(self, partitions: list[TopicPartition]) -> None:
        self.events.append(f"revoked {[tp.partition for tp in partitions]}")


def test_the_listener_hears_commits_aborts_and_rebalances_in_order(
    processor: TransactionalProcessor,
) -> None:
    heard = processor.listener = Heard()
    producer, consumer = _fakes(processor)
    consumer.callbacks["on_assign"](consumer, [TopicPartition("in", 0), TopicPartition("in", 1)])
    consumer.batches = [_batch(*range(10))]
    processor.step()
    producer.failures["send_offsets"] = [
        KafkaError(KafkaError.ILLEGAL_GENERATION, txn_requires_abort=True)
    ]
    consumer.batches = [_batch(*range(10, 20))]
    processor.step()
    consumer.batches = [_batch(20, 21)]
    processor.step()  # open, not due yet
    consumer.callbacks["on_revoke"](consumer, [TopicPartition("in", 1)])
    assert heard.events == [
        "assigned [0, 1]", "committed", "aborted certain=True", "committed", "revoked [1]",
    ]  # fmt: skip


def test_an_unknown_outcome_tells_the_listener_it_is_not_certain(
    processor: TransactionalProcessor,
) -> None:
    heard = processor.listener = Heard()
    producer, consumer = _fakes(processor)
    producer.failures["commit"] = [KafkaError(KafkaError._FENCED, fatal=True)]
    consumer.batches = [_batch(*range(10))]
    processor.step()
    assert heard.events == ["aborted certain=False"]
    consumer.callbacks["on_lost"](consumer, [TopicPartition("in", 0)])
    assert heard.events[-1] == "revoked [0]"


def test_for_application_needs_a_transactional_application(tmp_path: Any) -> None:
    from tests.unit.client.specs import write_spec

    spec = write_spec(tmp_path)
    with pytest.raises(ClientError, match=r"not declared transactional.*transactional: true"):
        TransactionalProcessor.for_application(spec, "checkout", transform=lambda b: [])
    with pytest.raises(ClientError, match="no application 'nobody'"):
        TransactionalProcessor.for_application(spec, "nobody", transform=lambda b: [])
