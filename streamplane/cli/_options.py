"""The command-line options several command groups share, declared once so they read alike."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

SpecArg = Annotated[Path, typer.Argument(help="Spec directory (or file).")]
ClusterOpt = Annotated[
    str | None, typer.Option(help="Cluster of the spec (default: the local one).")
]
DataDirOpt = Annotated[Path, typer.Option("--data-dir", help="Local cluster data directory.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
SpecOpt = Annotated[
    Path | None,
    typer.Option(
        "--spec",
        help="Spec directory (or file): connect to its cluster and show who owns what.",
    ),
]
KafkaConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="librdkafka properties file of the cluster (default: <data dir>/admin.properties).",
    ),
]
