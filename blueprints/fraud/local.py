"""The blueprint on a local cluster: bring it up, run its processes, read its decisions.

``make fraud``, the blueprint's integration tests and its benchmark all go through this:
``streamplane up`` and ``streamplane apply`` of ``blueprints/fraud/spec`` into a data
directory of its own (beside the example estate, on its own ports), the scorers and the
profiler as processes (``python -m blueprints.fraud``, so a kill -9 kills a real
instance), and a ``read_committed`` reader of the decisions connected as the
``card-authorizer`` application, as a payment switch waiting for its answer would be.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from blueprints._local import LocalBlueprint
from blueprints.fraud.features import millis
from blueprints.fraud.gateway import publish
from blueprints.fraud.generator import Transaction
from streamplane.client import ApplicationCodec, ApplicationScope, application_connection
from streamplane.model import Spec

SPEC_DIR = Path(__file__).parent / "spec"
DECISIONS = "risk.fraud.decision.v1"
FEATURES_TOPIC = "risk.fraud.features"


@dataclass
class Decided:
    """A decision as its reader saw it."""

    record: dict[str, Any]
    #: Wall-clock seconds when the reader got it.
    read_at: float

    @property
    def latency_ms(self) -> float:
        """Transaction produced -> decision readable."""
        return self.read_at * 1000 - millis(self.record["transaction_timestamp"])


@dataclass
class DecisionReader:
    """Reads every decision (read_committed) on a thread of its own, from the beginning."""

    spec: Spec
    data_dir: Path
    app: str = "card-authorizer"
    #: (value, read at): decoded only when asked for, so the reading thread does nothing
    #: but read (decoding would add to the latency it measures).
    raw: list[tuple[bytes, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        resolved = application_connection(self.spec, self.app, data_dir=self.data_dir)
        self.codec = ApplicationCodec.for_application(
            self.spec, ApplicationScope.of(self.spec, self.app), resolved.registry
        )
        self.consumer = Consumer(
            resolved.connection.librdkafka(
                **{
                    "group.id": self.spec.applications[self.app].consumer_group,
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                    "fetch.wait.max.ms": 5,
                    "log_level": 3,
                }
            )
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="decisions", daemon=True)

    def start(self, *, from_end: bool = False) -> DecisionReader:
        metadata = self.consumer.list_topics(DECISIONS, timeout=30)
        partitions = sorted(metadata.topics[DECISIONS].partitions)
        self.consumer.assign(
            [TopicPartition(DECISIONS, p, -1 if from_end else -2) for p in partitions]
        )
        self._thread.start()
        return self

    def _read(self) -> None:
        while not self._stop.is_set():
            # One record or 50 ms, then whatever else is there: a batch call alone waits
            # for a full batch (or its timeout), which a latency reader cannot afford.
            messages = self.consumer.consume(1, 0.05)
            now = time.time()
            for message in messages + self.consumer.consume(1000, 0):
                value = message.value()
                if message.error() is None and value is not None:
                    self.raw.append((value, now))

    def decided(self) -> list[Decided]:
        """Every decision read so far, decoded."""
        return [Decided(self.codec.decode(DECISIONS, v), at) for v, at in list(self.raw)]

    def wait_for(self, count: int, *, timeout_s: float) -> list[Decided]:
        deadline = time.monotonic() + timeout_s
        while len(self.raw) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.raw)} of {count} decisions in {timeout_s}s")
            time.sleep(0.05)
        return self.decided()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.consumer.close()


class LocalFraud(LocalBlueprint):
    """The fraud blueprint's estate in ``data_dir`` on ports shifted by ``port_offset``."""

    module = "blueprints.fraud"

    def __init__(self, data_dir: Path, *, port_offset: int, spec_dir: Path = SPEC_DIR) -> None:
        super().__init__(data_dir, port_offset=port_offset, spec_dir=spec_dir)

    def status_file(self, instance: int) -> Path:
        return self.data_dir / "fraud" / f"scorer-{instance}.json"

    def start_scorer(self, instance: int, *, wait: bool = True) -> subprocess.Popen[bytes]:
        status = self.status_file(instance)
        status.parent.mkdir(parents=True, exist_ok=True)
        status.unlink(missing_ok=True)
        process = self.start(
            f"scorer-{instance}", "score", "--instance", str(instance), "--status-file",
            str(status),
        )  # fmt: skip
        if wait:
            self.wait(lambda: status.exists() and bool(self.status(instance)["owned"]),
                      f"scorer {instance} owning partitions", process=process)  # fmt: skip
        return process

    def start_profiler(self) -> subprocess.Popen[bytes]:
        return self.start("profiler", "profile")

    def status(self, instance: int) -> dict[str, Any]:
        try:
            found: dict[str, Any] = json.loads(self.status_file(instance).read_text())
        except (OSError, ValueError):
            return {}
        return found

    # ------------------------------------------------------------------ data
    def publish(self, transactions: Iterable[Transaction], *, rate: float | None = None) -> int:
        return publish(self.spec, transactions, rate=rate, data_dir=self.data_dir)

    def reader(self, *, from_end: bool = False) -> DecisionReader:
        return DecisionReader(self.spec, self.data_dir).start(from_end=from_end)
