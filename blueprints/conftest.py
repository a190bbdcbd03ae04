"""The blueprints' tests: those under a ``tests/integration`` folder need a real cluster
(they start it) and run with the integration tier; the rest run with the unit tier."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)
