"""Fixes that run as printed: the command lines an audit suggests, for the cluster it read.

A fix that says ``kafka-configs.sh … --command-config admin.properties`` helps nobody
without Kafka's scripts and a Java-form properties file. Every command here is a
``streamplane`` command with the options that reach the same cluster again: ``streamplane
kafka`` adds the connection to Kafka's own tools, ``streamplane apply`` the spec's.
Arguments are shell-quoted, so a fix can be pasted into a shell as it is.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from streamplane.model import Spec

#: The data directory ``streamplane`` uses when none is given.
_DEFAULT_DATA_DIR = ".streamplane"


@dataclass(frozen=True)
class FixCommands:
    """How the audited cluster is reached from a shell, as the command that audited it was.

    ``spec`` and ``data_dir`` are shown as the user typed them (relative paths stay
    relative), ``cluster`` only when the user named one.
    """

    spec: str
    local: bool = True
    cluster: str | None = None
    data_dir: str | None = None

    @classmethod
    def for_cluster(
        cls,
        spec: Spec,
        cluster: str,
        *,
        spec_arg: Path | None = None,
        cluster_arg: str | None = None,
        data_dir: Path | None = None,
    ) -> FixCommands:
        """The commands for ``cluster`` of ``spec``, audited with these CLI arguments."""
        entry = spec.cluster(cluster)
        shown_dir = None if data_dir is None or str(data_dir) == _DEFAULT_DATA_DIR else data_dir
        return cls(
            spec=str(spec_arg if spec_arg is not None else spec.root),
            local=entry.local,
            cluster=cluster_arg,
            data_dir=str(shown_dir) if shown_dir is not None else None,
        )

    def _where(self) -> list[str]:
        options = ["--cluster", self.cluster] if self.cluster else []
        if self.data_dir is not None:
            options += ["--data-dir", self.data_dir]
        return options

    def kafka(self, tool: str, *args: str) -> str:
        """``streamplane kafka TOOL ARGS``: the local cluster of the data directory, or the
        spec's cluster (its credentials from the spec's secret source)."""
        if self.local:
            reach = ["--data-dir", self.data_dir] if self.data_dir is not None else []
        else:
            reach = ["--spec", self.spec, *(["--cluster", self.cluster] if self.cluster else [])]
        return _join(["streamplane", "kafka", *reach, tool, *args])

    def kafka_configs(
        self, entity: str, *, add: str | None = None, delete: str | None = None
    ) -> str:
        """``kafka-configs --alter`` of one entity ("--entity-type brokers --entity-default")."""
        change = ["--add-config", add] if add is not None else ["--delete-config", str(delete)]
        return self.kafka("kafka-configs", "--alter", *entity.split(), *change)

    def apply(self) -> str:
        return _join(["streamplane", "apply", self.spec, *self._where()])

    def fresh_local_cluster(self, nodes: int) -> tuple[str, str]:
        """(start, apply): stop this local cluster and start an ``nodes``-node one beside it.

        A local cluster cannot change its node count in place (its KRaft voters are
        formatted in), so the new one gets a data directory of its own; the old one is kept.
        """
        current = self.data_dir or _DEFAULT_DATA_DIR
        fresh = f"{current.rstrip('/')}-{nodes}"
        down = ["streamplane", "down", *(["--data-dir", current] if self.data_dir else [])]
        up = ["streamplane", "up", "--nodes", str(nodes), "--data-dir", fresh]
        apply = ["streamplane", "apply", self.spec, "--data-dir", fresh]
        return f"{_join(down)} && {_join(up)}", _join(apply)

    def reassign(self, topic: str, plan: dict[str, object]) -> tuple[str, str]:
        """(execute, verify): write a reassignment file and run it with
        ``kafka-reassign-partitions``; the second command says when it is done.

        One line for a shell: the JSON is single-quoted (topic names hold no quote).
        """
        file = f"reassign-{topic}.json"
        text = json.dumps(plan, separators=(",", ":"))
        execute = self.kafka(
            "kafka-reassign-partitions", "--reassignment-json-file", file, "--execute"
        )
        verify = self.kafka(
            "kafka-reassign-partitions", "--reassignment-json-file", file, "--verify"
        )
        return f"echo '{text}' > {shlex.quote(file)} && {execute}", verify


def raised_replication(
    topic: str, assignment: dict[int, tuple[int, ...]], brokers: list[int], factor: int
) -> dict[str, object]:
    """A reassignment giving every partition of ``topic`` ``factor`` replicas.

    Current replicas stay, the preferred leader first (no leadership moves); new ones are
    taken round-robin from the other brokers, starting one further per partition, so the
    added load spreads over the cluster as Kafka's own placement would spread it.
    """
    ordered = sorted(brokers)
    partitions = []
    for number, current in sorted(assignment.items()):
        replicas = list(current)
        start = number % len(ordered) if ordered else 0
        for broker in ordered[start:] + ordered[:start]:
            if len(replicas) >= factor:
                break
            if broker not in replicas:
                replicas.append(broker)
        partitions.append({"topic": topic, "partition": number, "replicas": replicas})
    return {"version": 1, "partitions": partitions}


def _join(parts: list[str]) -> str:
    return " ".join(shlex.quote(part) for part in parts)
