"""``python -m blueprints.ledger``: run the ledger's parts against a spec's cluster.

    python -m blueprints.ledger --spec blueprints/ledger/spec write --instance 0
    python -m blueprints.ledger --spec blueprints/ledger/spec project --sqlite ledger.db
    python -m blueprints.ledger --spec blueprints/ledger/spec api --sqlite ledger.db --port 8090

Each connects as its own application of the spec, from the local cluster's ``--data-dir``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from streamplane.model import load_spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blueprints.ledger")
    parser.add_argument("--spec", type=Path, default=Path("blueprints/ledger/spec"))
    parser.add_argument("--data-dir", type=Path, default=Path(".streamplane"))
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write", help="run one writer instance")
    write.add_argument("--instance", type=int, default=0)
    write.add_argument("--state-dir", type=Path, default=None)
    project = commands.add_parser("project", help="run a projection")
    project.add_argument("--app", default="ledger-projector")
    where = project.add_mutually_exclusive_group(required=True)
    where.add_argument("--sqlite", type=Path)
    where.add_argument("--postgres", help="a libpq connection string")
    api = commands.add_parser("api", help="serve the HTTP API")
    api.add_argument("--sqlite", type=Path, required=True, help="the projection to query")
    api.add_argument("--port", type=int, default=8090)
    demo = commands.add_parser("demo", help="bring up a cluster and run the ledger once")
    demo.add_argument("--port-offset", type=int, default=4000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.command == "demo":
        from blueprints.ledger.demo import run_demo

        return run_demo(args.data_dir, port_offset=args.port_offset, spec_dir=args.spec)
    spec = load_spec(args.spec)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.command == "write":
        from blueprints.ledger.writer import LedgerWriter

        state = args.state_dir or args.data_dir / "ledger" / f"writer-{args.instance}"
        writer = LedgerWriter(spec, instance=args.instance, state_dir=state,
                              data_dir=args.data_dir)  # fmt: skip
        try:
            writer.run(stop=stop.is_set)
        finally:
            writer.close()
        return 0
    if args.command == "project":
        from blueprints.ledger.projection import Projector, postgres_store, sqlite_store

        store = sqlite_store(args.sqlite) if args.sqlite else postgres_store(args.postgres)
        projector = Projector(spec, store, app=args.app, data_dir=args.data_dir)
        try:
            projector.run(stop=stop.is_set)
        finally:
            projector.close()
        return 0
    import uvicorn

    from blueprints.ledger.api import create_app
    from blueprints.ledger.projection import ReadModel

    app = create_app(spec, data_dir=args.data_dir, read_model=ReadModel(args.sqlite))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
