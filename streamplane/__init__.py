"""Streamplane: one declarative model of a Kafka estate, reconciled into real Apache Kafka."""

from __future__ import annotations

from streamplane.errors import ClusterError, StreamplaneError

__all__ = ["ClusterError", "StreamplaneError", "__version__"]

__version__ = "0.1.0"
