"""The one exception tree of Streamplane.

    StreamplaneError            root: catch this to handle anything the platform raises
    └── ClusterError            the local runtime or a live cluster cannot do what was asked
        ├── JavaRuntimeError    no usable Java (missing, or older than Kafka needs)
        ├── FetchError          the Kafka jars could not be resolved
        ├── PortInUseError      a port the cluster needs is taken
        ├── DataDirError        the data directory belongs to another cluster or shape
        ├── AlreadyRunningError a cluster is already running from this data directory
        └── NodeStartError      a node died or did not become ready in time

Every message says what was wrong, where, and what to do; the CLI prints it as is.
"""

from __future__ import annotations


class StreamplaneError(Exception):
    """Root of every error Streamplane raises on purpose."""


class ClusterError(StreamplaneError):
    """The local runtime or a live cluster cannot do what was asked."""


class JavaRuntimeError(ClusterError):
    """No Java 17+ runtime could be found."""


class FetchError(ClusterError):
    """Maven could not resolve the pinned Kafka artifacts."""


class PortInUseError(ClusterError):
    """A port the local cluster needs is already bound by another process."""

    def __init__(self, message: str, *, port: int, pid: int | None = None) -> None:
        super().__init__(message)
        self.port = port
        self.pid = pid


class DataDirError(ClusterError):
    """The data directory holds state that does not belong to the cluster being started."""


class AlreadyRunningError(ClusterError):
    """A cluster is already running from this data directory."""


class NodeStartError(ClusterError):
    """A node exited during start-up or did not become ready within the deadline."""

    def __init__(self, message: str, *, node_id: int, log_tail: str = "") -> None:
        super().__init__(message)
        self.node_id = node_id
        self.log_tail = log_tail
