"""The ``streamplane`` command: a thin typer app; logic lives in the capability packages."""

from __future__ import annotations

from streamplane.cli._app import app, main

__all__ = ["app", "main"]
