"""Write records as an application of the example spec, in a process of its own.

confluent-kafka's local KMS client is process-wide and keyed by the KEK's URL: a test
process that already encrypted for another cluster's ``estate-pii`` KEK would wrap this
cluster's data keys with that cluster's secret. A fresh process takes this cluster's.

Usage: python -m tests.integration.console._produce DATA_DIR REGISTRY APP TOPIC KEY
(values as JSON lines on standard input; KEY the field keying them, or "").
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from streamplane.client import Producer, RegistrySettings
from streamplane.kafka import ConnectionSettings
from streamplane.model import load_spec
from streamplane.reconcile import client_config_path
from tests.integration.reconcile.conftest import EXAMPLE


def main() -> None:
    data_dir, registry, app, topic, key = sys.argv[1:6]
    spec = load_spec(EXAMPLE)
    root = Path(data_dir)
    connection = ConnectionSettings.from_properties_file(
        client_config_path(root, spec.applications[app].principal)
    )
    with Producer.for_application(
        spec, app, connection=connection,
        registry=RegistrySettings.of(registry, connection), data_dir=root,
    ) as producer:  # fmt: skip
        for line in sys.stdin:
            value = json.loads(line)
            producer.produce(topic, value, key=value[key] if key else None)


if __name__ == "__main__":
    main()
