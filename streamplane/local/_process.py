"""Start, identify and stop node JVMs.

A pid file alone is not proof: pids are reused. Each pid file also records the
process start time, and a process only counts as our node when both match.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

#: System property tagging every JVM we start with its node directory; lets a
#: test session (or an operator) find and stop strays even without pid files.
NODE_TAG = "-Dstreamplane.node="


@dataclass(frozen=True)
class JvmOptions:
    """Memory and GC settings of a node JVM, sized so three nodes fit a 2-core machine."""

    heap_max_mb: int = 512
    heap_initial_mb: int = 128

    def args(self) -> list[str]:
        return [
            f"-Xms{self.heap_initial_mb}m",
            f"-Xmx{self.heap_max_mb}m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent",
            "-XX:+ExitOnOutOfMemoryError",
            "-XX:ReservedCodeCacheSize=96m",
            "-XX:MaxMetaspaceSize=192m",
            "-Djava.awt.headless=true",
        ]


def _since_boot(proc: psutil.Process) -> float:
    """When the process started, in seconds since boot.

    Not its wall-clock start time: psutil derives that from the boot time the kernel
    reports now, which moves whenever the system clock is stepped (NTP, a VM resumed), so
    a start time recorded earlier would no longer match and our own process would look
    gone. Seconds since boot never move.
    """
    return proc.create_time() - psutil.boot_time()


def write_pid_file(path: Path, proc: psutil.Process) -> None:
    path.write_text(f"{proc.pid} {proc.create_time():.3f} {_since_boot(proc):.3f}\n")


def running_process(pid_file: Path) -> psutil.Process | None:
    """The live process a pid file names, or None if it exited or the pid was reused."""
    try:
        fields = pid_file.read_text().split()
        proc = psutil.Process(int(fields[0]))
        if len(fields) >= 3:
            if abs(_since_boot(proc) - float(fields[2])) > 0.05:
                return None
        elif abs(proc.create_time() - float(fields[1])) > 0.01:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except (OSError, ValueError, psutil.Error):
        return None


def launch(
    cmd: list[str], *, console: Path, cwd: Path, env: dict[str, str] | None = None
) -> psutil.Process:
    """Start a detached process (own session) so it outlives the CLI that started it."""
    console.parent.mkdir(parents=True, exist_ok=True)
    with console.open("ab") as out:
        popen = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
    return psutil.Process(popen.pid)


def stop_processes(procs: Iterable[psutil.Process], *, timeout_s: float) -> list[int]:
    """SIGTERM all at once (a clean, flushed shutdown), SIGKILL what outlives the timeout.

    Nodes are stopped together, not one by one: a combined node's controlled
    shutdown needs a controller quorum, so the last node of a sequential stop
    would wait for a majority that is already gone. Returns the pids killed.
    """
    procs = list(procs)
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(procs, timeout=timeout_s)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=10)
    return [p.pid for p in alive]


#: Prefix of the argument that tags a platform service (e.g. the registry) with its data dir.
SERVICE_TAG = "--data-dir="
#: Tags a MirrorMaker 2 JVM with its flow's folder (under the data dir it replicates for).
MIRROR_TAG = "-Dstreamplane.mirror="


def tagged_node_processes(under: Path) -> list[psutil.Process]:
    """Every node JVM and platform service whose data lies under ``under`` (strays included)."""
    prefixes = tuple(tag + str(under.resolve()) for tag in (NODE_TAG, SERVICE_TAG, MIRROR_TAG))
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if any(arg.startswith(prefixes) for arg in cmdline) and proc.pid != os.getpid():
            found.append(proc)
    return found


def tail(path: Path, lines: int = 40) -> str:
    """Last lines of a log file, or '' when it does not exist yet."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_until(predicate: Callable[[], bool], *, timeout_s: float, interval_s: float = 0.2) -> bool:
    """Poll ``predicate()`` until true or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
