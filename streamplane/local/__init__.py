"""The embedded runtime: real Apache Kafka (KRaft) from Maven Central jars, no Docker.

``fetch_runtime`` resolves the pinned jars once; ``LocalCluster`` formats, starts,
supervises and stops N combined broker+controller nodes under one data directory.
"""

from __future__ import annotations

from streamplane.local._cluster import ClusterStatus, LocalCluster, NodeStatus, open_cluster
from streamplane.local._console_service import ConsoleProcess
from streamplane.local._fetch import (
    KafkaRuntime,
    cached_runtime,
    fetch_runtime,
    pinned_kafka_version,
)
from streamplane.local._java import MIN_JAVA_MAJOR, JavaRuntime, find_java
from streamplane.local._layout import (
    ADMIN_USER,
    DEFAULT_DATA_DIR,
    ClusterState,
    Credentials,
    DataDir,
    NodeAddress,
    node_address,
)
from streamplane.local._postgres import LocalPostgres
from streamplane.local._process import JvmOptions, tagged_node_processes
from streamplane.local._reach import require_local_cluster, start_command
from streamplane.local._services import RegistryProcess, ServiceStatus
from streamplane.local._slo_services import CanaryProcess, PrometheusProcess, find_prometheus

__all__ = [
    "ADMIN_USER",
    "DEFAULT_DATA_DIR",
    "MIN_JAVA_MAJOR",
    "CanaryProcess",
    "ClusterState",
    "ClusterStatus",
    "ConsoleProcess",
    "Credentials",
    "DataDir",
    "JavaRuntime",
    "JvmOptions",
    "KafkaRuntime",
    "LocalCluster",
    "LocalPostgres",
    "NodeAddress",
    "NodeStatus",
    "PrometheusProcess",
    "RegistryProcess",
    "ServiceStatus",
    "cached_runtime",
    "fetch_runtime",
    "find_java",
    "find_prometheus",
    "node_address",
    "open_cluster",
    "pinned_kafka_version",
    "require_local_cluster",
    "start_command",
    "tagged_node_processes",
]
