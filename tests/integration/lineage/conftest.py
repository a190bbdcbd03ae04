"""Lineage tests run on the client tests' estate: the small spec, its registry, cluster1."""

from tests.integration.client.conftest import Estate, estate, registry

__all__ = ["Estate", "estate", "registry"]
