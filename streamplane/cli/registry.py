"""``streamplane registry serve``: the schema registry over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from streamplane.errors import ClusterError
from streamplane.kafka import ConnectionSettings
from streamplane.local import DEFAULT_DATA_DIR

registry_app = typer.Typer(help="The Confluent-compatible schema registry.")


def register(app: typer.Typer) -> None:
    app.add_typer(registry_app, name="registry")


@registry_app.command("serve")
def serve(
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8081,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Local cluster data directory.")] = (
        DEFAULT_DATA_DIR
    ),
    topic: Annotated[str, typer.Option(help="Topic holding the schemas.")] = "_schemas",
) -> None:
    """Serve the registry, storing schemas in the local cluster's ``_schemas`` topic."""
    import uvicorn

    from streamplane.registry import Registry, create_app

    props = data_dir / "admin.properties"
    if not props.exists():
        raise ClusterError(f"{props} does not exist; start the cluster with `streamplane up` first")
    registry = Registry(ConnectionSettings.from_properties_file(props), topic=topic)
    uvicorn.run(create_app(registry), host=host, port=port, log_level="warning")
