"""A loaded, validated spec with the indexes every reconciler needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from streamplane.model._types import Application, Cluster, Domain, Platform, Tenant, Topic
from streamplane.model._yaml import Path_, SourceMap


@dataclass(frozen=True)
class TopicEntry:
    """A topic with its owners and the place it was written."""

    full_name: str
    tenant: Tenant
    domain: Domain
    topic: Topic
    path: Path_


@dataclass(frozen=True)
class ApplicationEntry:
    tenant: Tenant
    domain: Domain
    app: Application
    path: Path_

    @property
    def principal(self) -> str:
        return self.app.principal or self.app.name

    @property
    def consumer_group(self) -> str:
        return self.app.consumer_group or f"{self.tenant.namespace}{self.app.name}"


@dataclass
class Spec:
    """The platform spec plus where each part of it came from."""

    platform: Platform
    source: SourceMap
    root: Path
    topics: dict[str, TopicEntry] = field(default_factory=dict)
    applications: dict[str, ApplicationEntry] = field(default_factory=dict)

    @classmethod
    def index(cls, platform: Platform, source: SourceMap, root: Path) -> Spec:
        spec = cls(platform=platform, source=source, root=root)
        for ti, tenant in enumerate(platform.tenants):
            for di, domain in enumerate(tenant.domains):
                for pi, topic in enumerate(domain.topics):
                    name = full_topic_name(tenant, domain, topic)
                    path: Path_ = ("tenants", ti, "domains", di, "topics", pi)
                    spec.topics.setdefault(name, TopicEntry(name, tenant, domain, topic, path))
                for ai, app in enumerate(domain.applications):
                    path = ("tenants", ti, "domains", di, "applications", ai)
                    spec.applications.setdefault(
                        app.name, ApplicationEntry(tenant, domain, app, path)
                    )
        return spec

    def cluster(self, name: str | None = None) -> Cluster:
        """The named cluster, or the only one / the local one when no name is given."""
        clusters = self.platform.clusters
        if name is not None:
            for cluster in clusters:
                if cluster.name == name:
                    return cluster
            raise KeyError(name)
        local = [c for c in clusters if c.local]
        if len(local) == 1:
            return local[0]
        if len(clusters) == 1:
            return clusters[0]
        raise KeyError("no default cluster: pass --cluster")

    def local_clusters(self) -> list[Cluster]:
        return [c for c in self.platform.clusters if c.local]

    def local_folder(self, cluster: Cluster) -> str:
        """A local cluster's folder under the --data-dir root ("" for the root itself).

        The only local cluster keeps the root (``.streamplane``), as before there could be
        several; with several, each has a folder of its own, named by ``data_dir`` or after
        the cluster.
        """
        if cluster.data_dir is not None:
            return cluster.data_dir
        return "" if len(self.local_clusters()) < 2 else cluster.name

    def local_data_dir(self, cluster: Cluster, root: Path) -> Path:
        """Where the local ``cluster`` keeps its data, given the --data-dir root."""
        folder = self.local_folder(cluster)
        return root / folder if folder else root

    def topics_on(self, cluster: str) -> list[TopicEntry]:
        return [t for t in self.topics.values() if cluster in t.tenant.clusters]

    def applications_on(self, cluster: str) -> list[ApplicationEntry]:
        return [a for a in self.applications.values() if cluster in a.tenant.clusters]

    def tenant_of_topic(self, name: str) -> Tenant | None:
        """The tenant whose namespace a (possibly unknown) topic name falls in."""
        for tenant in self.platform.tenants:
            if name.startswith(tenant.namespace):
                return tenant
        return None


def full_topic_name(tenant: Tenant, domain: Domain, topic: Topic) -> str:
    """The Kafka name: by convention, unless the entry pins a legacy name with ``full_name``."""
    if topic.full_name is not None:
        return topic.full_name
    return f"{tenant.namespace}{domain.name}.{topic.name}"
