"""Admin requests that ride out a KRaft controller election instead of spinning on it.

What went wrong: right after the active controller of a 3-node cluster (combined
broker+controller nodes) was killed, ``plan`` took 61 s, burned 43 s of CPU, logged
``361181 identical error(s) suppressed`` for ``Connect to ...: Connection refused`` and
failed with ``Timed out waiting for controller``. Read in librdkafka's source, the chain is:

1. librdkafka sends most admin requests (DescribeConfigs, DescribeAcls, CreateTopics,
   the SCRAM calls...) to "the controller": the ``controller_id`` of its last Metadata
   response (``rd_kafka_admin_common_get_controller``). In KRaft that id is not the
   quorum leader but a random broker the answering broker believes alive, and a killed
   node stays "alive" in every broker's metadata until the new active controller fences
   it (``broker.session.timeout.ms``, 9 s, after an election). So the id can name the
   dead node, and the waiting request never asks for new metadata: only connection
   events and the periodic refresh (``topic.metadata.refresh.interval.ms``, 5 min)
   replace the id, and until the node is fenced each answer may name it again.
2. The admin worker waits for that broker to come UP
   (``rd_kafka_broker_controller_async``), registering for every broker state change.
   With sparse connections (librdkafka's default) the lookup finds the broker in INIT
   and schedules a connection (``rd_kafka_broker_find_by_nodeid0`` with ``do_connect``);
   the CONNECT op resets the broker's reconnect time ("expedite next reconnect"), so
   ``reconnect.backoff.ms`` never applies. On loopback the connect is refused in
   microseconds, the broker goes DOWN then INIT, the state change wakes the admin worker,
   which schedules the next connection: a closed loop with no sleep in it, thousands of
   connects a second, until the request's own timeout (60 s) ends it. (The same
   expedite, paced by ``reconnect.backoff.ms / 2``, made a client of a stopped cluster
   log a refused connection about twenty times a second.)

Reproduced on the local 3-node cluster: ``plan`` right after killing the quorum leader
took 62.9 s and 45.9 s of CPU (314,566 identical errors suppressed); a bare admin
request waiting 8 s for the dead controller burned 4.7 s of CPU. With what follows, the
same wait costs no measurable CPU and ``plan`` succeeds in the time a healthy one takes,
or one short attempt more (tests/integration/reconcile/test_controller_failover.py).

What this module does about it:

- Admin clients are built with ``enable.sparse.connections=false``: every broker keeps
  its own connection and reconnects in state TRY_CONNECT, where the reconnect backoff
  (``reconnect.backoff.ms``, doubling to ``reconnect.backoff.max.ms``) is honoured and
  no lookup can expedite it. The wait for a dead controller then costs no CPU.
- :class:`ControllerWatch` keeps that controller id pointing at a live broker: before
  controller-bound requests it checks that the controller's address accepts a TCP
  connection and, while it does not, asks for fresh metadata (each answer picks a new
  random broker) instead of waiting out a request timeout.
- :func:`settle` retries what failed with a retriable error (timeouts, "not controller",
  leader or coordinator moving) with backoff, for a bounded time (30 s by default), and
  resubmits only those items: every admin write here is idempotent.
"""

from __future__ import annotations

import concurrent.futures
import logging
import socket
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, NoReturn, TypeVar

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from streamplane.errors import ClusterError
from streamplane.kafka._client_log import routed_client_logger
from streamplane.kafka._connection import ConnectionSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

#: librdkafka settings every admin client of the platform is built with (see above).
ADMIN_SETTINGS: dict[str, Any] = {
    "enable.sparse.connections": False,
    "reconnect.backoff.ms": 250,
    # A node restarted after a failover is found again within 4 s.
    "reconnect.backoff.max.ms": 4000,
    "retry.backoff.ms": 200,
    "retry.backoff.max.ms": 2000,
}
#: How long an admin call keeps retrying while the cluster elects a controller.
SETTLE_S = 30.0
#: How long each attempt of a request may take before it is retried: the first one is
#: short, because what it may be waiting for is a controller that died a moment ago (a
#: metadata refresh inside librdkafka can name it until it is fenced); later ones longer.
ATTEMPT_TIMEOUTS_S = (4.0, 8.0)

#: Errors after which the same request may succeed once the cluster has settled.
_RETRIABLE = frozenset(
    {
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._WAIT_COORD,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NOT_CONTROLLER,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.BROKER_NOT_AVAILABLE,
        KafkaError.NETWORK_EXCEPTION,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.THROTTLING_QUOTA_EXCEEDED,
    }
)


def admin_config(settings: ConnectionSettings, **extra: Any) -> dict[str, Any]:
    """The librdkafka config of an admin client: the connection, :data:`ADMIN_SETTINGS`,
    and errors only on stderr unless the program routed client logs elsewhere."""
    conf = settings.librdkafka(**ADMIN_SETTINGS)
    if routed_client_logger() is None:
        conf["log_level"] = 3
    conf.update(extra)
    return conf


def retriable(error: KafkaError) -> bool:
    """May the same request succeed a moment later (controller or leader moving)?"""
    return error.code() in _RETRIABLE or bool(error.retriable())


def accepts_connections(host: str, port: int, *, timeout_s: float = 1.0) -> bool:
    """Does something accept a TCP connection at host:port (a killed node refuses at once)?"""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


class ControllerWatch:
    """Keeps the controller id librdkafka routes admin requests to on a live broker.

    It remembers the controller's address from the last metadata this client fetched;
    before a request, one TCP connect (under a millisecond to a live broker, refused at
    once by a killed one) tells whether to fetch fresh metadata first.
    """

    def __init__(self, client: AdminClient) -> None:
        self.client = client
        #: (host, port) of the last controller seen; None: none known (librdkafka looks).
        self._controller: tuple[str, int] | None = None
        self._known = False

    def observe(self, metadata: Any) -> bool:
        """Remember ``metadata``'s controller (just fetched); True when it accepts connections."""
        broker = metadata.brokers.get(metadata.controller_id)
        self._known = True
        self._controller = (broker.host, broker.port) if broker is not None else None
        return self._alive()

    def _alive(self) -> bool:
        if self._controller is None:
            return True  # no controller id: librdkafka looks one up itself
        host, port = self._controller
        if accepts_connections(host, port):
            return True
        log.info("controller %s:%s refuses connections; refreshing metadata", host, port)
        return False

    def forget(self) -> None:
        """Distrust what was seen (a request just failed as if the controller had moved)."""
        self._known = False

    def ensure_live(self, *, deadline: float) -> None:
        """Refresh metadata until its controller accepts connections, or the deadline.

        Past the deadline the request goes out anyway, and fails with librdkafka's error.
        """
        if self._known and self._alive():
            return
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                metadata = self.client.list_topics(timeout=min(remaining, 4.0))
            except KafkaException:
                return  # no broker answers: the request itself reports it
            if self.observe(metadata):
                return
            # Each answer names a random broker the cluster believes alive; until the dead
            # node is fenced, that can be it again.
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))


def settle(
    submit: Callable[[list[T], float], dict[Any, concurrent.futures.Future[Any]]],
    items: Sequence[T],
    *,
    what: Callable[[Any], str],
    watch: ControllerWatch,
    key: Callable[[T], Hashable] = lambda item: item,
    ignore: Iterable[int] = (),
    settle_s: float = SETTLE_S,
    after_each: Callable[[], None] = lambda: None,
) -> dict[Any, Any]:
    """Submit ``items`` (one batch), resolve every future, retry retriable failures.

    ``submit`` gets the items still to do and the attempt's timeout in seconds, and
    returns librdkafka's futures keyed like ``key(item)``. An error whose code is in
    ``ignore`` counts as success (re-running an interrupted apply must converge).
    Retriable errors are retried with backoff until ``settle_s`` has passed; then every
    failure is reported in one ClusterError.
    """
    ignored = frozenset(ignore)
    deadline = time.monotonic() + settle_s
    pending = {key(item): item for item in items}
    results: dict[Any, Any] = {}
    failures: dict[Any, KafkaError] = {}
    delay = 0.25
    gave_up = False
    attempt = 0
    while pending:
        watch.ensure_live(deadline=deadline)
        timeout_s = ATTEMPT_TIMEOUTS_S[min(attempt, len(ATTEMPT_TIMEOUTS_S) - 1)]
        timeout_s = max(1.0, min(timeout_s, deadline - time.monotonic()))
        attempt += 1
        futures = submit(list(pending.values()), timeout_s)
        retry: dict[Any, KafkaError] = {}
        for name, future in futures.items():
            try:
                results[name] = future.result()
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if error.code() in ignored:
                    results[name] = None
                elif retriable(error):
                    retry[name] = error
                else:
                    failures[name] = error
        after_each()
        if not retry:
            break
        if time.monotonic() + delay >= deadline:
            failures.update(retry)
            gave_up = True
            break
        first = next(iter(retry.values()))
        log.info("%d admin request(s) failed (%s); retrying in %.2fs", len(retry), first, delay)
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
        # The controller may be what moved: look again before the next attempt.
        watch.forget()
        pending = {name: pending[name] for name in retry if name in pending}
    if failures:
        _raise(failures, what, retried_s=settle_s if gave_up else None)
    return results


def _raise(
    failures: dict[Any, KafkaError], what: Callable[[Any], str], *, retried_s: float | None
) -> NoReturn:
    """One ClusterError naming every failed item with Kafka's reason (the first 20)."""
    lines = [f"{what(name)}: {error.str()}" for name, error in failures.items()]
    shown = "\n  ".join(lines[:20])
    more = f"\n  ... and {len(lines) - 20} more" if len(lines) > 20 else ""
    tried = f" (retried for {retried_s:.0f}s; the cluster did not settle)" if retried_s else ""
    raise ClusterError(f"{len(lines)} admin operation(s) failed{tried}:\n  {shown}{more}")
