"""`lake:` in the spec: the table a topic streams into, the topic it reads, and what lint
refuses (at the line to fix)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamplane.model import lake_partition, lake_source, lake_table, load_spec
from tests.unit.model.test_load import EXAMPLE, errors_of, only

ORDER = {
    "type": "record", "name": "Order",
    "fields": [{"name": "id", "type": "long"},
               {"name": "placed_at", "type": {"type": "long", "logicalType": "timestamp-millis"}}],
}  # fmt: skip
BASE = """\
clusters:
  - {{name: local, local: true}}
lake_catalogs:
{catalogs}
tenants:
  - name: shop
    owners: [team@example.com]
    clusters: [local]
    domains:
      - name: orders
        topics:
          - name: placed
            value_schema: order.avsc
            lake: {lake}
          - name: shipped
{shipped}
"""


def issues(tmp_path: Path, **parts: str) -> list[str]:
    """lint's findings on BASE with ``parts`` (lake, catalogs, shipped) filled in."""
    (tmp_path / "order.avsc").write_text(json.dumps(ORDER))
    text = BASE.format(
        lake=parts.get("lake", "{}"), catalogs=parts.get("catalogs", "  []"),
        shipped=parts.get("shipped", "            value_schema: order.avsc"),
    )  # fmt: skip
    return [str(i) for i in errors_of(tmp_path, text)]


def test_tables_and_sources() -> None:
    spec = load_spec(EXAMPLE)
    holders = spec.topics["payments.card.holders"]
    assert lake_table(holders) == "payments.card_holders"
    assert lake_source(holders) == "payments.card.holders-masked.v1"  # the masked twin
    ledger = spec.topics["payments.ledger.balance-changed.v1"]
    assert lake_source(ledger) == ledger.full_name


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("day(placed_at)", ("day", None, "placed_at")),
        ("bucket(16, id)", ("bucket", 16, "id")),
        (" truncate( 4 ,name ) ", ("truncate", 4, "name")),
        ("country", ("identity", None, "country")),
    ],
)
def test_partition_transforms_parse(text: str, parsed: tuple[str, int | None, str]) -> None:
    assert lake_partition(text) == parsed


def test_a_partition_of_no_field_is_refused_at_its_line(tmp_path: Path) -> None:
    found = only(issues(tmp_path, lake="{partition_by: [day(placed_at), hour(shipped_at)]}"))
    assert "spec.yaml:14" in found and "names shipped_at, which is not a field" in found
    assert "partition by one of: id, placed_at" in found


def test_a_malformed_transform_is_refused(tmp_path: Path) -> None:
    found = only(issues(tmp_path, lake="{partition_by: ['week(placed_at)']}"))
    assert "is not a transform of a column" in found and "bucket(N, col)" in found


def test_catalogs_must_exist_and_be_whole(tmp_path: Path) -> None:
    found = issues(
        tmp_path,
        lake="{catalog: nowhere}",
        catalogs="  - {name: s3, warehouse: 's3://lake/', s3_access_key_id: {env: K}}\n"
        "  - {name: remote, type: rest}",
    )
    assert any("no lake catalog nowhere" in i and "declared: remote, s3" in i for i in found)
    assert any("REST catalog remote has no uri" in i for i in found)
    assert any("only one of the S3 key id and secret" in i for i in found)


def test_lake_needs_an_avro_value_and_a_table_of_its_own(tmp_path: Path) -> None:
    found = issues(
        tmp_path,
        shipped="            lake: {table: shop.orders_placed}",
    )
    assert any("the topic has no value_schema" in i for i in found)
    assert any("a second topic writes lake table shop.orders_placed" in i for i in found)


DOMAIN = """\
clusters:
  - {name: local, local: true}
tenants:
  - name: shop
    owners: [team@example.com]
    clusters: [local]
    domains:
      - name: orders
        lake: {commit_interval: 2s, partition_by: [day(placed_at)]%s}
        topics:
          - name: placed
            value_schema: tagged.avsc
            masked_twin: {masks: {PII: hash}}
          - name: shipped
            value_schema: order.avsc
            lake: {max_rows: 10}
          - name: notes
"""


def write_schemas(tmp_path: Path) -> None:
    (tmp_path / "order.avsc").write_text(json.dumps(ORDER))
    email = {"name": "email", "type": "string", "confluent:tags": ["PII"]}
    (tmp_path / "tagged.avsc").write_text(
        json.dumps({**ORDER, "fields": [*ORDER["fields"], email]})
    )


def test_a_domain_lake_streams_each_declared_topic_into_its_own_table(tmp_path: Path) -> None:
    write_schemas(tmp_path)
    (tmp_path / "spec.yaml").write_text(DOMAIN % "")
    spec = load_spec(tmp_path)
    lakes = {name: e.topic.lake for name, e in spec.topics.items() if e.topic.lake}
    # The twin and the masker's dead letters are derived: not streamed by inheritance;
    # the raw topic streams from its twin; a topic without a value schema is left out.
    assert set(lakes) == {"shop.orders.placed", "shop.orders.shipped"}
    placed = spec.topics["shop.orders.placed"]
    assert lakes["shop.orders.placed"].commit_interval == 2000  # type: ignore[union-attr]
    assert lake_table(placed) == "shop.orders_placed"
    assert lake_source(placed) == "shop.orders.placed-masked.v1"
    assert lakes["shop.orders.shipped"].max_rows == 10  # type: ignore[union-attr]
    assert lakes["shop.orders.shipped"].partition_by == []  # type: ignore[union-attr]


def test_a_domain_lake_names_no_table(tmp_path: Path) -> None:
    write_schemas(tmp_path)
    found = only(errors_of(tmp_path, DOMAIN % ", table: shop.everything"))
    assert "spec.yaml:9:" in str(found) and "each of its topics needs one" in str(found)
