"""Every Kafka-facing command fails fast, in one line, when no broker answers.

Each command runs as a user runs it: a subprocess calling the CLI's entry point, with
stdout and stderr captured at the file-descriptor level, where librdkafka writes its own
lines when nobody routes them. The clusters: a local cluster that was up and was stopped
(its pid files say so), a spec's remote cluster whose bootstrap port is closed, and one
whose port accepts connections but never answers (a hung broker).

Times: the command's own time is measured after the CLI's imports (a few seconds of the
wall time on a loaded machine are the interpreter and imports, the same for ``--help``);
the bound is the probe's 4 s plus slack for a loaded machine.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamplane.local import LocalCluster, open_cluster
from tests.conftest import TEST_ROOT
from tests.integration.cli_process import Outcome, run_cli
from tests.integration.conftest import PORT_SHIFT

#: This module's own cluster; no other test uses the offset.
UNREACHABLE_OFFSET = 20120 + PORT_SHIFT
#: Seconds a failing command may take once the CLI is imported (probe: 4 s).
COMMAND_BOUND_S = 8.0

SPEC = """\
clusters:
  - name: {name}
{where}
tenants:
  - name: shop
    owners: [shop@example.com]
    clusters: [{name}]
    domains:
      - name: orders
        owner: orders@example.com
        topics:
          - name: placed
            partitions: 1
            classification: internal
            owner: orders@example.com
        applications:
          - name: checkout
            produces: [shop.orders.placed]
          - name: fulfilment
            consumes: [shop.orders.placed]
            dead_letters: {{retries: [5s]}}
"""


def assert_one_line_failure(outcome: Outcome, *, names: list[str]) -> str:
    """Non-zero exit, in bounded time, one line of ours naming the cluster and the fix."""
    text = outcome.text
    assert outcome.code == 1, text
    assert len(outcome.lines) == 1, text
    assert "%3|" not in text and "rdkafka" not in text and "Traceback" not in text, text
    line = outcome.lines[0]
    assert line.startswith("error: "), line
    for name in names:
        assert name in line, line
    assert outcome.command_s < COMMAND_BOUND_S, f"{outcome.command_s:.1f}s: {line}"
    return line


@pytest.fixture(scope="module")
def stopped() -> Iterator[LocalCluster]:
    """A local cluster that was up, then stopped: its data and pid-less node dirs remain."""
    cluster = open_cluster(TEST_ROOT / "unreachable")
    try:
        cluster.up(nodes=1, port_offset=UNREACHABLE_OFFSET)
        cluster.down(timeout_s=20)
        yield cluster
    finally:
        cluster.down(timeout_s=10)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("unreachable")


def _write_spec(root: Path, *, name: str, where: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "platform.yaml").write_text(SPEC.format(name=name, where=where))
    return root


LOCAL_COMMANDS = {
    "plan": ["plan", "{spec}"],
    "drift": ["drift", "{spec}"],
    "apply": ["apply", "{spec}", "--auto-approve"],
    "access --live": ["access", "checkout", "{spec}", "--live"],
    "audit zero-loss": ["audit", "zero-loss", "{spec}"],
    "import": ["import", "--out", "{out}"],
    "dlq inspect": ["dlq", "inspect", "shop.orders.placed", "--spec", "{spec}"],
    "dlq replay": ["dlq", "replay", "shop.orders.placed", "--spec", "{spec}"],
    "topics list": ["topics", "list"],
    "groups describe": ["groups", "describe", "shop.fulfilment"],
    "registry serve": ["registry", "serve", "--port", "{port}"],
}


@pytest.mark.parametrize("command", sorted(LOCAL_COMMANDS))
def test_a_command_against_a_stopped_local_cluster_says_so_in_one_line(
    command: str, stopped: LocalCluster, workdir: Path
) -> None:
    spec = _write_spec(workdir / "local-spec", name="local", where="    local: true")
    state = stopped.require_state()
    values = {
        "spec": str(spec),
        "out": str(workdir / f"imported-{command.replace(' ', '-')}"),
        "port": str(state.addresses()[0].client_port + 5),
    }
    args = [part.format(**values) for part in LOCAL_COMMANDS[command]]
    outcome = run_cli(*args, "--data-dir", str(stopped.dir.root), cwd=workdir, label=command)
    line = assert_one_line_failure(
        outcome, names=[state.bootstrap_servers, "is not running", "start it with `streamplane up"]
    )
    assert f"--data-dir {stopped.dir.root}" in line
    # The pid files answered: no network wait at all.
    assert outcome.command_s < 3.0, line


def test_kafka_tools_against_a_stopped_local_cluster_say_so_in_one_line(
    stopped: LocalCluster, workdir: Path
) -> None:
    outcome = run_cli(
        "kafka",
        "--data-dir",
        str(stopped.dir.root),
        "kafka-topics",
        "--list",
        cwd=workdir,
        label="kafka kafka-topics",
    )
    assert_one_line_failure(
        outcome, names=[stopped.require_state().bootstrap_servers, "streamplane up"]
    )


REMOTE_COMMANDS = {
    "plan": ["plan", "{spec}"],
    "drift": ["drift", "{spec}"],
    "apply": ["apply", "{spec}", "--auto-approve"],
    "access --live": ["access", "checkout", "{spec}", "--live"],
    "audit zero-loss": ["audit", "zero-loss", "{spec}"],
    "topics list": ["topics", "list", "--spec", "{spec}"],
    "groups list": ["groups", "list", "--spec", "{spec}"],
    "dlq inspect --config": ["dlq", "inspect", "shop.orders.placed.dlq", "--config", "{props}"],
}


def _remote(workdir: Path, bootstrap: str, label: str) -> tuple[Path, Path]:
    where = (
        f"    bootstrap_servers: {bootstrap}\n"
        "    auth: {security_protocol: SASL_PLAINTEXT, username: admin, "
        "password: {env: REMOTE_PASSWORD}}"
    )
    spec = _write_spec(workdir / f"{label}-spec", name="remote", where=where)
    props = workdir / f"{label}.properties"
    props.write_text(
        f"bootstrap.servers={bootstrap}\nsecurity.protocol=SASL_PLAINTEXT\n"
        "sasl.mechanism=SCRAM-SHA-512\nsasl.username=admin\nsasl.password=x\n"
    )
    return spec, props


@pytest.mark.parametrize("command", sorted(REMOTE_COMMANDS))
def test_a_command_against_a_closed_remote_port_says_so_in_one_line(
    command: str, stopped: LocalCluster, workdir: Path
) -> None:
    # The stopped cluster's port: closed, and nobody else's.
    bootstrap = stopped.require_state().bootstrap_servers
    spec, props = _remote(workdir, bootstrap, "closed")
    args = [p.format(spec=spec, props=props) for p in REMOTE_COMMANDS[command]]
    outcome = run_cli(*args, cwd=workdir, env={"REMOTE_PASSWORD": "x"}, label=f"remote {command}")
    line = assert_one_line_failure(outcome, names=[bootstrap, "refuses connections"])
    if "--config" in args:
        assert f"check bootstrap.servers in {props}" in line
    else:
        assert "cluster remote" in line
        assert f"check its bootstrap_servers ({spec / 'platform.yaml'}:3)" in line


def test_a_broker_that_accepts_connections_but_never_answers_costs_the_probe_only(
    workdir: Path,
) -> None:
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)  # connections complete in the backlog; nothing ever reads them
        bootstrap = f"127.0.0.1:{hung.getsockname()[1]}"
        spec, _ = _remote(workdir, bootstrap, "hung")
        outcome = run_cli(
            "plan", str(spec), cwd=workdir, env={"REMOTE_PASSWORD": "x"}, label="hung plan"
        )
    line = assert_one_line_failure(
        outcome, names=["cluster remote", bootstrap, "answered no metadata request within 4s"]
    )
    assert outcome.command_s >= 3.5, line  # it did wait for the probe, and only for it


def test_client_lines_go_to_the_log_file_or_with_debug_to_stderr(workdir: Path) -> None:
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        bootstrap = f"127.0.0.1:{hung.getsockname()[1]}"
        spec, _ = _remote(workdir, bootstrap, "logged")
        (workdir / "client.log").unlink(missing_ok=True)
        quiet = run_cli(
            "plan", str(spec), cwd=workdir, env={"REMOTE_PASSWORD": "x"}, label="hung plan, log"
        )
        debug = run_cli(
            "plan",
            str(spec),
            cwd=workdir,
            env={"REMOTE_PASSWORD": "x", "STREAMPLANE_DEBUG": "1"},
            label="hung plan, debug",
        )
    assert len(quiet.lines) == 1
    logged = (workdir / "client.log").read_text()
    assert "streamplane.kafka.client" in logged and bootstrap in logged
    assert any("streamplane.kafka.client" in line for line in debug.lines[:-1])
    assert debug.lines[-1].startswith("error: cluster remote")
