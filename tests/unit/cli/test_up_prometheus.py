"""`up` and Prometheus: started for a spec with SLOs, but a machine that cannot install it
still comes up (with a warning) unless --prometheus asked for it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from streamplane.cli import local as local_cli
from streamplane.errors import ClusterError
from streamplane.local import CanaryProcess, DataDir, PrometheusProcess
from streamplane.model import load_spec

EXAMPLE = Path(__file__).parents[3] / "examples" / "platform"


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(CanaryProcess, "process", lambda self: object())  # running already

    def refuse(self: PrometheusProcess, **_: object) -> None:
        raise ClusterError(
            "prometheus was not found on PATH; install it with `sudo apt-get install -y prometheus`"
        )

    monkeypatch.setattr(PrometheusProcess, "process", lambda self: None)
    monkeypatch.setattr(PrometheusProcess, "start", refuse)
    state = SimpleNamespace(port_offset=0)
    return SimpleNamespace(dir=DataDir(tmp_path), require_state=lambda: state)


def target(spec: Path | None) -> Any:
    return SimpleNamespace(spec=load_spec(spec) if spec else None)


def test_a_spec_with_slos_comes_up_without_prometheus_when_it_cannot_be_installed(
    cluster: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    local_cli._start_slo_services(cluster, target(EXAMPLE), canary=True, prometheus=None, timeout=5)
    out = capsys.readouterr().out
    assert "not started Prometheus: prometheus was not found on PATH" in " ".join(out.split())
    # The rules were still written, for a Prometheus of the user's own.
    assert "StreamplaneSLOFastBurn" in (cluster.dir.root / "prometheus" / "rules.yml").read_text()


def test_asking_for_prometheus_makes_its_absence_an_error(cluster: Any) -> None:
    with pytest.raises(ClusterError, match="apt-get install -y prometheus"):
        local_cli._start_slo_services(
            cluster, target(EXAMPLE), canary=True, prometheus=True, timeout=5
        )
