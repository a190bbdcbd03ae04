"""Is the local cluster running? Its pid files answer first, without touching the network.

A stopped local cluster is the common case of "Kafka is away" (after ``down``, a reboot,
or before the first ``up``): the pid files of its data directory say so in a millisecond,
and the message can say exactly how to start it. Only when a node process is alive does
the bounded network probe of :mod:`streamplane.kafka._reach` run.
"""

from __future__ import annotations

from pathlib import Path

from streamplane.errors import ClusterUnreachableError
from streamplane.kafka import ConnectionSettings
from streamplane.kafka._reach import PROBE_TIMEOUT_S, require_reachable
from streamplane.local._layout import DEFAULT_DATA_DIR, DataDir
from streamplane.local._process import running_process


def require_local_cluster(
    data_dir: Path,
    settings: ConnectionSettings,
    *,
    cluster: str | None = None,
    timeout_s: float = PROBE_TIMEOUT_S,
) -> None:
    """Raise one ClusterUnreachableError line unless the local cluster in ``data_dir`` answers.

    ``cluster`` names it in the message (a spec's "cluster local"); by default it is "the
    local cluster in <data dir>".
    """
    layout = DataDir(data_dir)
    name = cluster or f"the local cluster in {_shown(data_dir)}"
    state = layout.read_state()
    start = start_command(data_dir, nodes=state.nodes if state else 1)
    if state is not None:
        alive = [n for n in state.node_ids() if running_process(layout.node_pid_file(n))]
        if not alive:
            raise ClusterUnreachableError(
                f"{name} ({settings.bootstrap_servers}) is not running: no node process of "
                f"{_shown(data_dir)} is alive; start it with `{start}`",
                cluster=name,
                bootstrap_servers=settings.bootstrap_servers,
            )
        status = "streamplane status" + _data_dir_flag(data_dir)
        fix = f"node(s) {', '.join(map(str, alive))} run but do not answer; `{status}` shows why"
    else:
        fix = f"start it with `{start}`"
    require_reachable(
        settings,
        cluster=name,
        fix=fix,
        credentials=str(layout.admin_properties),
        timeout_s=timeout_s,
    )


def start_command(data_dir: Path, *, nodes: int = 1) -> str:
    """The ``streamplane up`` that starts the cluster of ``data_dir`` as it was formatted."""
    flags = f" --nodes {nodes}" if nodes != 1 else ""
    return f"streamplane up{flags}{_data_dir_flag(data_dir)}"


def _data_dir_flag(data_dir: Path) -> str:
    same = data_dir.resolve() == DEFAULT_DATA_DIR.resolve()
    return "" if same else f" --data-dir {_shown(data_dir)}"


def _shown(path: Path) -> Path:
    """``path`` relative to the working directory when inside it, as a user would type it."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path
