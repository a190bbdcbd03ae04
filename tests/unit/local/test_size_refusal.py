"""``up`` with another node count than the data directory holds: refused, with a way out."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from streamplane.errors import DataDirError
from streamplane.local import ClusterState, DataDir, LocalCluster


def test_up_with_another_size_names_a_fresh_data_dir_for_the_cli_and_make(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    DataDir(Path(".streamplane")).write_state(ClusterState("id", 1, 0, "4.4.0"))
    # Refused before Java or the jars are needed: none are given.
    none: Any = None
    cluster = LocalCluster(Path(".streamplane"), java=none, runtime=none)
    with pytest.raises(DataDirError) as refused:
        cluster.up(nodes=3)
    message = str(refused.value)
    assert message.startswith(".streamplane holds a 1-node cluster, not 3; nothing was started")
    assert "`make up NODES=1`" in message
    assert "`streamplane up --nodes 3 --data-dir .streamplane-3`" in message
    assert "`make up NODES=3 DATA_DIR=.streamplane-3`" in message
    assert os.listdir(tmp_path) == [".streamplane"]  # nothing new was written
