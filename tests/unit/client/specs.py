"""A small spec for client tests: one tenant, Avro/JSON/Protobuf/raw topics, two applications.

The tenant prefix is a parameter so integration tests on a shared cluster get topics of
their own.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from streamplane.model import Spec, load_spec

ORDER_AVSC = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "amount_minor", "type": "long"},
        {"name": "currency", "type": "string", "default": "EUR"},
    ],
}

NOTE_JSON = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Note",
    "type": "object",
    "properties": {"id": {"type": "string"}, "n": {"type": "integer"}},
    "required": ["id", "n"],
    "additionalProperties": False,
}

EVENT_PROTO = """\
syntax = "proto3";
package shop;

message Event {
  string id = 1;
  int64 n = 2;
}
"""


def write_spec(root: Path, *, prefix: str = "shop.") -> Spec:
    """Write the spec under ``root`` and load it; topics are ``<prefix>orders.<name>``."""
    schemas = root / "schemas"
    schemas.mkdir(parents=True, exist_ok=True)
    (schemas / "order.avsc").write_text(json.dumps(ORDER_AVSC))
    (schemas / "note.json").write_text(json.dumps(NOTE_JSON))
    (schemas / "event.proto").write_text(EVENT_PROTO)
    (root / "spec.yaml").write_text(
        textwrap.dedent(
            f"""\
            clusters:
              - name: local
                local: true
            tenants:
              - name: shop
                prefix: "{prefix}"
                owners: [shop@example.com]
                clusters: [local]
                domains:
                  - name: orders
                    topics:
                      - name: placed
                        value_schema: schemas/order.avsc
                      - name: notes
                        value_schema: schemas/note.json
                      - name: events
                        value_schema: schemas/event.proto
                      - name: raw
                    applications:
                      - name: checkout
                        client_ids: [{prefix}checkout]
                        profile:
                          name: zero_loss
                          producer: {{linger.ms: 10}}
                        produces:
                          - {prefix}orders.placed
                          - {prefix}orders.notes
                          - {prefix}orders.events
                          - {prefix}orders.raw
                      - name: fulfilment
                        profile:
                          name: low_latency
                          consumer: {{fetch.wait.max.ms: 10}}
                        consumes:
                          - {prefix}orders.placed
                          - {prefix}orders.notes
                          - {prefix}orders.events
                          - {prefix}orders.raw
                      - name: auditor
                        rack: rack-2
                        consumes: [{prefix}orders.raw]
            """
        )
    )
    return load_spec(root)
