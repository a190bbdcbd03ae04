"""``python -m streamplane.ops.rebalance.janitor STATE_DIR PID``: outlive an executor.

Started detached by :class:`~streamplane.ops.rebalance.executor.Executor`; waits for its
pid to exit and, when it died mid-run, removes the replication throttles it had set
(:func:`~streamplane.ops.rebalance.executor.clean_up_after`). A clean exit leaves
nothing to do.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psutil

from streamplane.kafka import ConnectionSettings
from streamplane.ops.rebalance.executor import StateDir, clean_up_after


def main(state_root: str, pid: str) -> int:
    state = StateDir(Path(state_root))
    try:
        executor = psutil.Process(int(pid))
        while executor.is_running() and executor.status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.5)
    except psutil.NoSuchProcess:
        pass
    record = state.read()
    if record is None or not record.connection:
        return 0
    settings = ConnectionSettings.from_properties_file(Path(record.connection))
    if clean_up_after(state, settings, int(pid)):
        print(f"executor {pid} died: throttles removed, run marked interrupted", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
