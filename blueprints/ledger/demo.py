"""``make ledger``: the ledger once, on a cluster of its own, through its HTTP API.

Brings up a local cluster (tiered storage on) with the blueprint's spec, starts two
writers, the SQLite projection and the API, then opens two accounts, deposits, tries an
overdraft and a stale version, transfers, and reads back with read-your-writes. The
processes stop at the end; the cluster stays up for a look around.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from blueprints.ledger.local import LocalLedger


def run_demo(data_dir: Path, *, port_offset: int, spec_dir: Path) -> int:
    local = LocalLedger(data_dir, port_offset=port_offset, spec_dir=spec_dir)
    print(f"bringing up {data_dir} (ports +{port_offset}) with {spec_dir} applied…")
    try:
        local.up_with_everything()
        print(f"API on {local.url} (OpenAPI: {local.url}/docs)")
        http = httpx.Client(base_url=local.url, timeout=30)

        def show(method: str, path: str, **body: object) -> dict[str, object]:
            response = http.request(method, path, json=body or None)
            print(f"  {method} {path} {body or ''} -> {response.status_code} {response.text}")
            found: dict[str, object] = response.json()
            return found

        show("POST", "/accounts", account_id="alice")
        show("POST", "/accounts", account_id="bob")
        done = show("POST", "/accounts/alice/deposits", amount_minor=10_000)
        show("POST", "/accounts/alice/withdrawals", amount_minor=20_000)
        show("POST", "/accounts/alice/deposits", amount_minor=1, expected_version=1)
        show("POST", "/accounts/alice/transfers", to_account="bob", amount_minor=2_500)
        show("GET", f"/accounts/alice?min_version={int(str(done['version'])) + 1}")
        show("GET", "/accounts/bob?min_version=2")
        show("GET", "/accounts/alice/statement")
    finally:
        for name in list(local.processes):
            local.stop(name)
    print(
        f"\nThe cluster is still up: streamplane topics list --data-dir {data_dir}; "
        f"stop it with streamplane down --data-dir {data_dir}"
    )
    return 0
