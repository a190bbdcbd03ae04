"""The official AsyncAPI parser (npm), installed from the pinned lock file on first use."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent / "asyncapi"
CHECK = HERE / "check.mjs"


def install() -> None:
    """``npm ci`` when node_modules is missing or older than the lock file."""
    marker = HERE / "node_modules" / ".package-lock.json"
    lock = HERE / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    assert npm is not None, "npm is not installed: the AsyncAPI check needs Node.js and npm"
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=HERE, check=True, timeout=600,
    )  # fmt: skip


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
