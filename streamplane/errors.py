"""The one exception tree of Streamplane.

    StreamplaneError            root: catch this to handle anything the platform raises
    ├── SpecError               the spec is invalid; carries every issue with file:line:column
    ├── PlanError               a plan cannot be made or applied (refused change, stale saved plan)
    ├── RegistryError           a schema registry request failed; carries Confluent's error_code
    ├── ProfileError            a client configuration breaks its profile's guarantee
    ├── ClientError             the client SDK refused or failed a record (streamplane.client)
    │   ├── SchemaViolation     a value does not match its topic's declared schema
    │   ├── DeliveryError       records the broker did not acknowledge, each with its reason
    │   ├── DeadLetterError     a poison pill could not be parked; the consumer stopped
    │   ├── TransactionError    consume-transform-produce could not commit (Fenced: replaced)
    │   └── SinkError           the idempotent sink could not store a batch
    ├── SecurityError           a security service (KMS, PKI, identity) could not do what was asked
    │   └── KmsError            a KMS refused or failed to wrap or unwrap a key
    └── ClusterError            the local runtime or a live cluster cannot do what was asked
        ├── JavaRuntimeError    no usable Java (missing, or older than Kafka needs)
        ├── FetchError          the Kafka jars could not be resolved
        ├── PortInUseError      a port the cluster needs is taken
        ├── DataDirError        the data directory belongs to another cluster or shape
        ├── AlreadyRunningError a cluster is already running from this data directory
        ├── NodeStartError      a node died or did not become ready in time
        └── ClusterUnreachableError  no broker of the cluster answers (down, or wrong address)

Every message says what was wrong, where, and what to do; the CLI prints it as is.
"""

from __future__ import annotations

from dataclasses import dataclass


class StreamplaneError(Exception):
    """Root of every error Streamplane raises on purpose."""


@dataclass(frozen=True)
class SpecIssue:
    """One problem in the spec, located precisely enough for an editor to jump to it."""

    file: str
    line: int
    column: int
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text


class SpecError(StreamplaneError):
    """The spec is invalid. All issues are collected.

    ``outcome`` says what the failure meant for the command that loaded the spec, when it
    meant something ("nothing was applied" for ``apply``); ``lint`` or ``check`` add none,
    since they were never going to change anything.
    """

    def __init__(self, issues: list[SpecIssue], *, outcome: str | None = None) -> None:
        self.issues = sorted(issues, key=lambda i: (i.file, i.line, i.column))
        self.outcome = outcome
        count = len(self.issues)
        then = f"; {outcome}" if outcome else ""
        super().__init__(
            f"the spec has {count} error{'s' if count != 1 else ''}{then}:\n"
            + "\n".join(str(i) for i in self.issues)
        )

    def with_outcome(self, outcome: str) -> SpecError:
        """The same issues, saying what the failure meant for the command (see above)."""
        return SpecError(self.issues, outcome=outcome)


class PlanError(StreamplaneError):
    """A plan cannot be computed or applied as asked."""


class RegistryError(StreamplaneError):
    """A registry request failed, with the HTTP status and Confluent error code clients expect."""

    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


class SecurityError(StreamplaneError):
    """A security service (KMS, PKI, identity provider) could not do what was asked."""


class KmsError(SecurityError):
    """A key management service refused or failed to encrypt or decrypt a key."""


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


class ClusterUnreachableError(ClusterError):
    """No broker of the cluster answered within the probe's bounded time.

    Raised before a command starts its real work, so it fails in seconds with one line
    naming the cluster, its bootstrap servers and what to do, not after every admin
    request has timed out.
    """

    def __init__(self, message: str, *, cluster: str, bootstrap_servers: str) -> None:
        super().__init__(message)
        self.cluster = cluster
        self.bootstrap_servers = bootstrap_servers
