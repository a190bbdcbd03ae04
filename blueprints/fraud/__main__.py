"""``python -m blueprints.fraud``: run the fraud pipeline's parts against a spec's cluster.

    python -m blueprints.fraud generate --spec blueprints/fraud/spec --customers 2000
    python -m blueprints.fraud score --spec blueprints/fraud/spec --instance 0
    python -m blueprints.fraud profile --spec blueprints/fraud/spec
    python -m blueprints.fraud retrain --spec blueprints/fraud/spec

Each connects as its own application of the spec (``apply`` made its principal, password
and ACLs), from the local cluster's ``--data-dir``.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from streamplane.model import load_spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blueprints.fraud")
    parser.add_argument("--spec", type=Path, default=Path("blueprints/fraud/spec"))
    parser.add_argument("--data-dir", type=Path, default=Path(".streamplane"))
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="produce synthetic transactions")
    generate.add_argument("--seed", type=int, default=7)
    generate.add_argument("--customers", type=int, default=2_000)
    generate.add_argument("--days", type=float, default=2.0)
    generate.add_argument("--fraud-rate", type=float, default=0.03)
    generate.add_argument("--rate", type=float, default=None, help="transactions per second")
    score = commands.add_parser("score", help="run one fast-path instance")
    score.add_argument("--instance", type=int, default=0)
    score.add_argument("--state-dir", type=Path, default=None)
    score.add_argument("--status-file", type=Path, default=None)
    commands.add_parser("profile", help="run the slow path (24-hour profiles)")
    retrain = commands.add_parser("retrain", help="fit and publish a new model")
    retrain.add_argument("--force", action="store_true", help="publish even if not better")
    demo = commands.add_parser(
        "demo", help="bring up a cluster with the spec and run the whole pipeline once"
    )
    demo.add_argument("--port-offset", type=int, default=3000)
    args = parser.parse_args(argv)
    if args.command == "demo":
        from blueprints.fraud.demo import run_demo

        return run_demo(args.data_dir, port_offset=args.port_offset, spec_dir=args.spec)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    spec = load_spec(args.spec)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    if args.command == "generate":
        from blueprints.fraud.gateway import publish
        from blueprints.fraud.generator import Generator

        stream = Generator(
            args.seed, customers=args.customers, days=args.days, fraud_rate=args.fraud_rate
        ).transactions()
        sent = publish(spec, stream, rate=args.rate, data_dir=args.data_dir)
        print(f"produced {sent} transactions ({sum(1 for t in stream if t.is_fraud)} fraud)")
        return 0
    if args.command == "score":
        from blueprints.fraud.scorer import FraudScorer, write_status

        state = args.state_dir or args.data_dir / "fraud" / f"scorer-{args.instance}"
        scorer = FraudScorer(spec, instance=args.instance, state_dir=state, data_dir=args.data_dir)
        if args.status_file is not None:
            threading.Thread(
                target=write_status, args=(scorer, args.status_file, stop), daemon=True
            ).start()
        try:
            scorer.run(stop=stop.is_set)
        finally:
            scorer.close()
            if args.status_file is not None:
                args.status_file.write_text(json.dumps(scorer.status()))
        return 0
    if args.command == "profile":
        from blueprints.fraud.profiles import ProfileBuilder

        builder = ProfileBuilder(spec, data_dir=args.data_dir)
        try:
            builder.run(stop=stop.is_set)
        finally:
            builder.close()
        return 0
    from blueprints.fraud.retrain import RetrainRefused, Trainer

    try:
        result = Trainer(spec, data_dir=args.data_dir).retrain(force=args.force)
    except RetrainRefused as exc:
        print(f"not published: {exc}", file=sys.stderr)
        return 2
    print(f"published model v{result.update.version}: {json.dumps(result.update.metrics)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
