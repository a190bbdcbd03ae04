"""Run the real CLI in a subprocess, as a user does, and time the command itself.

The subprocess calls the CLI's entry point exactly as the ``streamplane`` script does, with
stdout and stderr captured at the file-descriptor level (where librdkafka writes its own
lines when nobody routes them). It records, after the CLI's imports, how long the command
took and the CPU time the whole process used: on a loaded machine, seconds of the wall
time are the interpreter starting and importing, the same for ``--help``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

_RUN_CLI = textwrap.dedent(
    """\
    import atexit, os, resource, sys, time
    from streamplane.cli import main
    started = time.monotonic()
    def record():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        with open(os.environ["TIMING_FILE"], "w") as out:
            out.write(f"{time.monotonic() - started} {usage.ru_utime + usage.ru_stime}")
    atexit.register(record)
    sys.argv[0] = "streamplane"
    main()
    """
)


@dataclass(frozen=True)
class Outcome:
    """How a CLI run ended: exit code, its non-blank output lines, and its times."""

    code: int
    lines: list[str]
    #: From starting the interpreter to its exit.
    wall_s: float
    #: From the end of the CLI's imports to exit: what the command itself took.
    command_s: float
    #: CPU time (user + system, every thread) of the whole process.
    cpu_s: float

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, label: str | None = None
) -> Outcome:
    """``streamplane ARGS`` in ``cwd``; client library logs go to ``cwd/client.log``."""
    timing = cwd / f"timing-{time.monotonic_ns()}"
    inherited = {k: v for k, v in os.environ.items() if k != "STREAMPLANE_DEBUG"}
    environment = {
        **inherited,
        "TIMING_FILE": str(timing),
        "STREAMPLANE_CLIENT_LOG": str(cwd / "client.log"),
        **(env or {}),
    }
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", _RUN_CLI, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=180,
    )
    wall = time.monotonic() - started
    command_s, cpu_s = (float(v) for v in timing.read_text().split())
    timing.unlink()
    output = (result.stdout + result.stderr).splitlines()
    outcome = Outcome(
        result.returncode, [line for line in output if line.strip()], wall, command_s, cpu_s
    )
    shown = label or " ".join(args[:2])
    print(
        f"{shown:<28} exit {outcome.code}  command {command_s:5.2f}s  "
        f"cpu {cpu_s:5.2f}s  wall {wall:5.2f}s"
    )
    return outcome
