"""The official AsyncAPI parser (npm), installed from the pinned lock file on first use."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.npm_packages import npm_ci

HERE = Path(__file__).resolve().parent / "asyncapi"
CHECK = HERE / "check.mjs"


def install() -> None:
    npm_ci(HERE)


def parse(*files: Path) -> tuple[int, list[dict[str, Any]]]:
    """Exit code and one report per file (``errors``, ``channels``, ``operations``)."""
    install()
    node = shutil.which("node")
    assert node is not None, "node is not installed"
    result = subprocess.run(
        [node, str(CHECK), *map(str, files)], capture_output=True, text=True, timeout=300
    )
    reports = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(reports) == len(files), result.stdout + result.stderr
    return result.returncode, reports
