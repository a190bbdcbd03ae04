"""Prices: the shipped defaults per cloud (prices.yaml) or the user's own file."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from streamplane.errors import StreamplaneError

CLOUDS = ("aws", "gcp", "azure")


@dataclass(frozen=True)
class Prices:
    cloud: str
    block_storage_gb_month: float
    object_storage_gb_month: float
    cross_zone_gb: float
    cpu_core_hour: float


def default_prices_text() -> str:
    return resources.files("streamplane.ops.cost").joinpath("prices.yaml").read_text()


def load_prices(cloud: str, path: Path | None = None) -> Prices:
    """The ``cloud`` section of ``path`` (or of the shipped defaults), every price present."""
    where = str(path) if path is not None else "the default prices"
    try:
        text = path.read_text() if path is not None else default_prices_text()
        document = yaml.safe_load(text) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise StreamplaneError(f"cannot read prices from {where}: {exc}") from exc
    section = document.get(cloud) if isinstance(document, dict) else None
    if not isinstance(section, dict):
        known = ", ".join(sorted(document)) if isinstance(document, dict) else "none"
        raise StreamplaneError(
            f"{where} has no section {cloud!r} (sections: {known}); add one with "
            "block_storage_gb_month, object_storage_gb_month, cross_zone_gb, cpu_core_hour"
        )
    values = {}
    for key in ("block_storage_gb_month", "object_storage_gb_month", "cross_zone_gb",
                "cpu_core_hour"):  # fmt: skip
        value = section.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise StreamplaneError(
                f"{where}: {cloud}.{key} must be a price (a number >= 0), got {value!r}"
            )
        values[key] = float(value)
    return Prices(cloud=cloud, **values)
