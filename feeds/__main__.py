"""`python -m feeds worker|rollup|simulate|deadletter`: the feed processes and their inspection."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from config import settings
from feeds.contract import FEEDS


def _feeds(text: str) -> tuple[str, ...]:
    chosen = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = sorted(set(chosen) - set(FEEDS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown feeds {unknown}; known: {', '.join(FEEDS)}")
    return chosen


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m feeds", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="ingest MQTT feeds into Redis")
    worker.add_argument("--feeds", type=_feeds, default=FEEDS, help="comma-separated feeds (default: all)")
    worker.add_argument("--name", default="1", help="worker name; its MQTT client id and session (default 1)")
    commands.add_parser("rollup", help="keep derived signs and the camera registry roll-up current")
    commands.add_parser("simulate", help="publish the simulated city (see --help of the subcommand)", add_help=False)
    deadletter = commands.add_parser("deadletter", help="show rejected messages")
    deadletter.add_argument("--json", action="store_true")
    deadletter.add_argument("--count", type=int, default=20)

    if argv[:1] == ["simulate"]:
        from feeds.simulator import main as simulate

        return simulate(argv[1:])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = settings()
    if args.command == "worker":
        from feeds.worker import run_worker

        run_worker(config, args.name, args.feeds)
        return 0
    if args.command == "rollup":
        from feeds.rollup import run_rollup

        run_rollup(config)
        return 0
    from feeds.sink import read_deadletter_counts, read_deadletters
    from signs.store import open_redis

    client = open_redis(config.redis_url)
    counts, latest = read_deadletter_counts(client), read_deadletters(client, args.count)
    if args.json:
        print(json.dumps({"counts": counts, "latest": latest}, ensure_ascii=False, indent=2))
    else:
        print("rejected by reason:", ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "none")
        for record in latest:
            print(f"{record['at_iso']}  {record['reason']:<17} {record['topic']}  {record['detail']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
