"""The connection of a command without a spec, proven to answer before the command starts.

Commands that take ``--data-dir`` (the local cluster) or ``--config`` (a librdkafka
properties file of any cluster) get their connection here; commands with a spec get it
from ``reconcile.connect``. Both check reachability the same bounded way (the local
cluster's pid files, then a probe of a few seconds), so a stopped cluster costs one line
and a non-zero exit, never a minute of timeouts.
"""

from __future__ import annotations

from pathlib import Path

from streamplane.errors import ClusterError
from streamplane.kafka import ConnectionSettings, require_reachable
from streamplane.local import require_local_cluster, start_command


def local_connection(data_dir: Path, *, or_config: bool = False) -> ConnectionSettings:
    """The admin connection of the local cluster in ``data_dir``, which answers.

    ``or_config``: the command also takes ``--config``, and the message for a data
    directory without a cluster says so.
    """
    props = data_dir / "admin.properties"
    if not props.exists():
        other = ", or pass --config with the cluster's librdkafka properties" if or_config else ""
        raise ClusterError(
            f"{props} does not exist: there is no local cluster in {data_dir}; start one "
            f"with `{start_command(data_dir)}`, or pass --data-dir{other}"
        )
    settings = ConnectionSettings.from_properties_file(props)
    require_local_cluster(data_dir, settings)
    return settings


def config_connection(config: Path, *, reach: bool = True) -> ConnectionSettings:
    """The connection a ``--config`` librdkafka properties file describes; with ``reach``,
    proven to answer."""
    if not config.exists():
        raise ClusterError(f"--config {config} does not exist")
    settings = ConnectionSettings.from_properties_file(config)
    if not reach:
        return settings
    require_reachable(
        settings,
        cluster=f"the cluster of {config}",
        fix=f"check bootstrap.servers in {config} and the network to it",
        credentials=str(config),
    )
    return settings


def kafka_connection(data_dir: Path, config: Path | None) -> ConnectionSettings:
    """``--config``'s cluster when given, else the local cluster of ``--data-dir``."""
    if config is not None:
        return config_connection(config)
    return local_connection(data_dir, or_config=True)
