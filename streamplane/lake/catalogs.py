"""The catalog a lake table lives in: the spec's ``lake_catalogs`` made into pyiceberg
catalogs, or the local SQLite one beside the cluster's data.

A catalog here is configuration only: pyiceberg's SQL catalog (SQLite by default, any
SQLAlchemy URI) or its REST catalog client, with data files on local disk or any
S3-compatible store through pyiceberg's Arrow file IO. Secrets (S3 keys, a REST token)
come from the spec's secret sources, never from the spec itself.
"""

from __future__ import annotations

from pathlib import Path

from pyiceberg.catalog import Catalog, load_catalog

from streamplane.lake.table import local_catalog
from streamplane.model import LakeCatalog, Spec
from streamplane.reconcile._secrets import SecretStore


def catalog_properties(catalog: LakeCatalog, secrets: SecretStore, home: Path) -> dict[str, str]:
    """pyiceberg's properties for ``catalog`` (``home``: the local lake directory, for a SQL
    catalog's default SQLite file and warehouse)."""
    what = f"lake catalog {catalog.name}"
    properties: dict[str, str] = {"type": catalog.type}
    if catalog.type == "sql":
        properties["uri"] = catalog.uri or f"sqlite:///{home.resolve() / f'{catalog.name}.db'}"
        properties["warehouse"] = catalog.warehouse or (home.resolve() / "warehouse").as_uri()
    else:
        assert catalog.uri is not None, "lint refuses a REST catalog without uri"
        properties["uri"] = catalog.uri
        if catalog.warehouse:
            properties["warehouse"] = catalog.warehouse
        if catalog.token is not None:
            properties["token"] = secrets.resolve(
                catalog.token, what=f"lake catalog {catalog.name}"
            )
    if catalog.s3_endpoint:
        properties["s3.endpoint"] = catalog.s3_endpoint
    if catalog.s3_region:
        properties["s3.region"] = catalog.s3_region
    if catalog.s3_access_key_id is not None and catalog.s3_secret_access_key is not None:
        properties["s3.access-key-id"] = secrets.resolve(catalog.s3_access_key_id, what=what)
        properties["s3.secret-access-key"] = secrets.resolve(
            catalog.s3_secret_access_key, what=what
        )
    return properties


def open_catalog(spec: Spec, name: str | None, secrets: SecretStore, home: Path) -> Catalog:
    """The catalog ``name`` of the spec (None: the local default under ``home``)."""
    if name is None:
        return local_catalog(home)
    (catalog,) = [c for c in spec.platform.lake_catalogs if c.name == name]
    home.mkdir(parents=True, exist_ok=True)
    return load_catalog(name, **catalog_properties(catalog, secrets, home))
