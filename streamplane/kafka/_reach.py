"""Does any broker of a cluster answer? Asked in bounded time, before a command does its work.

Without this, a command against a stopped cluster waited out librdkafka's request
timeouts (a minute for ``plan``) while librdkafka printed a line per connection attempt.
The probe answers in well under :data:`PROBE_TIMEOUT_S` in two steps sharing one deadline:

1. A TCP connection to every bootstrap address at once. A stopped cluster refuses at
   once; an unknown host or a filtered port shows here too, without any client library.
2. One Metadata request through librdkafka to the brokers that accepted. It proves a
   broker serves requests, and that it accepts the credentials: SASL comes first, and an
   authentication failure ends the probe as soon as librdkafka reports it.

:func:`require_reachable` turns a failed probe into one :class:`ClusterUnreachableError`
line: the cluster's name, its bootstrap servers, what was seen, and what to do.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from streamplane.errors import ClusterUnreachableError
from streamplane.kafka._connection import ConnectionSettings
from streamplane.kafka._failover import admin_config

#: The whole probe's budget: commands fail within ~5 s when no broker answers.
PROBE_TIMEOUT_S = 4.0
#: Kafka's port when a bootstrap address names none.
_DEFAULT_PORT = 9092


@dataclass(frozen=True)
class Unanswered:
    """Why no broker answered the probe."""

    reason: str
    #: The brokers answered but refused the credentials: the fix is not to start anything.
    credentials_refused: bool = False


def bootstrap_addresses(bootstrap_servers: str) -> list[tuple[str, int]]:
    """``host:port`` pairs of a bootstrap list (``SASL_SSL://h:9093``, ``[::1]:9092``, ``h``)."""
    addresses = []
    for entry in bootstrap_servers.split(","):
        text = entry.strip()
        if not text:
            continue
        text = text.split("://", 1)[-1]
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port = rest.lstrip(":")
        else:
            host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
        addresses.append((host, int(port) if port.isdigit() else _DEFAULT_PORT))
    return addresses


def probe(settings: ConnectionSettings, *, timeout_s: float = PROBE_TIMEOUT_S) -> Unanswered | None:
    """None when a broker answered a Metadata request in time; else why not."""
    deadline = time.monotonic() + timeout_s
    addresses = bootstrap_addresses(settings.bootstrap_servers)
    if not addresses:
        return Unanswered("has no bootstrap servers")
    accepted, problems = _tcp_connect_any(addresses, deadline=deadline)
    if not accepted:
        return Unanswered(_summary(problems, timeout_s))
    return _metadata(
        settings.with_bootstrap(",".join(accepted)), deadline=deadline, timeout_s=timeout_s
    )


def require_reachable(
    settings: ConnectionSettings,
    *,
    cluster: str,
    fix: str,
    credentials: str | None = None,
    timeout_s: float = PROBE_TIMEOUT_S,
) -> None:
    """Raise one ClusterUnreachableError line unless a broker of ``cluster`` answers.

    ``cluster`` names it as people know it ("cluster prod", "the local cluster in
    .streamplane"); ``fix`` says what to do when nothing answers; ``credentials`` where
    the credentials come from, for when the brokers refuse them.
    """
    found = probe(settings, timeout_s=timeout_s)
    if found is None:
        return
    if found.credentials_refused:
        user = f" of {settings.username}" if settings.username else ""
        where = f"; check the credentials{user} ({credentials})" if credentials else ""
        message = f"{cluster} ({settings.bootstrap_servers}) {found.reason}{where}"
    else:
        message = f"{cluster} ({settings.bootstrap_servers}) {found.reason}; {fix}"
    raise ClusterUnreachableError(
        message, cluster=cluster, bootstrap_servers=settings.bootstrap_servers
    )


def _tcp_connect_any(
    addresses: list[tuple[str, int]], *, deadline: float
) -> tuple[list[str], dict[str, str]]:
    """Connect to every address in parallel; the ones that accepted, and why the others did not.

    Returns at the first acceptance (the rest of the budget is the metadata request's), or
    when every address failed. Daemon threads: a name lookup stuck past the deadline never
    delays the program's exit.
    """
    accepted: list[str] = []
    problems: dict[str, str] = {}
    lock = threading.Lock()
    done = threading.Event()

    def attempt(host: str, port: int) -> None:
        name = _address(host, port)
        try:
            with socket.create_connection(
                (host, port), timeout=max(0.1, deadline - time.monotonic())
            ):
                outcome = None
        except socket.gaierror:
            outcome = f"cannot resolve host {host}"
        except ConnectionRefusedError:
            outcome = "refused"
        except TimeoutError:
            outcome = "timeout"
        except OSError as exc:
            outcome = exc.strerror or str(exc)
        with lock:
            if outcome is None:
                accepted.append(name)
            else:
                problems[name] = outcome
            if accepted or len(problems) == len(addresses):
                done.set()

    for host, port in addresses:
        threading.Thread(target=attempt, args=(host, port), daemon=True).start()
    done.wait(max(0.0, deadline - time.monotonic()))
    with lock:
        for host, port in addresses:
            name = _address(host, port)
            if name not in accepted and name not in problems:
                problems[name] = "timeout"
        return list(accepted), dict(problems)


def _address(host: str, port: int) -> str:
    """``host:port`` as a bootstrap list writes it (an IPv6 host in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _summary(problems: dict[str, str], timeout_s: float) -> str:
    """One phrase for why no address accepted a connection."""
    kinds = set(problems.values())
    if kinds == {"refused"}:
        return "refuses connections: no broker is listening there"
    if kinds == {"timeout"}:
        return f"did not accept a connection within {timeout_s:g}s"
    return "cannot be reached: " + ", ".join(
        f"{address} {'refused the connection' if why == 'refused' else why}"
        for address, why in sorted(problems.items())
    )


def _metadata(
    settings: ConnectionSettings, *, deadline: float, timeout_s: float
) -> Unanswered | None:
    """Ask for metadata in short slices, so a refused login ends the wait at once."""
    auth_errors: list[KafkaError] = []

    def on_error(error: KafkaError) -> None:
        if error.code() in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
            auth_errors.append(error)

    try:
        client = AdminClient(
            admin_config(
                settings,
                error_cb=on_error,
                # Half the budget: a broker that accepts but never answers is reported (in
                # the client log) and tried once more within it.
                **{"socket.connection.setup.timeout.ms": max(1000, int(timeout_s * 500))},
            )
        )
    except KafkaException as exc:
        # The connection settings themselves are wrong (e.g. SASL without a username).
        return Unanswered(f"cannot be asked: {exc.args[0].str()}", credentials_refused=True)
    last: KafkaError | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            client.list_topics(timeout=min(0.5, remaining))
            return None
        except KafkaException as exc:
            last = exc.args[0]
        finally:
            client.poll(0)  # serves error_cb and hands queued log lines to the routed logger
        if auth_errors:
            return Unanswered(
                f"refused the login: {_without_broker_prefix(auth_errors[0].str())}",
                credentials_refused=True,
            )
    detail = f" ({last.str()})" if last is not None else ""
    return Unanswered(
        f"accepts connections but answered no metadata request within {timeout_s:g}s{detail}"
    )


def _without_broker_prefix(text: str) -> str:
    """librdkafka's ``sasl_ssl://h:9093/bootstrap: SASL ... (after 9ms in state AUTH_REQ)``
    without the broker's name and the timing: the message says which cluster already."""
    head, sep, rest = text.partition(": ")
    text = rest if sep and "://" in head else text
    return re.sub(r" \(after \d+ms in state [A-Z_]+\)$", "", text)
