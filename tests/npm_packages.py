"""Node packages some tests run, installed from their folder's pinned lock file on first use."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def npm_ci(folder: Path) -> None:
    """``npm ci`` in ``folder`` when its node_modules is missing or older than the lock file."""
    marker = folder / "node_modules" / ".package-lock.json"
    lock = folder / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    assert npm is not None, f"npm is not installed: {folder.name} needs Node.js and npm"
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=folder, check=True, timeout=600,
    )  # fmt: skip
