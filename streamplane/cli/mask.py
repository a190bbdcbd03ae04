"""``streamplane mask run TOPIC SPEC``: the masking job of a topic's masked twin.

``up --spec`` starts one per ``masked_twin`` of the spec and supervises it; run by hand it
works the same (Ctrl-C or SIGTERM commits what is in flight and stops). Its consumer
group is the masker application's, so its lag is the group's (``groups describe``).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streamplane.cli._options import ClusterOpt, DataDirOpt, JsonOpt, KafkaConfigOpt, SpecArg
from streamplane.cli._target import resolve_target
from streamplane.client._identity import resolve_application
from streamplane.client._schemas import RegistryRef, RegistrySettings
from streamplane.errors import StreamplaneError
from streamplane.lineage.masking import MaskingJob, reveal
from streamplane.local import DEFAULT_DATA_DIR
from streamplane.model import load_spec

console = Console(soft_wrap=True)
mask_app = typer.Typer(help="Masked twins: the jobs that keep them.", no_args_is_help=True)

#: How often the job rewrites its status file.
STATUS_EVERY_S = 2.0


def register(app: typer.Typer) -> None:
    app.add_typer(mask_app, name="mask")


@mask_app.command("run")
def run(
    topic: Annotated[str, typer.Argument(help="The raw topic (or its twin, or its masker).")],
    spec: SpecArg,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    status_file: Annotated[
        Path | None, typer.Option(help="Write the job's counts here every few seconds.")
    ] = None,
) -> None:
    """Mask TOPIC into its twin until stopped: exactly once, bad records parked."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    job = MaskingJob(load_spec(spec), topic, data_dir=data_dir)
    console.print(
        f"masking {job.raw} -> {job.twin} as {job.app} (dead letters: {job.dlq})", markup=False
    )
    last = 0.0
    with job:
        while not stop.is_set():
            job.step()
            if status_file is not None and time.monotonic() - last >= STATUS_EVERY_S:
                _write_status(status_file, job)
                last = time.monotonic()
        job.processor.run(stop=lambda: True)  # commits what is in flight
        if status_file is not None:
            _write_status(status_file, job)


@mask_app.command("reveal")
def reveal_token(
    token: Annotated[str, typer.Argument(help="A token from the masked twin (tok_...).")],
    topic: Annotated[str, typer.Argument(help="The raw topic (or its twin).")],
    spec: SpecArg,
    app: Annotated[
        str | None,
        typer.Option("--as", help="Read as this application (default: the cluster's admin)."),
    ] = None,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    config: KafkaConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Turn a token back into its value through the raw owners' vault (exit 1 if none)."""
    target = resolve_target(spec=spec, cluster=cluster, data_dir=data_dir, config=config)
    assert target.spec is not None
    connection = target.settings
    endpoint = target.registry
    registry: RegistryRef | None = (
        None
        if endpoint is None
        else RegistrySettings(endpoint.url, endpoint.username, endpoint.password)
    )
    if app is not None:
        resolved = resolve_application(
            target.spec, app, connection=None, registry=None, cluster=target.cluster,
            data_dir=data_dir,
        )  # fmt: skip
        connection, registry = resolved.connection, resolved.registry
    found = reveal(
        target.spec, topic, token, connection=connection, registry=registry, data_dir=data_dir
    )
    if found is None:
        raise StreamplaneError(f"no vault entry for {token}: not a token of {topic}'s twin")
    if as_json:
        print(json.dumps(found.__dict__))
        return
    console.print(f"{found.field} of subject {found.subject}: {found.value}", markup=False)


def _write_status(path: Path, job: MaskingJob) -> None:
    latencies = sorted(job.stats.latencies_ms[-1000:])
    status = {
        "raw": job.raw,
        "twin": job.twin,
        "application": job.app,
        "masked": job.stats.masked,
        "parked": job.stats.parked,
        "tokens": job.stats.tokens,
        "latency_p50_ms": latencies[len(latencies) // 2] if latencies else None,
        "updated": time.time(),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status))
    tmp.replace(path)
