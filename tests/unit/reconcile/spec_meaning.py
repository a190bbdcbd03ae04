"""What a spec means for one cluster, normalised, to compare two specs by meaning.

An imported spec and the spec that was applied differ in layout (file names, shortcuts
against ``configs``, the order of lists that are sets), never in meaning: this compares
what each derives for Kafka and the registry, and every declared fact beside it.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from streamplane.model import Spec
from streamplane.reconcile import desired_keks, desired_schemas, desired_state
from streamplane.reconcile._contracts import canonical
from streamplane.registry import policy_from_spec


def meaning(spec: Spec, cluster_name: str = "local") -> dict[str, Any]:
    """What a spec means for one cluster, normalised so that equal meaning compares
    equal: what it derives for Kafka and the registry, and every declared fact beside it
    (order of produces/consumes ignored, shortcuts folded into configs, schemas parsed,
    credentials left out: import never manages a credential it did not create)."""
    desired = desired_state(spec, cluster_name)
    cluster = spec.cluster(cluster_name)
    return {
        "cluster": cluster.model_dump(exclude={"name"}),
        "encryption": spec.platform.encryption,
        "policy": spec.platform.policy,
        "deletion": spec.platform.deletion,
        "quotas": sorted(q.model_dump_json() for q in spec.platform.quotas),
        "acl_exceptions": spec.platform.acl_exceptions,
        "kafka": {
            "topics": {n: asdict(t) for n, t in desired.topics.items()},
            "acls": set(desired.acls),
            "quotas": desired.quotas,
            "principals": desired.principals,
        },
        "schemas": {
            s.subject: (
                s.schema_type,
                _parsed(s.schema_type, s.text),
                s.compatibility,
                canonical(s.contract),
                s.group,
                s.pii,
                s.public,
                s.successor,
            )
            for s in desired_schemas(spec, cluster_name)
        },
        "keks": [
            (k.name, k.kms_type, k.kms_key_id, k.tenant, k.doc)
            for k in desired_keks(spec, cluster_name)
        ],
        "registry_access": policy_from_spec(spec, cluster=cluster_name),
        "tenants": {
            t.name: (
                t.owners,
                t.namespace,
                t.clusters,
                t.quotas,
                t.encryption,
                {d.name: d.owner for d in t.domains},
            )
            for t in spec.platform.tenants
        },
        "topics": {
            name: {
                **entry.topic.model_dump(
                    exclude={
                        "name",
                        "configs",
                        "retention",
                        "cleanup_policy",
                        "compression",
                        "key_schema",
                        "value_schema",
                        # Intent only: import finds the twin, vault and masker it derives
                        # as topics and an application, which compare equal above.
                        "masked_twin",
                    },
                ),
                "configs": desired.topics[name].configs,
                "schemas": [
                    r is not None for r in (entry.topic.key_schema, entry.topic.value_schema)
                ],
            }
            for name, entry in spec.topics.items()
        },
        "applications": {
            name: {
                **entry.app.model_dump(exclude={"credentials", "produces", "consumes"}),
                "produces": set(entry.app.produces),
                "consumes": set(entry.app.consumes),
                "tenant": entry.tenant.name,
                "domain": entry.domain.name,
            }
            for name, entry in spec.applications.items()
        },
    }


def _parsed(schema_type: str, text: str) -> Any:
    return json.loads(text) if schema_type in ("AVRO", "JSON") else text.strip()
