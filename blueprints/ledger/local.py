"""The ledger on a local cluster (``make ledger``, its integration tests, its benchmark):
writers, projectors and the API as processes of ``python -m blueprints.ledger``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from blueprints._local import LocalBlueprint

SPEC_DIR = Path(__file__).parent / "spec"


class LocalLedger(LocalBlueprint):
    module = "blueprints.ledger"

    def __init__(self, data_dir: Path, *, port_offset: int, spec_dir: Path = SPEC_DIR) -> None:
        super().__init__(data_dir, port_offset=port_offset, spec_dir=spec_dir, tiered=True)
        self.api_port = 8090 + port_offset

    def up_with_everything(self, *, writers: int = 2, reporting: str | None = None) -> None:
        """The cluster with the spec, ``writers`` writers, the live projection (and the
        PostgreSQL one at ``reporting``), then the API once the projection exists."""
        self.up()
        for instance in range(writers):
            self.start_writer(instance)
        self.start_projector()
        if reporting is not None:
            self.start_reporting(reporting)
        self.wait(lambda: self.projection().exists(), "the projection's database")
        self.start_api()

    def projection(self, name: str = "live") -> Path:
        return self.data_dir / "ledger" / f"{name}.db"

    def start_writer(self, instance: int) -> subprocess.Popen[bytes]:
        return self.start(f"writer-{instance}", "write", "--instance", str(instance))

    def start_projector(
        self, name: str = "live", *, app: str = "ledger-projector"
    ) -> subprocess.Popen[bytes]:
        path = self.projection(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return self.start(f"projector-{name}", "project", "--app", app, "--sqlite", str(path))

    def start_reporting(self, conninfo: str) -> subprocess.Popen[bytes]:
        """The PostgreSQL projection (application ``ledger-reporting``)."""
        return self.start(
            "projector-reporting", "project", "--app", "ledger-reporting", "--postgres", conninfo
        )

    def start_api(self) -> subprocess.Popen[bytes]:
        path = self.projection("live")
        path.parent.mkdir(parents=True, exist_ok=True)
        process = self.start("api", "api", "--sqlite", str(path), "--port", str(self.api_port))
        self.wait(self._serving, "the ledger API", process=process)
        return process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def _serving(self) -> bool:
        try:
            return httpx.get(f"{self.url}/openapi.json", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False
