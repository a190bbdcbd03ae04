"""Root typer app and the error boundary shared by every command."""

from __future__ import annotations

import sys

import typer
from confluent_kafka import KafkaException
from kafka.errors import KafkaError as KafkaPythonError
from rich.console import Console

from streamplane.cli import audit as audit_commands
from streamplane.cli import capacity as capacity_commands
from streamplane.cli import check as check_commands
from streamplane.cli import console as console_commands
from streamplane.cli import cost as cost_commands
from streamplane.cli import dlq as dlq_commands
from streamplane.cli import export as export_commands
from streamplane.cli import gdpr as gdpr_commands
from streamplane.cli import gitops as gitops_commands
from streamplane.cli import groups as groups_commands
from streamplane.cli import guardrails as guardrails_commands
from streamplane.cli import identity as identity_commands
from streamplane.cli import idp as idp_commands
from streamplane.cli import kafka_tools as kafka_tool_commands
from streamplane.cli import lake as lake_commands
from streamplane.cli import lineage as lineage_commands
from streamplane.cli import local as local_commands
from streamplane.cli import mask as mask_commands
from streamplane.cli import pki as pki_commands
from streamplane.cli import rebalance as rebalance_commands
from streamplane.cli import registry as registry_commands
from streamplane.cli import replicate as replicate_commands
from streamplane.cli import slo as slo_commands
from streamplane.cli import topics as topics_commands
from streamplane.cli._diagnostics import debugging, kafka_error_text, route_cli_client_logs
from streamplane.errors import StreamplaneError

app = typer.Typer(
    name="streamplane",
    help="Streamplane: run, govern and operate Apache Kafka from one declarative model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
local_commands.register(app)
gitops_commands.register(app)
check_commands.register(app)
registry_commands.register(app)
dlq_commands.register(app)
audit_commands.register(app)
topics_commands.register(app)
groups_commands.register(app)
identity_commands.register(app)
idp_commands.register(app)
pki_commands.register(app)
kafka_tool_commands.register(app)
guardrails_commands.register(app)
export_commands.register(app)
lineage_commands.register(app)
gdpr_commands.register(app)
mask_commands.register(app)
replicate_commands.register(app)
rebalance_commands.register(app)
capacity_commands.register(app)
slo_commands.register(app)
lake_commands.register(app)
cost_commands.register(app)
console_commands.register(app)

err_console = Console(stderr=True)


def main() -> None:
    """Entry point: StreamplaneError becomes a readable message and exit code 1.

    The Kafka client libraries' own log lines go to a file, or to stderr with
    STREAMPLANE_DEBUG=1 (``_diagnostics``); a Kafka error no command turned into a
    sentence is still one line, not a traceback.
    """
    route_cli_client_logs()
    try:
        app()
    except StreamplaneError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        tail = getattr(exc, "log_tail", "")
        if tail:
            err_console.print(tail, highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
    except (KafkaException, KafkaPythonError) as exc:
        if debugging():
            raise
        err_console.print(
            f"[bold red]error:[/] Kafka: {kafka_error_text(exc)} "
            f"(STREAMPLANE_DEBUG=1 shows the traceback and the client's log)",
            highlight=False,
            markup=True,
            soft_wrap=True,
        )
        sys.exit(1)
