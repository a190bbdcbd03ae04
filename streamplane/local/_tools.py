"""Kafka's own command-line tools, run from the cached jars with a cluster's connection.

Kafka ships each tool as a shell script (``bin/kafka-topics.sh`` ...) that runs one main
class through ``kafka-run-class.sh``. The jars Streamplane caches hold the same classes,
so a tool runs here as ``java -cp <jars> <main class> ARGS``, under the name of its
script without ``.sh``. The connection is added to the arguments unless the user gave
their own: ``--bootstrap-server`` and ``--command-config`` (every 4.x tool reads its
client properties from ``--command-config``; the older names such as
``--consumer.config`` still count as the user's own). The properties file is the
Java-client form of the connection, written 0600 to a private temporary directory for
the life of the tool.

Where the connection goes matters for tools built on argparse4j: options of the tool
itself precede its sub-command (``kafka-transactions --bootstrap-server X list``), while
``kafka-cluster`` takes them after its sub-command (``kafka-cluster cluster-id
--bootstrap-server X``).
"""

from __future__ import annotations

import difflib
import os
import shlex
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Literal

from streamplane.errors import ClusterError
from streamplane.kafka import ConnectionSettings
from streamplane.local._fetch import KafkaRuntime, package_file
from streamplane.local._java import JavaRuntime

Placement = Literal["front", "after-subcommand", "none"]

#: Options through which a user names their own client properties (current and deprecated).
CONFIG_OPTIONS = (
    "--command-config",
    "--consumer.config",
    "--producer.config",
    "--admin.config",
    "--config-file",
)
BOOTSTRAP_OPTIONS = ("--bootstrap-server", "--bootstrap-controller")

#: Kafka's default heap for its tools (kafka-run-class.sh), unless KAFKA_HEAP_OPTS says otherwise.
DEFAULT_HEAP_OPTS = "-Xmx256M"


@dataclass(frozen=True)
class KafkaTool:
    """One of Kafka's scripts: the main class it runs and where the connection goes."""

    name: str
    main_class: str
    summary: str
    placement: Placement = "front"
    #: Options that name the tool's own config file (``kafka-cluster`` also reads ``--config``).
    config_options: tuple[str, ...] = CONFIG_OPTIONS


_T = "org.apache.kafka.tools."

#: The tools of Kafka 4.4 that talk to a cluster, by script name (checked against the jars
#: by tests/unit/local/test_tools.py), plus kafka-dump-log, which reads segment files.
TOOLS: dict[str, KafkaTool] = {
    tool.name: tool
    for tool in (
        KafkaTool("kafka-topics", _T + "TopicCommand", "create, list, describe, alter topics"),
        KafkaTool("kafka-configs", _T + "ConfigCommand", "describe and alter configs and quotas"),
        KafkaTool(
            "kafka-consumer-groups",
            _T + "consumer.group.ConsumerGroupCommand",
            "list, describe, reset offsets of consumer groups",
        ),
        KafkaTool("kafka-groups", _T + "GroupsCommand", "list groups of every type"),
        KafkaTool("kafka-share-groups", _T + "consumer.group.ShareGroupCommand", "share groups"),
        KafkaTool(
            "kafka-streams-groups", _T + "streams.StreamsGroupCommand", "Kafka Streams groups"
        ),
        KafkaTool("kafka-acls", _T + "AclCommand", "list, add, remove ACLs"),
        KafkaTool(
            "kafka-reassign-partitions",
            _T + "reassign.ReassignPartitionsCommand",
            "move partitions, change replication factors",
        ),
        KafkaTool(
            "kafka-transactions", _T + "TransactionsCommand", "list, describe, abort transactions"
        ),
        KafkaTool(
            "kafka-console-consumer",
            _T + "consumer.ConsoleConsumer",
            "read records to stdout",
        ),
        KafkaTool(
            "kafka-console-share-consumer",
            _T + "consumer.ConsoleShareConsumer",
            "read records through a share group",
        ),
        KafkaTool("kafka-console-producer", _T + "ConsoleProducer", "write stdin lines as records"),
        KafkaTool("kafka-get-offsets", _T + "GetOffsetShell", "offsets of topic partitions"),
        KafkaTool("kafka-log-dirs", _T + "LogDirsCommand", "log directories and partition sizes"),
        KafkaTool(
            "kafka-metadata-quorum",
            _T + "MetadataQuorumCommand",
            "the KRaft quorum: leader, voters, lag",
        ),
        KafkaTool("kafka-features", _T + "FeatureCommand", "finalized feature versions"),
        KafkaTool(
            "kafka-cluster",
            _T + "ClusterTool",
            "cluster id, endpoints, unregister a broker",
            placement="after-subcommand",
            config_options=(*CONFIG_OPTIONS, "--config", "-c"),
        ),
        KafkaTool("kafka-leader-election", _T + "LeaderElectionCommand", "elect preferred leaders"),
        KafkaTool(
            "kafka-delete-records", _T + "DeleteRecordsCommand", "delete records up to an offset"
        ),
        KafkaTool(
            "kafka-broker-api-versions",
            _T + "BrokerApiVersionsCommand",
            "API versions each broker supports",
        ),
        KafkaTool("kafka-client-metrics", _T + "ClientMetricsCommand", "client metrics resources"),
        KafkaTool("kafka-delegation-tokens", _T + "DelegationTokenCommand", "delegation tokens"),
        KafkaTool(
            "kafka-producer-perf-test", _T + "ProducerPerformance", "producer throughput test"
        ),
        KafkaTool(
            "kafka-consumer-perf-test", _T + "ConsumerPerformance", "consumer throughput test"
        ),
        KafkaTool(
            "kafka-streams-application-reset",
            _T + "StreamsResetter",
            "reset a Kafka Streams application",
        ),
        KafkaTool(
            "kafka-dump-log",
            _T + "DumpLogSegments",
            "print log segment files (reads files, not the cluster)",
            placement="none",
        ),
    )
}


def find_tool(name: str) -> KafkaTool:
    """The tool a user named, with or without ``.sh``; an error listing them otherwise."""
    tool = TOOLS.get(name.removesuffix(".sh"))
    if tool is not None:
        return tool
    close = difflib.get_close_matches(name.removesuffix(".sh"), list(TOOLS), n=1)
    hint = f'did you mean "{close[0]}"? ' if close else ""
    raise ClusterError(
        f'no Kafka tool "{name}"; {hint}`streamplane kafka --list` lists the {len(TOOLS)} tools'
    )


def _given(args: Sequence[str], options: Sequence[str]) -> bool:
    """Whether ``args`` set one of ``options`` (``--opt value`` or ``--opt=value``)."""
    return any(arg in options or arg.split("=", 1)[0] in options for arg in args)


def tool_arguments(
    tool: KafkaTool, args: Sequence[str], *, bootstrap: str, config: Path
) -> list[str]:
    """``args`` with the connection added where the tool reads it, unless already given."""
    if tool.placement == "none":
        return list(args)
    added: list[str] = []
    if not _given(args, BOOTSTRAP_OPTIONS):
        added += ["--bootstrap-server", bootstrap]
    if not _given(args, tool.config_options):
        added += ["--command-config", str(config)]
    if tool.placement == "after-subcommand":
        # The first argument that is not an option is the sub-command; `--help` has none.
        first = next((i for i, arg in enumerate(args) if not arg.startswith("-")), None)
        if first is None:
            return list(args)
        return [*args[: first + 1], *added, *args[first + 1 :]]
    return [*added, *args]


def java_command(
    tool: KafkaTool, args: Sequence[str], *, java: JavaRuntime, runtime: KafkaRuntime
) -> list[str]:
    """The JVM command line: Kafka's tool heap and log4j setup, as kafka-run-class.sh has it."""
    heap = shlex.split(os.environ.get("KAFKA_HEAP_OPTS", DEFAULT_HEAP_OPTS))
    extra = shlex.split(os.environ.get("KAFKA_OPTS", ""))
    log4j = package_file("templates/tools-log4j2.yaml")
    return [
        str(java.executable), *heap, f"-Dlog4j2.configurationFile={log4j}", *extra,
        "-cp", runtime.classpath, tool.main_class, *args,
    ]  # fmt: skip


@contextmanager
def java_properties_file(settings: ConnectionSettings) -> Iterator[Path]:
    """The connection as a Java properties file, 0600 in a 0700 directory, removed after."""
    with tempfile.TemporaryDirectory(prefix="streamplane-kafka-") as directory:
        path = Path(directory) / "client.properties"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(settings.java_properties_text())
        yield path


def wants_help(args: Sequence[str]) -> bool:
    """Whether the tool is only asked about itself (no cluster needed)."""
    return any(arg in ("-h", "--help", "--version") for arg in args)


def run_tool(
    tool: KafkaTool,
    args: Sequence[str],
    *,
    settings: ConnectionSettings | None,
    java: JavaRuntime,
    runtime: KafkaRuntime,
) -> int:
    """Run ``tool`` against the cluster of ``settings``, attached to this terminal; its exit code.

    Without ``settings`` (``--help``) nothing is added. stdin, stdout and stderr are the
    tool's own (a console producer reads the terminal or a pipe). Ctrl-C reaches the tool,
    not this process: the JVM runs its shutdown hooks (the console consumer prints its
    count) and its exit code is returned.
    """
    if settings is None:
        return _run(java_command(tool, args, java=java, runtime=runtime), java)
    with java_properties_file(settings) as config:
        full = tool_arguments(tool, args, bootstrap=settings.bootstrap_servers, config=config)
        return _run(java_command(tool, full, java=java, runtime=runtime), java)


def _run(command: list[str], java: JavaRuntime) -> int:
    """Run the JVM in the foreground; SIGTERM is passed on, Ctrl-C reaches it directly.

    The handlers are set before the JVM starts: a signal this process catches is reset to
    its default in the child, so the JVM installs its own (shutdown hooks on Ctrl-C) even
    when this process was started with SIGINT ignored (a background job of a script).
    """
    started: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        # The terminal sends Ctrl-C to the JVM too (one process group); SIGTERM only here.
        if started and signum != signal.SIGINT:
            started[0].send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            started.append(subprocess.Popen(command))
        except OSError as exc:
            raise ClusterError(f"cannot run {java.executable}: {exc}") from exc
        return started[0].wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
