"""The names of the metrics SLOs are computed from, shared by their producers and the rules.

The canary and the lag monitor export the ``streamplane_canary_*`` and
``streamplane_group_*`` families; the SDK exports ``streamplane_client_*``
(``streamplane.client``). Histogram ``le`` labels are written the way prometheus-client
writes them (``floatToGoString``), so a rule can name a bucket exactly.
"""

from __future__ import annotations

from prometheus_client.utils import floatToGoString

CANARY_REQUESTS = "streamplane_canary_produce_requests_total"
CANARY_ERRORS = "streamplane_canary_produce_errors_total"
CANARY_PRODUCE_LATENCY = "streamplane_canary_produce_latency_seconds"
CANARY_E2E_LATENCY = "streamplane_canary_e2e_latency_seconds"
CANARY_CHECKED = "streamplane_canary_records_checked_total"
CANARY_LOST = "streamplane_canary_records_lost_total"
CANARY_DUPLICATED = "streamplane_canary_records_duplicated_total"
GROUP_LAG = "streamplane_group_lag_records"
GROUP_STATUS = "streamplane_group_lag_status"
FRESHNESS_CHECKS = "streamplane_slo_freshness_checks_total"
FRESHNESS_STALE = "streamplane_slo_freshness_stale_total"

CLIENT_PRODUCED = "streamplane_client_records_produced_total"
CLIENT_ERRORS = "streamplane_client_errors_total"
CLIENT_DELIVERY_LATENCY = "streamplane_client_delivery_latency_seconds"


def le(seconds: float) -> str:
    """The ``le`` label of the bucket bounded by ``seconds``."""
    return str(floatToGoString(seconds))  # type: ignore[no-untyped-call]
