from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil

from streamplane.local._process import launch, running_process, stop_processes, tail, write_pid_file

_IGNORES_TERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"


def test_pid_file_of_a_reused_pid_is_not_our_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "node.pid"
    me = psutil.Process()
    write_pid_file(pid_file, me)
    assert running_process(pid_file) == me
    # Same pid, different start time: a recycled pid must not be mistaken for the node.
    pid_file.write_text(f"{me.pid} {me.create_time() - 100:.3f}\n")
    assert running_process(pid_file) is None
    pid_file.write_text("garbage")
    assert running_process(pid_file) is None


def test_stop_escalates_to_sigkill_after_the_timeout(tmp_path: Path) -> None:
    proc = launch([sys.executable, "-c", _IGNORES_TERM], console=tmp_path / "out", cwd=tmp_path)
    time.sleep(0.5)  # let it install the handler
    started = time.monotonic()
    killed = stop_processes([proc], timeout_s=1.0)
    assert killed == [proc.pid]
    assert time.monotonic() - started < 10
    assert not psutil.pid_exists(proc.pid) or proc.status() == psutil.STATUS_ZOMBIE


def test_stop_is_clean_when_the_process_honours_sigterm(tmp_path: Path) -> None:
    proc = launch(
        [sys.executable, "-c", "import time; time.sleep(60)"], console=tmp_path / "o", cwd=tmp_path
    )
    assert stop_processes([proc], timeout_s=10) == []


def test_launched_process_outlives_its_parent_session(tmp_path: Path) -> None:
    proc = launch(
        [sys.executable, "-c", "import time; time.sleep(60)"], console=tmp_path / "o", cwd=tmp_path
    )
    try:
        assert psutil.Process(proc.pid).pid == proc.pid
        assert subprocess.run(
            ["ps", "-o", "sid=", "-p", str(proc.pid)], capture_output=True, text=True
        ).stdout.strip() == str(proc.pid)
    finally:
        stop_processes([proc], timeout_s=5)


def test_tail_returns_the_last_lines_or_nothing(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    assert tail(log) == ""
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail(log, 3) == "line 97\nline 98\nline 99"
