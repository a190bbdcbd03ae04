"""Quix Streams for bench_client.py, from a venv of its own (it pins confluent-kafka < 2.13).

The venv lives under .streamplane/bench-venvs/quix and is created on first use; the
producer runs there as a subprocess and reports its time as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from streamplane.kafka import ConnectionSettings, client_config

ROOT = Path(__file__).resolve().parent.parent
QUIX_VENV = ROOT / ".streamplane" / "bench-venvs" / "quix"


QUIX_SCRIPT = r"""
import json, sys, time
from quixstreams import Application
from quixstreams.kafka.configuration import ConnectionConfig

args = json.loads(sys.argv[1])
payloads = [bytes.fromhex(p) for p in json.load(open(args["payloads"]))]
app = Application(
    broker_address=ConnectionConfig(**args["connection"]),
    producer_extra_config=args["producer"],
    auto_create_topics=False,
)
k = len(payloads)
with app.get_producer() as producer:
    producer.produce(topic=args["topic"], value=payloads[0])  # connected, metadata known
    producer.flush(60)
    started = time.perf_counter()
    for i in range(args["n"]):
        producer.produce(topic=args["topic"], value=payloads[i % k])
    remaining = producer.flush(120)
    elapsed = time.perf_counter() - started
from importlib.metadata import version
print(json.dumps({"elapsed": elapsed, "remaining": remaining,
                  "quixstreams": version("quixstreams"),
                  "confluent_kafka": version("confluent-kafka")}))
"""


def quix_python() -> Path:
    """The Quix Streams venv's interpreter; created (pip install quixstreams) when missing."""
    python = QUIX_VENV / "bin" / "python"
    ok = (
        python.exists()
        and subprocess.run(
            [str(python), "-c", "import quixstreams"], capture_output=True
        ).returncode
        == 0
    )
    if not ok:
        print(f"creating {QUIX_VENV} (pip install quixstreams)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(QUIX_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "quixstreams"], check=True)
    return python


def produce_quix(
    conn: ConnectionSettings, topic: str, payloads: list[bytes], n: int, scratch: Path,
    *, tuning: dict[str, Any],
) -> tuple[float, str]:  # fmt: skip
    """Quix Streams producing ``n`` of ``payloads`` with the zero_loss settings and
    ``tuning``: seconds taken, and the versions it ran with."""
    python = quix_python()
    payload_file = scratch / "payloads.json"
    payload_file.write_text(json.dumps([p.hex() for p in payloads]))
    script = scratch / "quix_produce.py"
    script.write_text(QUIX_SCRIPT)
    producer = client_config("zero_loss", "producer", overrides=tuning)
    producer.pop("enable.idempotence", None)  # Quix sets its own; same acks/linger/batch
    args = {
        "connection": {
            "bootstrap_servers": conn.bootstrap_servers,
            "security_protocol": conn.security_protocol,
            "sasl_mechanism": conn.sasl_mechanism,
            "sasl_username": conn.username,
            "sasl_password": conn.password,
        },
        "producer": producer, "topic": topic, "n": n, "payloads": str(payload_file),
    }  # fmt: skip
    out = subprocess.run(
        [str(python), str(script), json.dumps(args)],
        check=True, capture_output=True, text=True, timeout=1200,
    ).stdout  # fmt: skip
    result = json.loads(out.strip().splitlines()[-1])
    assert result["remaining"] == 0, result
    return result[
        "elapsed"
    ], f"quixstreams {result['quixstreams']}, confluent-kafka {result['confluent_kafka']}"
