"""``streamplane gdpr report SPEC``: the data map of every personal-data field;
``streamplane gdpr forget ID SPEC``: crypto-shredding of one data subject."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from streamplane.cli._options import ClusterOpt, DataDirOpt, JsonOpt, KafkaConfigOpt, SpecArg
from streamplane.cli._tables import new_table, print_table
from streamplane.cli._target import resolve_target
from streamplane.cli.lineage import OfflineOpt, SampleOpt, duration, live_catalog
from streamplane.errors import PlanError
from streamplane.kafka._admin import ClusterAdmin
from streamplane.lineage.catalog import personal_data
from streamplane.lineage.forget import ForgetReport, forget
from streamplane.local import DEFAULT_DATA_DIR
from streamplane.security.audit import Change, record_changes

console = Console(soft_wrap=True)

gdpr_app = typer.Typer(help="Personal data: where it lives and who reads it.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(gdpr_app, name="gdpr")


@gdpr_app.command("report")
def report(
    spec: SpecArg,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    config: KafkaConfigOpt = None,
    sample: SampleOpt = 100,
    offline: OfflineOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Every PII field: its topic, owner, retention, who may read it and who does."""
    entries = live_catalog(
        spec, offline=offline, cluster=cluster, data_dir=data_dir, config=config, sample=sample
    )
    fields = personal_data(entries)
    if as_json:
        print(json.dumps([f.to_json() for f in fields], indent=2))
        return
    if not fields:
        console.print("no field is tagged PII and no topic is classified pii", markup=False)
        return
    columns = ["topic", "field", "owner", "retention", "may read"]
    if not offline:
        columns.append("does read")
    table = new_table("personal data", columns)
    for f in fields:
        cells = [
            escape(f.topic), escape(f.field), escape(f.owner), duration(f.retention_ms),
            escape(", ".join(f.may_read) or "-"),
        ]  # fmt: skip
        if not offline:
            cells.append(escape(", ".join(f.does_read) or "-"))
        table.add_row(*cells)
    print_table(console, table)


@gdpr_app.command("forget")
def forget_subject(
    subject_id: Annotated[
        str, typer.Argument(metavar="ID", help="The data subject's id (its subject field).")
    ],
    spec: SpecArg,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    config: KafkaConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Destroy a data subject's keys: its ENCRYPT_PER_SUBJECT fields become unreadable in
    every topic, replica, mirror and backup; recorded in the audit trail."""
    target = resolve_target(spec=spec, cluster=cluster, data_dir=data_dir, config=config)
    if target.registry is None:
        raise PlanError(
            f"{target.label} has no schema registry to hold data keys; start it with "
            "`streamplane up`, or name it in the spec's cluster (schema_registry:)"
        )
    cluster_topics = sorted(ClusterAdmin(target.settings).topic_names())
    with target.registry.client() as registry:
        done = forget(registry, subject_id, cluster_topics=cluster_topics)
    change = Change(
        op="forget",
        kind="data-subject",
        resource=done.reference,
        tenant=None,
        summary=f"destroyed {len(done.keys)} data key(s); topics: "
        + (", ".join(done.topics) or "none"),
    )
    delivered = record_changes(
        target.settings, [change], principal=target.settings.username, source="gdpr"
    )
    done = ForgetReport(**{**done.__dict__, "recorded": delivered == 1})
    if as_json:
        print(json.dumps(done.to_json(), indent=2))
        return
    _print_forgotten(done)


def _print_forgotten(done: ForgetReport) -> None:
    if not done.keys:
        console.print(
            f"no data key belongs to that subject ({done.reference}): nothing was encrypted "
            "for it, or it was forgotten before",
            markup=False,
        )
    else:
        console.print(
            f"forgot {done.reference}: destroyed {len(done.keys)} data key(s) in "
            f"{done.seconds * 1000:.0f} ms",
            markup=False,
        )
        for topic in done.topics:
            console.print(f"  held data in {topic}", markup=False)
        for copy in done.copies:
            console.print(f"  and its copy {copy} (same ciphertext, same destroyed key)",
                          markup=False)  # fmt: skip
        console.print(
            "readers now get [forgotten] for its encrypted fields; the registry's log drops "
            "the wrapped keys at its next compaction",
            markup=False,
        )
    if not done.recorded:
        console.print("warning: the request could not be recorded in the audit trail",
                      markup=False)  # fmt: skip
    else:
        console.print("recorded in the audit trail as " + done.reference, markup=False)
