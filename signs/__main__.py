"""Command line for the sign catalogue and live values: python -m signs summary|list|get."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable

import redis

from feeds.contract import topic
from signs.catalogue import CatalogueError, catalogue
from signs.citytime import city_iso
from signs.keys import Latest
from signs.model import Catalogue, Derivation, HubSource, Sign
from signs.store import open_redis, read_latest, sign_value

EXIT_NO_VALUE = 1
EXIT_USAGE = 2
EXIT_REDIS = 3
LEVELS = ("blue", "yellow", "orange", "red")


def _iso(ts: float) -> str:
    """Xiangyang local time, the way the operations centre reads it."""
    return city_iso(ts, "milliseconds")


def _source(sign: Sign) -> dict[str, str]:
    if isinstance(sign.source, Derivation):
        return {"kind": "derived", "expression": sign.source.expression}
    if isinstance(sign.source, HubSource):
        return {"kind": "hub", "expression": str(sign.source)}
    s = sign.source
    return {"kind": "mqtt", "topic": topic(s.feed, s.adcode, s.source_id), "field": s.field}


def _source_text(sign: Sign) -> str:
    source = _source(sign)
    return source["expression"] if "expression" in source else f"{source['topic']}#{source['field']}"


def sign_json(sign: Sign) -> dict[str, object]:
    return {
        "id": sign.id,
        "name_zh": sign.name_zh,
        "name_en": sign.name_en,
        "unit": sign.unit,
        "category": sign.category,
        "module": sign.module,
        "core": sign.core,
        "dimension": sign.dimension,
        "cadence_s": sign.cadence_s,
        "direction": sign.direction.value,
        "thresholds": dict(zip(LEVELS, sign.thresholds, strict=True)),
        "owner": sign.owner,
        "source": _source(sign),
    }


def value_json(sign: Sign, latest: Latest | None, now: float) -> dict[str, object]:
    """What `get` prints; value and times are null when nothing has arrived yet."""
    if latest is None:
        return {"id": sign.id, "value": None, "unit": sign.unit, "level": None, "level_zh": None,
                "source_ts": None, "source_time": None, "receive_ts": None, "receive_time": None,
                "age_s": None, "stale": True}  # fmt: skip
    payload = sign_value(sign, latest, now).as_json()
    times = {"source_time": _iso(latest.source_ts), "receive_time": _iso(latest.receive_ts)}
    ordered: dict[str, object] = {}
    for key, value in payload.items():
        ordered[key] = value
        if key in ("source_ts", "receive_ts"):
            ordered[key.replace("_ts", "_time")] = times[key.replace("_ts", "_time")]
    return ordered


def _filtered(cat: Catalogue, module: str | None, category: str | None) -> list[Sign]:
    return [
        s
        for s in cat.signs.values()
        if (not module or s.module == module) and (not category or s.category == category)
    ]


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"signs: {message}", file=sys.stderr)
    return code


def _print_json(data: object) -> None:
    """Objects indented; lists one item per line, so that `| head` and `| grep` stay useful."""
    if isinstance(data, list):
        print("[\n" + ",\n".join(json.dumps(item, ensure_ascii=False) for item in data) + "\n]")
    else:
        print(json.dumps(data, ensure_ascii=False, indent=2))


def cmd_summary(cat: Catalogue, args: argparse.Namespace) -> int:
    summary = cat.summary()
    if args.json:
        _print_json(summary)
        return 0
    for name, count in summary.items():
        print(f"{name:<12}{count:>6}")
    print()
    for module in cat.modules.values():
        signs = [s for s in cat.signs.values() if s.module == module.code]
        cores = sum(s.is_core for s in signs)
        name = f"{module.name_zh:<8} {module.name_en:<26}"
        print(f"{module.category} {module.code} {name} core {cores:>2}  signs {len(signs):>4}")
    return 0


def cmd_list(cat: Catalogue, args: argparse.Namespace) -> int:
    if args.module and args.module not in cat.modules:
        return _fail(f"unknown module {args.module!r}; known: {', '.join(cat.modules)}")
    if args.category and args.category not in cat.categories:
        return _fail(f"unknown category {args.category!r}; known: {', '.join(cat.categories)}")
    signs = _filtered(cat, args.module, args.category)
    if args.json:
        _print_json([sign_json(s) for s in signs])
        return 0
    for s in signs:
        print(f"{s.id:<40} {s.name_zh} [{s.unit}] {s.direction.value} {_source_text(s)}")
    return 0


def cmd_get(cat: Catalogue, args: argparse.Namespace) -> int:
    sign = cat.signs.get(args.sign_id)
    if sign is None:
        return _fail(f"unknown sign id {args.sign_id!r} (see: python -m signs list)")
    try:
        latest = read_latest(open_redis(), sign.id)
    except (redis.RedisError, ValueError) as error:
        return _fail(f"cannot read Redis (REDIS_URL): {error}", EXIT_REDIS)
    payload = value_json(sign, latest, time.time())
    if args.json:
        _print_json(payload)
    else:
        for key, value in payload.items():
            print(f"{key:<14}{value}")
    if latest is None:
        return _fail(f"no value yet for {sign.id}", EXIT_NO_VALUE)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m signs", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    summary = sub.add_parser("summary", help="counts of categories, modules, core indicators and signs")
    summary.add_argument("--json", action="store_true")
    summary.set_defaults(run=cmd_summary)
    listing = sub.add_parser("list", help="every sign with its unit, thresholds and source")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--module", help="only this module, e.g. M09")
    listing.add_argument("--category", help="only this category: P, T, D or S")
    listing.set_defaults(run=cmd_list)
    get = sub.add_parser("get", help="the newest value of one sign from Redis")
    get.add_argument("sign_id")
    get.add_argument("--json", action="store_true")
    get.set_defaults(run=cmd_get)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cat = catalogue()
    except CatalogueError as error:
        return _fail(f"catalogue error: {error}")
    run: Callable[[Catalogue, argparse.Namespace], int] = args.run
    try:
        return run(cat, args)
    except BrokenPipeError:
        # The reader (head, less) went away: not an error of ours. Silence the flush at exit.
        sys.stdout = open(os.devnull, "w")
        return 0


if __name__ == "__main__":
    sys.exit(main())
