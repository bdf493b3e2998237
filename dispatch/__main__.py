"""`python -m dispatch`: the event hub's dispatcher and a look at its data.

python -m dispatch run [--name 1]        the dispatcher (make run starts it)
python -m dispatch simulate              simulated departments and centre working the simulator's events
python -m dispatch library [--json]      counts of the event library; exits 2 when it does not load
python -m dispatch open [--json]         open events, oldest first
python -m dispatch show EVENT_ID         one event and its history, as JSON
python -m dispatch deliveries [--count N]   the newest notification attempts
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from config import settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dispatch", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run").add_argument("--name", default="1")
    commands.add_parser("simulate")
    commands.add_parser("library").add_argument("--json", action="store_true")
    commands.add_parser("open").add_argument("--json", action="store_true")
    commands.add_parser("show").add_argument("event_id")
    commands.add_parser("deliveries").add_argument("--count", type=int, default=20)
    args = parser.parse_args(argv)

    from dispatch.library import LibraryError, library

    try:
        lib = library()
    except LibraryError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.command == "library":
        counts = {
            "categories": len(lib.categories),
            "items": len(lib.items),
            "types": len(lib.types),
            "departments": len(lib.departments),
            "townships": len(lib.townships),
        }
        print(json.dumps(counts) if args.json else "\n".join(f"{k}\t{v}" for k, v in counts.items()))
        return 0
    if args.command == "run":
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        from dispatch.dispatcher import run_dispatcher

        run_dispatcher(settings(), args.name)
        return 0
    if args.command == "simulate":
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        from dispatch.simulate import run_handlers

        run_handlers(settings())
        return 0

    from dispatch.notify import read_deliveries
    from dispatch.store import get_event, history, list_open
    from signs.store import open_redis

    client = open_redis()
    if args.command == "open":
        events = list_open(client)
        if args.json:
            print(json.dumps([e.as_json() for e in events], ensure_ascii=False, indent=2))
        for event in [] if args.json else events:
            print(
                f"{event.id}\t{event.type_code}\t{event.status.value}\t{event.unit or '-'}\t{event.location.district}"
            )
        return 0
    if args.command == "show":
        found = get_event(client, args.event_id)
        if found is None:
            print(f"no event {args.event_id!r}", file=sys.stderr)
            return 1
        doc = {"event": found.as_json(), "history": history(client, found.id)}
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return 0
    for row in read_deliveries(client)[-args.count :]:
        print(f"{row['at']}\t{row['status']}\t{row['unit']}\t{row['kind']}\t{row['event_id']}\t{row['detail']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
