"""A throwaway PostgreSQL server on loopback, for the idempotent sink's tests and benchmarks.

Like the Kafka nodes, it is the real engine, not an emulation: the server binaries of
the distribution (``/usr/lib/postgresql/<version>/bin``, installed with
``apt-get install postgresql`` when missing), a cluster initialised in a directory of
its own, listening on 127.0.0.1 only, with a generated password, stopped and deleted
afterwards.

PostgreSQL refuses to run as root. When we are root, ``initdb`` and ``pg_ctl`` run as
the ``postgres`` system user (created by the Debian package) through ``runuser``, in a
directory that user owns.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from streamplane.errors import ClusterError
from streamplane.local._debian import apt_install
from streamplane.local._ports import ensure_ports_free

log = logging.getLogger(__name__)

#: Where Debian and Ubuntu put each major version's server binaries.
DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
#: The system user PostgreSQL runs as when we are root (created by the Debian package).
SERVICE_USER = "postgres"


def find_postgres_bin(*, install: bool = True) -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with initdb and pg_ctl.

    With ``install``, a machine without them gets Debian's ``postgresql`` package
    (``apt-get install -y``, through ``sudo -n`` when we are not root).
    """
    found = _installed_bin()
    if found is None and install:
        apt_install("postgresql")
        found = _installed_bin()
    if found is None:
        raise ClusterError(
            "PostgreSQL server binaries (initdb, pg_ctl) were not found under "
            f"{DEBIAN_BIN_GLOB}; install them with `sudo apt-get install -y postgresql`."
        )
    return found


def _installed_bin() -> Path | None:
    candidates = []
    for directory in Path("/").glob(DEBIAN_BIN_GLOB.lstrip("/")):
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            version = re.search(r"/postgresql/(\d+)", str(directory))
            candidates.append((int(version.group(1)) if version else 0, directory))
    return max(candidates)[1] if candidates else None


class LocalPostgres:
    """One PostgreSQL cluster in ``root`` (a new temporary directory by default).

    ``start`` runs initdb and the server; ``stop`` stops it and deletes the directory.
    ``conninfo`` is a libpq connection string for psycopg.
    """

    def __init__(
        self,
        *,
        port: int,
        root: Path | None = None,
        user: str = "streamplane",
        database: str = "postgres",
        install: bool = True,
    ) -> None:
        self.port = port
        self.user = user
        self.database = database
        self.install = install
        self._given_root = root
        self.root: Path | None = None
        self.password = secrets.token_urlsafe(18)
        self._bin: Path | None = None
        self._run_as = SERVICE_USER if os.geteuid() == 0 else None

    @property
    def conninfo(self) -> str:
        return (
            f"host=127.0.0.1 port={self.port} dbname={self.database} user={self.user} "
            f"password={self.password} connect_timeout=10"
        )

    @property
    def data_dir(self) -> Path:
        return self._require_root() / "data"

    @property
    def log_file(self) -> Path:
        return self._require_root() / "postgres.log"

    def start(self, *, timeout_s: float = 60.0) -> LocalPostgres:
        ensure_ports_free({self.port: "local PostgreSQL"})
        self._bin = find_postgres_bin(install=self.install)
        self.root = self._prepare_root()
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        self._own(pwfile)
        try:
            self._run(
                "initdb",
                "-D", str(self.data_dir),
                f"--username={self.user}",
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        socket_dir = self.root / "socket"
        socket_dir.mkdir()
        self._own(socket_dir)
        options = (
            f"-p {self.port} -k {socket_dir} -c listen_addresses=127.0.0.1 "
            "-c max_connections=40 -c shared_buffers=32MB"
        )
        try:
            self._run(
                "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file),
                "-o", options, "-w", "-t", str(int(timeout_s)), "start",
            )  # fmt: skip
        except ClusterError as exc:
            raise ClusterError(f"{exc}\n--- {self.log_file}\n{self._log_tail()}") from None
        return self

    def stop(self, *, timeout_s: float = 30.0) -> None:
        """Stop the server (fast shutdown) and delete its directory."""
        if self.root is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            try:
                self._run(
                    "pg_ctl", "-D", str(self.data_dir), "-m", "fast",
                    "-w", "-t", str(int(timeout_s)), "stop",
                )  # fmt: skip
            except ClusterError:
                self._kill_postmaster()
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- helpers
    def _prepare_root(self) -> Path:
        if self._given_root is not None:
            root = self._given_root
            if root.exists() and any(root.iterdir()):
                raise ClusterError(f"{root} is not empty; give LocalPostgres a new directory")
            root.mkdir(parents=True, exist_ok=True)
        else:
            root = Path(tempfile.mkdtemp(prefix="streamplane-pg-"))
        self._own(root)
        return root

    def _own(self, path: Path) -> None:
        """Hand ``path`` to the service user when we are root (the server refuses root)."""
        if self._run_as is None:
            return
        try:
            entry = pwd.getpwnam(self._run_as)
        except KeyError:
            raise ClusterError(
                f"running as root, but there is no {self._run_as!r} user to run PostgreSQL "
                "as (the Debian package creates it); run as an unprivileged user instead"
            ) from None
        os.chown(path, entry.pw_uid, entry.pw_gid)
        path.chmod(0o700)

    def _run(self, tool: str, *args: str) -> None:
        assert self._bin is not None
        cmd = [str(self._bin / tool), *args]
        if self._run_as is not None:
            cmd = ["runuser", "-u", self._run_as, "--", *cmd]
        result = subprocess.run(
            cmd, capture_output=True, text=True, check=False, cwd=self._require_root()
        )
        if result.returncode != 0:
            raise ClusterError(
                f"{tool} failed (exit {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-2000:]}"
            )

    def _kill_postmaster(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
            os.kill(pid, 9)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _require_root(self) -> Path:
        if self.root is None:
            raise ClusterError("the local PostgreSQL has not been started")
        return self.root
