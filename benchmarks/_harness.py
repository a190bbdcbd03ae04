"""Shared by the benchmark scripts: scratch clusters, timing, and the report format.

Every script prints its figure beside a baseline measured in the same run, so a
ratio survives a noisy machine even when the absolute numbers do not.
"""

from __future__ import annotations

import shutil
import signal
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streamplane.local import JvmOptions, LocalCluster, open_cluster
from streamplane.model import Spec, load_spec
from streamplane.reconcile import apply_plan, compute_plan, connect

# SIGTERM (e.g. a CI timeout) should still run the `finally` that stops the cluster.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

#: Benchmarks run beside a developer's `make up` cluster and the test clusters; ports
#: stay below the kernel's ephemeral range (see streamplane.local._ports).
PORT_OFFSET = 22000


@contextmanager
def scratch_cluster(
    name: str, *, nodes: int, port_offset: int = PORT_OFFSET, jvm: JvmOptions | None = None
) -> Iterator[LocalCluster]:
    """A started cluster in a temporary directory, stopped and deleted afterwards."""
    root = Path(tempfile.mkdtemp(prefix=f"sp-bench-{name}-"))
    cluster = open_cluster(root / "data", jvm=jvm)
    try:
        cluster.up(nodes=nodes, port_offset=port_offset)
        yield cluster
    finally:
        cluster.down(timeout_s=20)
        shutil.rmtree(root, ignore_errors=True)


def median(values: list[float]) -> float:
    return statistics.median(values)


def report(rows: list[tuple[str, str, str]], *, title: str) -> None:
    """Print a figure/baseline table (plain text: it goes into the README as is)."""
    width = max(len(r[0]) for r in rows)
    print(f"\n{title}")
    print(f"{'figure'.ljust(width)}  {'streamplane':>16}  {'baseline':>16}")
    for label, ours, base in rows:
        print(f"{label.ljust(width)}  {ours:>16}  {base:>16}")


#: platform.yaml's start for a spec of a 1-node benchmark cluster (no prod rules).
ONE_NODE_PLATFORM = """\
clusters:
  - {name: local, local: true, environment: dev, brokers: 1}
policy:
  rules:
    replication:
      exemptions: [{resource: '*', reason: 'one-node benchmark cluster'}]
"""


def write_one_node_spec(root: Path, tenants: str) -> None:
    """A spec directory for a 1-node benchmark cluster: the platform, then ``tenants:``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "platform.yaml").write_text(ONE_NODE_PLATFORM + tenants)


def apply_spec_dir(root: Path, cluster: LocalCluster) -> Spec:
    """Plan and apply the spec in ``root`` to ``cluster``, as `streamplane apply` does."""
    spec = load_spec(root)
    target = connect(spec, data_dir=cluster.dir.root)
    apply_plan(compute_plan(spec, target).plan, spec, target)
    return spec
