"""The state of one replication flow: its supervised MM2 process and the flow's lag."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException

from streamplane.errors import StreamplaneError
from streamplane.local._mirror_service import MirrorProcess
from streamplane.local._process import tail
from streamplane.model import ReplicationFlow, Spec, flow_label, mm2_principal
from streamplane.replication.config import flow_ends
from streamplane.replication.observe import flow_lag
from streamplane.replication.supervisor import START_MARK


def flow_status(spec: Spec, flow: ReplicationFlow, data_dir: Path) -> dict[str, Any]:
    """What ``replicate status`` and the console show of one flow: MM2's process and
    restarts, its latest errors, and the flow's lag (or why the lag could not be read)."""
    process = MirrorProcess(data_dir, flow.source, flow.target)
    supervisor = process.process()
    state = process.status_data() or {}
    current = tail(process.mm2_log, 400).rpartition(START_MARK)[2]
    errors = [line for line in current.splitlines() if " ERROR " in line][-5:]
    report: dict[str, Any] = {
        "flow": flow_label(flow),
        "principal": mm2_principal(flow),
        "running": supervisor is not None and state.get("mm2_pid") is not None,
        "supervisor_pid": supervisor.pid if supervisor else None,
        "mm2_pid": state.get("mm2_pid"),
        "restarts": state.get("restarts", 0),
        "log": str(process.mm2_log),
        "errors": errors,
    }
    try:
        ends = flow_ends(spec, flow, data_dir)
        lag = flow_lag(spec, flow, ends.source_admin, ends.target_admin)
    except (StreamplaneError, KafkaException) as exc:  # a cluster down is a status to show
        report["lag_error"] = str(exc)
        return report
    report.update(
        lag_records=lag.lag_records,
        lag_s=round(lag.lag_s, 3),
        last_heartbeat_ms=lag.last_heartbeat_ms,
        checkpoints=lag.checkpoints,
        topics=[
            {
                "topic": t.topic,
                "copy": t.remote,
                "copied": t.exists,
                "lag_records": t.lag_records,
                "lag_s": round(t.lag_s, 3),
                "partitions": [asdict(p) for p in t.partitions],
            }
            for t in lag.topics
        ],
    )
    return report
