"""The console as ``up`` runs it, over the example estate: a 1-node cluster with its
registry and OIDC issuer, the example spec applied, and ``streamplane console serve`` as a
supervised process (``ConsoleProcess``) reading the cluster every half second."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer

from streamplane.local import ConsoleProcess, RegistryProcess
from streamplane.local._debian import apt_install
from streamplane.model import load_spec
from streamplane.reconcile import connect
from tests.integration.conftest import PORT_SHIFT
from tests.integration.reconcile.conftest import EXAMPLE, Estate, apply_spec, platform

#: The console's own cluster: its HTTP ports 31630-31639, its brokers' 32642-32742.
CONSOLE_OFFSET = 23550 + PORT_SHIFT
REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / ".ci" / "artifacts" / "console"


@dataclass
class ConsoleEstate(Estate):
    console: ConsoleProcess

    @property
    def url(self) -> str:
        return self.console.url

    def password(self, principal: str) -> str:
        """The principal's SCRAM password: admin's from the cluster, an application's from
        the client config apply wrote for it."""
        if principal == "admin":
            creds = self.cluster.dir.read_credentials()
            assert creds is not None
            return creds.admin_password
        password = self.as_app(principal).password
        assert password is not None
        return password

    def produce(self, app: str, topic: str, values: list[dict[str, Any]], *, key: str = "") -> None:
        """Write ``values`` to ``topic`` as application ``app`` with the SDK (keyed by the
        field ``key`` when given), in a process of its own (see ``_produce``)."""
        registry = RegistryProcess(self.cluster.dir, port_offset=CONSOLE_OFFSET).url
        subprocess.run(
            [sys.executable, "-m", "tests.integration.console._produce",
             str(self.cluster.dir.root), registry, app, topic, key],
            input="".join(json.dumps(v) + "\n" for v in values), text=True, check=True,
            cwd=REPO, timeout=120,
        )  # fmt: skip

    def backlog(self, reader: str, records: int, prefix: str) -> tuple[str, Consumer]:
        """``records`` new card authorizations (written by card-authorizer), and ``reader``'s
        consumer subscribed to them in the application's own group: its group and consumer."""
        topic = "payments.card.authorized.v1"
        self.produce(
            "card-authorizer", topic,
            [{"id": f"{prefix}{n}", "occurred_at": 1_700_000_000_000 + n} for n in range(records)],
        )  # fmt: skip
        group = self.spec.applications[reader].consumer_group
        consumer = Consumer(
            self.as_app(reader).librdkafka(**{
                "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False,
            })
        )  # fmt: skip
        consumer.subscribe([topic])
        return group, consumer

    def api(self, principal: str) -> httpx.Client:
        """An API client signed in with HTTP basic as ``principal``."""
        return httpx.Client(
            base_url=f"{self.url}/api/v1", auth=(principal, self.password(principal)), timeout=30
        )


@pytest.fixture(scope="session")
def console_estate() -> Iterator[ConsoleEstate]:
    with platform("console", port_offset=CONSOLE_OFFSET) as (cluster, _):
        spec = load_spec(EXAMPLE)
        target = connect(spec, data_dir=cluster.dir.root)
        apply_spec(spec, target)
        console = ConsoleProcess(cluster.dir, port_offset=CONSOLE_OFFSET)
        console.start(EXAMPLE, refresh_s=0.5)
        try:
            yield ConsoleEstate(cluster, spec, target, console)
        finally:
            console.stop()


def find_chromium() -> str:
    """Debian's chromium, installed on first use like PostgreSQL and Prometheus: the tests
    drive the system browser, never one Playwright downloads."""
    found = shutil.which("chromium")
    if found is None:
        apt_install("chromium")
        found = shutil.which("chromium")
    assert found is not None, "chromium is not on PATH after installing Debian's package"
    return found
