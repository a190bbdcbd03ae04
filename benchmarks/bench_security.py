"""Security figures, each beside its baseline from the same run.

- TLS: one producer's throughput (1 KiB records, acks=all, linger 5 ms, 256 KiB batches)
  over SASL/SCRAM in the clear (the baseline), then with the cluster restarted with
  ``--tls`` over SASL_SSL; the mTLS listener (SSL, client certificate) is measured in both
  phases, as a check that the two phases saw the same machine. Runs alternate.
- Revocation: an application of each kind (SCRAM, mTLS, OAuth) produces a record every
  5 ms; it is cut off (removed from the spec, its certificate revoked, its OAuth client
  disabled) and the spec applied. The figure is the time from the start of apply to the
  first refused request; the baseline is how long apply itself took.

Run: .venv/bin/python benchmarks/bench_security.py [--records 100000] [--runs 3]
     [--port-offset 22000] [--parts tls,revocation]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from _harness import (
    PORT_OFFSET,
    apply_spec_dir,
    median,
    report,
    scratch_cluster,
    write_one_node_spec,
)
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from streamplane.kafka import ConnectionSettings
from streamplane.local import LocalCluster
from streamplane.reconcile import client_config_path
from streamplane.security.idp import IdpHome
from streamplane.security.pki import Pki

RECORD = os.urandom(1024)
TOPIC = "bench.tls"


def _throughput(settings: ConnectionSettings, records: int) -> float:
    producer = Producer(
        settings.librdkafka(**{
            "acks": "all", "linger.ms": 5, "batch.size": 262144, "enable.idempotence": True,
            "queue.buffering.max.kbytes": 262144, "log_level": 0,
        })
    )  # fmt: skip
    started = time.perf_counter()
    for _ in range(records):
        while True:
            try:
                producer.produce(TOPIC, RECORD)
                break
            except BufferError:
                producer.poll(0.01)
    producer.flush(120)
    return records / (time.perf_counter() - started)


def _mtls_admin(cluster: LocalCluster) -> ConnectionSettings:
    """The super user over the mTLS listener: a certificate whose CN is ``admin``."""
    pki = Pki(cluster.dir.pki)
    issued = pki.certificate("admin") or pki.issue("admin")
    return ConnectionSettings(
        bootstrap_servers=cluster.require_state().mtls_bootstrap_servers,
        security_protocol="SSL",
        sasl_mechanism=None,
        ssl_ca=str(pki.ca_cert),
        ssl_certificate=str(issued.cert),
        ssl_key=str(issued.key),
    )


def tls_phase(cluster: LocalCluster, records: int, runs: int) -> list[tuple[str, str, str]]:
    admin = AdminClient(cluster.admin_settings().librdkafka())
    admin.create_topics([NewTopic(TOPIC, 3, 1)])[TOPIC].result(30)
    rates: dict[str, list[float]] = {"plain": [], "mtls1": [], "ssl": [], "mtls2": []}
    for _ in range(runs):
        rates["plain"].append(_throughput(cluster.admin_settings(), records))
        rates["mtls1"].append(_throughput(_mtls_admin(cluster), records))
    state = cluster.require_state()
    cluster.down(timeout_s=20)
    cluster.up(nodes=state.nodes, port_offset=state.port_offset, tls=True)
    for _ in range(runs):
        rates["ssl"].append(_throughput(cluster.admin_settings(), records))
        rates["mtls2"].append(_throughput(_mtls_admin(cluster), records))
    plain, ssl = median(rates["plain"]), median(rates["ssl"])
    mtls1, mtls2 = median(rates["mtls1"]), median(rates["mtls2"])
    return [
        ("SASL/SCRAM produce msgs/s: SASL_SSL vs SASL_PLAINTEXT", f"{ssl:,.0f}", f"{plain:,.0f}"),
        ("ratio SASL_SSL / SASL_PLAINTEXT", f"{ssl / plain:.2f}", "1.00"),
        ("mTLS (SSL) produce msgs/s: phase 2 vs phase 1", f"{mtls2:,.0f}", f"{mtls1:,.0f}"),
        ("ratio mTLS / SASL_PLAINTEXT (phase 1)", f"{mtls1 / plain:.2f}", "1.00"),
    ]


TENANTS = """\
tenants:
  - name: bench
    owners: [bench@example.com]
    clusters: [local]
    domains:
      - name: rev
        owner: bench@example.com
        topics:
          - {{name: events, partitions: 1, classification: internal, owner: bench@example.com}}
        applications:
{apps}"""


def _write_spec(root: Path, mechanisms: list[str]) -> None:
    apps = "".join(
        f"          - {{name: rev-{m}, auth: {m}, produces: [bench.rev.events]}}\n"
        for m in mechanisms
    )
    write_one_node_spec(root, TENANTS.format(apps=apps))


@dataclass
class Trickle:
    """A producer writing a record every 5 ms; notes the first refused delivery."""

    settings: ConnectionSettings
    refused_at: float | None = None
    delivered: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        producer = Producer(self.settings.librdkafka(**{"linger.ms": 0, "log_level": 0}))

        def done(err: KafkaError | None, _msg: object) -> None:
            if err is None:
                self.delivered += 1
            elif self.refused_at is None:
                self.refused_at = time.perf_counter()

        while not self.stop.is_set():
            try:
                producer.produce("bench.rev.events", b"x", on_delivery=done)
            except KafkaException:
                # Refused before sending: the broker's metadata already denies the topic.
                if self.refused_at is None:
                    self.refused_at = time.perf_counter()
            producer.poll(0.005)
        producer.flush(10)


def revocation_phase(cluster: LocalCluster) -> list[tuple[str, str, str]]:
    work = Path(tempfile.mkdtemp(prefix="sp-bench-revoke-"))
    rows: list[tuple[str, str, str]] = []
    try:
        kinds = ["scram", "mtls", "oauth"]
        _write_spec(work / "spec", kinds)
        apply_spec_dir(work / "spec", cluster)
        cases = [(k, "removed from the spec") for k in kinds] + [
            ("mtls", "certificate revoked"),
            ("oauth", "OAuth client disabled"),
        ]
        for kind, how in cases:
            _write_spec(work / "spec", kinds)
            if kind == "mtls" and Pki(cluster.dir.pki).revocation_reason(f"rev-{kind}"):
                Pki(cluster.dir.pki).issue(f"rev-{kind}", force=True)
            apply_spec_dir(work / "spec", cluster)  # back in, with a fresh identity
            path = client_config_path(cluster.dir.root, f"rev-{kind}")
            trickle = Trickle(ConnectionSettings.from_properties_file(path))
            thread = threading.Thread(target=trickle.run, daemon=True)
            thread.start()
            while trickle.delivered < 50:
                time.sleep(0.01)
            if how == "removed from the spec":
                _write_spec(work / "spec", [k for k in kinds if k != kind])
            elif how == "certificate revoked":
                Pki(cluster.dir.pki).revoke(f"rev-{kind}")
            else:
                IdpHome(cluster.dir.idp).disable_client(f"rev-{kind}")
            started = time.perf_counter()
            apply_spec_dir(work / "spec", cluster)
            applied = time.perf_counter() - started
            while trickle.refused_at is None and time.perf_counter() - started < 120:
                time.sleep(0.005)
            trickle.stop.set()
            thread.join(15)
            if how == "OAuth client disabled":
                IdpHome(cluster.dir.idp).register_client(f"rev-{kind}")
            refused = (
                f"{(trickle.refused_at - started) * 1000:,.0f} ms"
                if trickle.refused_at is not None
                else "not refused in 120 s"
            )
            rows.append(
                (f"{kind}, {how}: apply -> first refused", refused, f"{applied * 1000:,.0f} ms")
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--port-offset", type=int, default=PORT_OFFSET)
    parser.add_argument("--parts", default="revocation,tls")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    with scratch_cluster("security", nodes=1, port_offset=args.port_offset) as cluster:
        if "revocation" in parts:
            report(revocation_phase(cluster), title="Revocation (baseline: the apply itself)")
        if "tls" in parts:
            rows = tls_phase(cluster, args.records, args.runs)
            report(rows, title=f"TLS ({args.records:,} x 1 KiB, median of {args.runs} runs)")


if __name__ == "__main__":
    main()
