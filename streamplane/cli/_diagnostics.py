"""Where the CLI sends the Kafka client libraries' own log lines, and its debug switch.

People read one line per failure. librdkafka's lines (``%3|...|FAIL|... Connection
refused``, twenty a second while a broker is away) and kafka-python's go to a log file:
``$STREAMPLANE_CLIENT_LOG``, else ``client.log`` under ``$XDG_STATE_HOME/streamplane``
(``~/.local/state/streamplane/client.log``). With ``STREAMPLANE_DEBUG=1`` they go to stderr
instead, and a Kafka error no command turned into a sentence shows its traceback.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

from streamplane.kafka import route_client_logs

DEBUG_ENV = "STREAMPLANE_DEBUG"
LOG_ENV = "STREAMPLANE_CLIENT_LOG"
#: The log file is rotated at this size, one old file kept.
_MAX_BYTES = 5_000_000


def debugging() -> bool:
    """Is ``STREAMPLANE_DEBUG`` set to something other than empty, 0 or false?"""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def client_log_path() -> Path:
    """The file the client libraries' lines go to when not debugging."""
    explicit = os.environ.get(LOG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "streamplane" / "client.log"


def route_cli_client_logs() -> None:
    """Route both client libraries' log lines for this CLI process (see the module doc)."""
    handler: logging.Handler
    if debugging():
        handler = logging.StreamHandler()
        level = logging.DEBUG
    else:
        path = client_log_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # delay: the file is only opened when a line is written.
            handler = logging.handlers.RotatingFileHandler(
                path, maxBytes=_MAX_BYTES, backupCount=1, delay=True, encoding="utf-8"
            )
        except OSError:
            # Nowhere to write (read-only home): drop the lines rather than print them.
            handler = logging.NullHandler()
        level = logging.INFO
    handler.setFormatter(
        logging.Formatter("%(asctime)s pid=%(process)d %(name)s %(levelname)s %(message)s")
    )
    route_client_logs(handler, level=level)


def kafka_error_text(exc: BaseException) -> str:
    """A client library's exception as one phrase: librdkafka's error string, or the name
    and message of kafka-python's error."""
    first = exc.args[0] if exc.args else None
    describe = getattr(first, "str", None)
    if callable(describe):
        return str(describe())
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
