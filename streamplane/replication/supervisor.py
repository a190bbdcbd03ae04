"""Keep one flow's MirrorMaker 2 JVM running: start it, restart it when it dies, stop it.

MM2 keeps its progress in Kafka (the source offsets in ``mm2-offsets.<source>.internal``,
flushed every 2 s), so a restarted MM2 resumes where its last flush left it: records
copied since are copied again (duplicates on the target), none is skipped. The
supervisor therefore only has to notice the death and start a new JVM, backing off when
MM2 dies right after starting (a bad password, a missing ACL) so its log is not flooded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from types import FrameType

import psutil

from streamplane.local._fetch import fetch_mirror_runtime
from streamplane.local._java import find_java
from streamplane.local._layout import write_public_file, write_secret_file
from streamplane.local._mirror_service import MIRROR_TAG, MirrorProcess

#: The line the supervisor writes to mm2.log before each start: errors before the last
#: one belong to an earlier run.
START_MARK = "=== streamplane: starting MirrorMaker 2"
#: MM2 ran this long: its next death is not a crash loop, restart at once.
STABLE_S = 60.0
MAX_BACKOFF_S = 30.0

_LOG4J2 = """\
# MirrorMaker 2 under `streamplane replicate run`: INFO to stdout (the supervisor writes
# it to mm2.log), Connect's chattiest loggers at WARN.
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
"""


@dataclass
class SupervisorState:
    """What ``status.json`` says: the JVM now, and how often it had to be restarted."""

    mm2_pid: int | None = None
    started_at: float = 0.0
    restarts: int = 0
    last_exit: int | None = None
    exits: list[dict[str, float | int]] = field(default_factory=list)


class Supervisor:
    def __init__(self, service: MirrorProcess, properties: str) -> None:
        self.service = service
        self.properties = properties
        self.state = SupervisorState()
        self.stopping = threading.Event()
        self.child: subprocess.Popen[bytes] | None = None

    def _command(self) -> list[str]:
        home = self.service.home
        lib = fetch_mirror_runtime()
        log_config = home / "log4j2.properties"
        log_config.write_text(_LOG4J2)
        return [
            str(find_java().executable), "-Xms128m", "-Xmx512m", "-XX:+UseG1GC",
            "-XX:+ExitOnOutOfMemoryError", f"-Dlog4j2.configurationFile={log_config}",
            f"-Dkafka.logs.dir={home}", f"{MIRROR_TAG}{home.resolve()}",
            "-cp", f"{lib}/*", "org.apache.kafka.connect.mirror.MirrorMaker",
            str(self.service.config_file), "--clusters", self.service.target,
        ]  # fmt: skip

    def _write_status(self) -> None:
        write_public_file(self.service.status_file, json.dumps(vars(self.state), indent=2))

    def _kill_strays(self) -> None:
        """An MM2 JVM of this flow that outlived a supervisor killed with -9."""
        tag = f"{MIRROR_TAG}{self.service.home.resolve()}"
        for proc in psutil.process_iter(["cmdline"]):
            if tag in (proc.info.get("cmdline") or []):
                with contextlib.suppress(psutil.Error):
                    proc.kill()
                    proc.wait(10)

    def _on_term(self, signum: int, frame: FrameType | None) -> None:
        self.stopping.set()
        child = self.child
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    def run(self) -> None:
        """Until SIGTERM: keep MM2 running. MM2 gets SIGTERM too and 25 s to stop cleanly."""
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        write_secret_file(self.service.config_file, self.properties)
        self._kill_strays()
        cmd = self._command()
        backoff = 1.0
        while not self.stopping.is_set():
            with self.service.mm2_log.open("ab") as out:
                out.write(f"{START_MARK} {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
                out.flush()
                self.child = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
                )
            self.state.mm2_pid = self.child.pid
            self.state.started_at = time.time()
            self._write_status()
            code = self.child.wait()
            ran = time.time() - self.state.started_at
            self.state.mm2_pid = None
            self.state.last_exit = code
            if self.stopping.is_set():
                break
            self.state.restarts += 1
            self.state.exits = [*self.state.exits[-9:], {"at": time.time(), "code": code}]
            self._write_status()
            print(f"MM2 exited with {code} after {ran:.1f}s; restarting", flush=True)
            backoff = 1.0 if ran > STABLE_S else min(MAX_BACKOFF_S, backoff * 2)
            self.stopping.wait(backoff if ran <= STABLE_S else 0.5)
        child = self.child
        if child is not None and child.poll() is None:
            try:
                child.wait(25)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self._write_status()
        os._exit(0)


def supervise(service: MirrorProcess, properties: str) -> None:
    Supervisor(service, properties).run()
