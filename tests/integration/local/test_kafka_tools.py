"""`streamplane kafka TOOL`: Kafka's own tools against a live cluster, connected for the user."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

from streamplane.kafka import ConnectionSettings
from streamplane.kafka._admin import ClusterAdmin
from streamplane.local import LocalCluster


def _kafka(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamplane", "kafka", *args],
        input=stdin, capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )  # fmt: skip


def test_records_round_trip_through_kafkas_console_tools(
    cluster1: LocalCluster, topic_name: str
) -> None:
    data = ["--data-dir", str(cluster1.dir.root)]
    created = _kafka(*data, "kafka-topics", "--create", "--topic", topic_name, "--partitions", "1")
    assert created.returncode == 0, created.stderr
    produced = _kafka(*data, "kafka-console-producer", "--topic", topic_name, stdin="one\ntwo\n")
    assert produced.returncode == 0, produced.stderr
    consumed = _kafka(
        *data, "kafka-console-consumer", "--topic", topic_name,
        "--from-beginning", "--max-messages", "2", "--timeout-ms", "30000",
    )  # fmt: skip
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout.splitlines() == ["one", "two"]
    # A tool's failure is the command's failure.
    missing = _kafka(*data, "kafka-topics", "--describe", "--topic", f"{topic_name}-absent")
    assert missing.returncode != 0 and "does not exist" in missing.stderr + missing.stdout


def test_up_writes_a_java_properties_file_that_kafkas_tools_read(cluster1: LocalCluster) -> None:
    path = cluster1.dir.admin_java_properties
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule" in (
        path.read_text()
    )
    # Given as the user's own --command-config, it is used as is (and is enough to connect).
    listed = _kafka(
        "--data-dir", str(cluster1.dir.root), "kafka-topics", "--list",
        "--command-config", str(path),
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert "__consumer_offsets" in listed.stdout.split()


def test_a_password_with_quotes_backslashes_and_spaces_reaches_kafka_intact(
    cluster1: LocalCluster, tmp_path: Path
) -> None:
    user = f"tools-{uuid.uuid4().hex[:8]}"
    password = 'we"ird\\pass word'
    admin = ClusterAdmin(cluster1.admin_settings())
    admin.upsert_scram({user: password})
    deadline = time.monotonic() + 30
    while user not in admin.scram_users() and time.monotonic() < deadline:
        time.sleep(0.2)  # the brokers serve the new credential a moment after the controller
    config = tmp_path / "client.properties"
    config.write_text(cluster1.admin_settings().with_credentials(user, password).properties_text())
    assert ConnectionSettings.from_properties_file(config).password == password
    # Authenticated (the user may see nothing: no ACLs), where a garbled password is refused.
    listed = _kafka("--config", str(config), "kafka-topics", "--list")
    assert listed.returncode == 0, listed.stderr
    wrong = tmp_path / "wrong.properties"
    wrong.write_text(cluster1.admin_settings().with_credentials(user, "nope").properties_text())
    refused = _kafka("--config", str(wrong), "kafka-topics", "--list")
    assert refused.returncode != 0
    assert "Authentication failed" in refused.stderr + refused.stdout
