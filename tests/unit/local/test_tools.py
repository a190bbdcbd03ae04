"""Kafka's tools: which class each runs, and where the connection goes on its command line."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from streamplane.errors import ClusterError
from streamplane.local import cached_runtime
from streamplane.local._tools import TOOLS, find_tool, tool_arguments

CONFIG = Path("/tmp/x/client.properties")


def _args(tool: str, *args: str) -> list[str]:
    return tool_arguments(TOOLS[tool], list(args), bootstrap="h:1", config=CONFIG)


def test_every_tool_runs_a_main_class_of_the_cached_jars() -> None:
    runtime = cached_runtime()
    if runtime is None:
        pytest.skip("the Kafka jars are not cached (`streamplane local fetch`)")
    classes: set[str] = set()
    for jar in runtime.lib_dir.glob("kafka*.jar"):
        with zipfile.ZipFile(jar) as archive:
            classes.update(
                name.removesuffix(".class").replace("/", ".")
                for name in archive.namelist()
                if name.endswith(".class")
            )
    missing = {t.name: t.main_class for t in TOOLS.values() if t.main_class not in classes}
    assert missing == {}


def test_the_connection_goes_first_for_most_tools() -> None:
    assert _args("kafka-topics", "--list") == [
        "--bootstrap-server", "h:1", "--command-config", str(CONFIG), "--list",
    ]  # fmt: skip
    # argparse4j tools read their own options before the sub-command.
    assert _args("kafka-transactions", "list")[-1] == "list"
    assert _args("kafka-metadata-quorum", "describe", "--status")[:2] == [
        "--bootstrap-server",
        "h:1",
    ]


def test_kafka_cluster_takes_the_connection_after_its_subcommand() -> None:
    assert _args("kafka-cluster", "cluster-id") == [
        "cluster-id", "--bootstrap-server", "h:1", "--command-config", str(CONFIG),
    ]  # fmt: skip
    assert _args("kafka-cluster", "--help") == ["--help"]


def test_what_the_user_gives_is_kept_and_not_added_twice() -> None:
    assert _args("kafka-topics", "--bootstrap-server=other:9", "--list") == [
        "--command-config", str(CONFIG), "--bootstrap-server=other:9", "--list",
    ]  # fmt: skip
    assert _args("kafka-console-consumer", "--consumer.config", "mine", "--topic", "t") == [
        "--bootstrap-server", "h:1", "--consumer.config", "mine", "--topic", "t",
    ]  # fmt: skip
    assert "--command-config" not in _args("kafka-cluster", "cluster-id", "--config", "mine")
    assert _args("kafka-dump-log", "--files", "x.log") == ["--files", "x.log"]


def test_tools_are_found_by_script_name_and_a_typo_is_answered() -> None:
    assert find_tool("kafka-configs.sh").main_class == "org.apache.kafka.tools.ConfigCommand"
    with pytest.raises(ClusterError, match='did you mean "kafka-topics"'):
        find_tool("kafka-topic")
