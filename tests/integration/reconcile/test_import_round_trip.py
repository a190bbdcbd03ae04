"""Import loses nothing: the example applied to a fresh cluster, imported, is the example.

The example spec is applied with the CLI to a cluster and registry of their own, imported
with the CLI into a new directory; the imported spec lints clean, plans no change, and means
what the example means: the loaded models are compared after normalisation
(``tests/unit/reconcile/spec_meaning.py``), not the YAML text.

Two things of the example are not in the imported spec, on purpose or by their nature:

* ``credentials: managed``: import writes ``external`` for every application, since Kafka
  never returns a password and adopting a cluster must not rotate one;
* the spec's layout: file names (``schemas/<subject>.avsc`` instead of the example's
  names), formatting and comments. The schemas are compared parsed.

Everything else is asserted equal. A second import without the spec's notes (as of a
cluster Streamplane never applied) shows what is inferred from Kafka and the registry
alone, and lists precisely what only the notes hold.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from streamplane.kafka import ConnectionSettings
from streamplane.model import load_spec
from streamplane.reconcile import desired_schemas, import_estate, registry_endpoint, write_spec
from streamplane.reconcile._actual import read_actual
from streamplane.reconcile._import_enrich import ImportSources, read_import_sources
from streamplane.reconcile._plan import PLATFORM_PRINCIPALS, PLATFORM_USERS
from tests.integration.conftest import PORT_SHIFT
from tests.integration.reconcile.conftest import EXAMPLE, platform
from tests.unit.reconcile.spec_meaning import meaning

ROUND_TRIP_OFFSET = 20130 + PORT_SHIFT


def _sp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamplane", *args], capture_output=True, text=True, timeout=300,
        env=dict(os.environ),
    )  # fmt: skip


@dataclass
class RoundTrip:
    root: Path
    imported: Path
    import_output: subprocess.CompletedProcess[str]
    sources: ImportSources


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoundTrip]:
    with platform("import-round-trip", port_offset=ROUND_TRIP_OFFSET) as (cluster, _):
        root = cluster.dir.root
        applied = _sp("apply", str(EXAMPLE), "--data-dir", str(root), "--auto-approve")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        out = tmp_path_factory.mktemp("imported") / "spec"
        imported = _sp("import", "--out", str(out), "--data-dir", str(root))
        assert imported.returncode == 0, imported.stdout + imported.stderr
        spec = load_spec(EXAMPLE)
        sources = read_import_sources(
            cluster.admin_settings(), registry=registry_endpoint(spec, data_dir=root)
        )
        yield RoundTrip(root, out, imported, sources)


def test_imported_spec_lints_clean_and_plans_no_change(round_trip: RoundTrip) -> None:
    assert "left out" not in round_trip.import_output.stderr, round_trip.import_output.stderr
    lint = _sp("lint", str(round_trip.imported))
    assert lint.returncode == 0 and "0 finding(s)" in lint.stdout, lint.stdout
    plan = _sp(
        "plan", str(round_trip.imported), "--data-dir", str(round_trip.root),
        "--detailed-exitcode", "--json",
    )  # fmt: skip
    assert plan.returncode == 0, plan.stdout + plan.stderr
    shown = json.loads(plan.stdout)
    assert (shown["actions"], shown["refusals"]) == ([], [])
    platform = PLATFORM_USERS | {p.removeprefix("User:") for p in PLATFORM_PRINCIPALS}
    kept = [
        k for k in shown["kept"]
        if k["resource"].removeprefix("user=").split(",")[0].split(" ")[0] not in platform
        and k["resource"].split(" ")[0] not in PLATFORM_PRINCIPALS
    ]  # fmt: skip
    assert kept == [], "nothing of the cluster is left unmanaged"


def test_imported_spec_means_the_example(round_trip: RoundTrip) -> None:
    example, imported = load_spec(EXAMPLE), load_spec(round_trip.imported)
    # Not inferable, by design: every imported SCRAM application's credential is external;
    # a certificate or OAuth application has none (its `auth` comes back from the notes).
    scram = {n for n, a in example.applications.items() if a.app.auth == "scram"}
    assert {imported.applications[n].app.credentials for n in scram} == {"external"}
    assert {a.app.credentials for a in example.applications.values()} == {"managed"}
    assert {n: a.app.auth for n, a in imported.applications.items() if n not in scram} == {
        "fraud-scorer": "mtls",
        "volume-aggregator": "oauth",
    }
    # Schema files are named after their subjects, in the format of their type.
    files = sorted(p.name for p in (round_trip.imported / "schemas").iterdir())
    assert files == sorted(f"{s.subject}.avsc" for s in desired_schemas(example, "local"))
    want, got = meaning(example), meaning(imported)
    for part in want:
        assert got[part] == want[part], part
    # The bug of the issue: retry delays of 5s and 1m, retention in units.
    text = (round_trip.imported / "tenants" / "risk.yaml").read_text()
    assert "- 5s\n        - 1m\n" in text and "retention: 14d" in text
    assert "retention: 3d" in (round_trip.imported / "tenants" / "payments.yaml").read_text()
    assert "consumer_byte_rate: 5MiB" in (round_trip.imported / "platform.yaml").read_text()


def test_without_the_notes_import_infers_what_kafka_and_the_registry_hold(
    round_trip: RoundTrip, tmp_path: Path
) -> None:
    """A cluster Streamplane never applied has no notes: what is lost is exactly what only
    the spec knew, and it is written as placeholders or left to defaults."""
    settings = ConnectionSettings.from_properties_file(round_trip.root / "admin.properties")
    blind = import_estate(read_actual(settings), sources=replace(round_trip.sources, notes=None))
    write_spec(blind.document, tmp_path, files=blind.files)
    example, spec = load_spec(EXAMPLE), load_spec(tmp_path)
    want, got = meaning(example), meaning(spec)
    # Still equal: everything Kafka and the registry hold, and what follows from it (a
    # topic's `protected` only guards deletion: Kafka has no such flag).
    for part in ("schemas", "keks", "registry_access", "encryption"):
        assert got[part] == want[part], part
    for part in (want, got):
        for topic in part["kafka"]["topics"].values():
            topic.pop("protected")
    assert got["kafka"] == want["kafka"]
    assert spec.cluster("local").data_classes == example.cluster("local").data_classes  # pii
    assert spec.topics["risk.customers.identities"].topic.classification == "pii"
    for name in ("card-authorizer", "ledger-writer"):
        assert spec.applications[name].app.profile is not None
        assert spec.applications[name].app.profile.name == "zero_loss"  # transactional
    # Only the notes hold these: placeholders, defaults, or per-application quotas instead.
    scorer = spec.applications["fraud-scorer"].app.dead_letters
    assert scorer is not None and scorer.retries == [60_000, 60_000]
    assert {o for t in spec.platform.tenants for o in t.owners} == {
        "unassigned (imported): name the owning team"
    }
    # The registry shows pii where the PII fields are encrypted: by the default rule
    # (identities) or by a rule of the schema's own (the card holders and their vault).
    pii = {"risk.customers.identities", "payments.card.holders", "payments.card.holders-vault"}
    assert {e.full_name for e in spec.topics.values() if e.topic.classification == "pii"} == pii
    non_pii = [e for e in spec.topics.values() if e.full_name not in pii]
    assert {e.topic.classification for e in non_pii} == {None}
    assert not any(e.topic.owner or e.topic.core or e.topic.protected for e in spec.topics.values())
    assert spec.applications["card-gateway"].app.profile is None
    assert spec.applications["adhoc-explorer"].app.client_ids == []
    assert all(t.quotas is None for t in spec.platform.tenants)
    assert spec.cluster("local").racks == [] and spec.platform.policy.rules == {}
    assert spec.platform.deletion.protected == []
