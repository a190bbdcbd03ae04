"""OpenLineage run events for the estate's applications, so Marquez or DataHub can ingest
the lineage the spec declares.

Each application is a streaming job (``jobType`` APPLICATION, ``integration`` STREAMPLANE)
whose inputs are the topics it consumes and outputs the topics it produces; each topic is
a dataset named as OpenLineage's naming spec names Kafka topics (namespace
``kafka://<first bootstrap host:port>``, name the topic), with its schema's fields and its
owner. A streaming job never completes, so each gets one ``RUNNING`` event: the state it
is in while deployed. Events are built with the official ``openlineage-python`` classes,
which also serialize them, so they follow the spec's schema by construction.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    datasource_dataset,
    documentation_job,
    job_type_job,
    ownership_dataset,
    ownership_job,
    schema_dataset,
)
from openlineage.client.serde import Serde
from openlineage.client.uuid import generate_new_uuid

from streamplane.lineage.asyncapi import LOCAL_BOOTSTRAP
from streamplane.model import ApplicationEntry, Spec, TopicEntry
from streamplane.model._schema_contract import field_tags

#: The URI OpenLineage asks every event and facet to name its producer with.
PRODUCER = "streamplane://lineage"
JOB_NAMESPACE_PREFIX = "streamplane://"


def kafka_namespace(spec: Spec, entry: TopicEntry) -> str:
    """``kafka://host:port`` of the first cluster the topic's tenant is on."""
    for cluster in spec.platform.clusters:
        if cluster.name in entry.tenant.clusters:
            bootstrap = cluster.bootstrap_servers or (LOCAL_BOOTSTRAP if cluster.local else None)
            if bootstrap:
                return f"kafka://{bootstrap.split(',')[0].strip()}"
    return f"kafka://{entry.tenant.clusters[0]}"


def lineage_events(spec: Spec, *, at: datetime | None = None) -> list[RunEvent]:
    """One RUNNING event per application of the spec, in spec order."""
    when = (at or datetime.now(UTC)).isoformat()
    return [_event(spec, app, when) for app in spec.applications.values()]


def to_json_lines(events: list[RunEvent]) -> str:
    return "".join(Serde.to_json(event) + "\n" for event in events)


def _event(spec: Spec, app: ApplicationEntry, when: str) -> RunEvent:
    owner = app.domain.owner or app.tenant.owners[0]
    job = Job(
        namespace=f"{JOB_NAMESPACE_PREFIX}{app.tenant.name}",
        name=f"{app.domain.name}.{app.app.name}",
        facets={
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="STREAMING", integration="STREAMPLANE", jobType="APPLICATION",
                producer=PRODUCER,
            ),
            "ownership": ownership_job.OwnershipJobFacet(
                owners=[ownership_job.Owner(name=owner, type="TEAM")], producer=PRODUCER
            ),
            "documentation": documentation_job.DocumentationJobFacet(
                description=(
                    f"Application {app.app.name} of tenant {app.tenant.name}, domain "
                    f"{app.domain.name}, as the platform spec declares it."
                ),
                producer=PRODUCER,
            ),
        },
    )  # fmt: skip
    inputs = [
        InputDataset(**_dataset(spec, spec.topics[t])) for t in app.app.consumes if t in spec.topics
    ]
    outputs = [
        OutputDataset(**_dataset(spec, spec.topics[t]))
        for t in app.app.produces
        if t in spec.topics
    ]
    return RunEvent(
        eventType=RunState.RUNNING,
        eventTime=when,
        run=Run(runId=str(generate_new_uuid())),
        job=job,
        inputs=inputs,
        outputs=outputs,
        producer=PRODUCER,
    )


def _dataset(spec: Spec, entry: TopicEntry) -> dict[str, Any]:
    namespace = kafka_namespace(spec, entry)
    owner = entry.topic.owner or entry.domain.owner or entry.tenant.owners[0]
    facets: dict[str, Any] = {
        "dataSource": datasource_dataset.DatasourceDatasetFacet(
            name=namespace, uri=namespace, producer=PRODUCER
        ),
        "ownership": ownership_dataset.OwnershipDatasetFacet(
            owners=[ownership_dataset.Owner(name=owner, type="TEAM")], producer=PRODUCER
        ),
    }
    fields = field_tags(spec, entry, "value")
    if fields:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(
                    name=name.rsplit(".", 1)[-1],
                    description=f"{name}; tags: {', '.join(sorted(tags))}" if tags else name,
                )
                for name, tags in fields.items()
            ],
            producer=PRODUCER,
        )
    return {"namespace": namespace, "name": entry.full_name, "facets": facets}


def parse_json_lines(text: str) -> list[dict[str, Any]]:
    """The events of a JSON-lines export, as dicts (for tests and tools)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]
