"""Where the Kafka client libraries' own log lines go.

librdkafka writes its log lines (``%3|...|FAIL|...: Connect to ipv4#127.0.0.1:9092 failed:
Connection refused``) straight to stderr, about twenty a second while no broker answers;
kafka-python logs through :mod:`logging` under ``kafka``. A program that shows people one
clear line per failure (the CLI) calls :func:`route_client_logs` once at start-up: every
client built from :meth:`ConnectionSettings.librdkafka` then hands its lines to the
``streamplane.kafka.client`` logger (confluent-kafka's ``logger`` setting), kafka-python's
go to the same handler, and the handler decides where they end up (a file, or stderr
when debugging). Nothing propagates to the root logger, so a service that logs to stderr
keeps its own output.

Applications using the SDK never call it and keep each library's default behaviour.

confluent-kafka hands a client's log lines to the logger when the client is polled;
``ClusterAdmin`` polls after each request so its lines reach the handler too.
"""

from __future__ import annotations

import logging

#: The logger librdkafka's lines are routed to.
CLIENT_LOGGER = "streamplane.kafka.client"
#: kafka-python's own logger (used for the admin calls librdkafka lacks).
KAFKA_PYTHON_LOGGER = "kafka"

_routed: logging.Logger | None = None


def route_client_logs(handler: logging.Handler, *, level: int = logging.INFO) -> logging.Logger:
    """Send both client libraries' log lines to ``handler``, and only there.

    Returns the logger clients are given; calling again replaces the previous handler.
    """
    global _routed
    for name in (CLIENT_LOGGER, KAFKA_PYTHON_LOGGER):
        target = logging.getLogger(name)
        for old in list(target.handlers):
            target.removeHandler(old)
        target.addHandler(handler)
        target.setLevel(level)
        target.propagate = False
    _routed = logging.getLogger(CLIENT_LOGGER)
    return _routed


def routed_client_logger() -> logging.Logger | None:
    """The logger librdkafka clients log to, once :func:`route_client_logs` was called."""
    return _routed
