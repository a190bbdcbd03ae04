"""The canary (with the SLO monitor) and Prometheus as supervised services of a cluster.

The canary runs as ``streamplane canary run`` with the spec, serves its metrics on 8087 +
the cluster's port offset and is ready once it has written its status file. Prometheus is
Debian's ``prometheus`` package (installed on first use), on 8089 + the port offset with
its data in ``<data dir>/prometheus``; it scrapes the canary, and every application whose
metrics endpoint is listed in ``<data dir>/prometheus/targets/*.json`` (Prometheus'
file-based discovery: ``[{"targets": ["127.0.0.1:9300"]}]``), and evaluates the rules
``streamplane slo rules`` generates from the spec.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx
import yaml

from streamplane.errors import ClusterError
from streamplane.local._debian import apt_install
from streamplane.local._layout import DataDir
from streamplane.local._ports import ensure_ports_free
from streamplane.local._process import SERVICE_TAG
from streamplane.local._services import HttpServiceProcess, StatusFileServiceProcess

CANARY_METRICS_PORT = 8087
PROMETHEUS_PORT = 8089


class CanaryProcess(StatusFileServiceProcess):
    name = "canary"
    label = "the canary"

    def __init__(self, data_dir: DataDir, *, port_offset: int = 0) -> None:
        self.dir = data_dir
        self.home = data_dir.root / "canary"
        self.pid_file = self.home / "canary.pid"
        self.log_file = self.home / "canary.log"
        self.status_file: Path = self.home / "status.json"
        self.metrics_port = CANARY_METRICS_PORT + port_offset

    def not_ready(self, timeout_s: float) -> str:
        return f"{self.label} wrote no status within {timeout_s:.0f}s"

    def start(
        self,
        *,
        spec: Path | None = None,
        timeout_s: float = 60.0,
        options: Sequence[str] = (),
    ) -> None:
        """Start unless running; ``options`` are extra ``canary run`` options (tests use
        short intervals)."""
        if self.process() is not None:
            return
        ensure_ports_free({self.metrics_port: "canary metrics"})
        self.status_file.unlink(missing_ok=True)
        cmd = [
            sys.executable, "-m", "streamplane", "canary", "run", "--data-dir", str(self.dir.root),
            "--metrics-port", str(self.metrics_port), f"{SERVICE_TAG}{self.dir.root}", *options,
        ]  # fmt: skip
        if spec is not None:
            cmd += ["--spec", str(spec.resolve())]
        self._launch(cmd, timeout_s=timeout_s)


def find_prometheus(*, install: bool = True) -> Path:
    """The ``prometheus`` binary; with ``install``, Debian's package when it is missing."""
    found = shutil.which("prometheus")
    if found is None and install:
        apt_install("prometheus")
        found = shutil.which("prometheus")
    if found is None:
        raise ClusterError(
            "prometheus was not found on PATH; install it with `sudo apt-get install -y prometheus`"
        )
    return Path(found)


class PrometheusProcess(HttpServiceProcess):
    name = "prometheus"
    label = "Prometheus"
    stop_timeout_s = 20.0

    def __init__(self, data_dir: DataDir, *, port_offset: int = 0) -> None:
        self.dir = data_dir
        self.port = PROMETHEUS_PORT + port_offset
        self.canary_port = CANARY_METRICS_PORT + port_offset
        self.url = f"http://127.0.0.1:{self.port}"
        self.home = data_dir.root / "prometheus"
        self.pid_file = self.home / "prometheus.pid"
        self.log_file = self.home / "prometheus.log"
        self.config_file = self.home / "prometheus.yml"
        self.rules_file = self.home / "rules.yml"
        self.targets_dir = self.home / "targets"

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def write_config(self, *, scrape_interval_s: float = 5.0) -> None:
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        interval = f"{max(1, round(scrape_interval_s))}s"
        config = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [str(self.rules_file)],
            "scrape_configs": [
                {
                    "job_name": "streamplane-canary",
                    "static_configs": [{"targets": [f"127.0.0.1:{self.canary_port}"]}],
                },
                {
                    "job_name": "streamplane-applications",
                    "file_sd_configs": [
                        {"files": [str(self.targets_dir / "*.json")], "refresh_interval": interval}
                    ],
                },
            ],
        }
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        if not self.rules_file.exists():
            self.rules_file.write_text("groups: []\n")

    def start(self, *, timeout_s: float = 60.0, scrape_interval_s: float = 5.0) -> None:
        """Start unless running (rules: write ``rules_file`` first); ready on /-/ready."""
        if self.process() is not None:
            return
        binary = find_prometheus()
        ensure_ports_free({self.port: "Prometheus"})
        self.home.mkdir(parents=True, exist_ok=True)
        self.write_config(scrape_interval_s=scrape_interval_s)
        cmd = [
            str(binary), f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.home / 'data'}", "--storage.tsdb.retention.time=35d",
            f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-lifecycle",
        ]  # fmt: skip
        self._launch(cmd, timeout_s=timeout_s)

    def reload(self) -> None:
        """Read the config and rules again (after ``slo rules`` rewrote them)."""
        httpx.post(f"{self.url}/-/reload", timeout=10).raise_for_status()
