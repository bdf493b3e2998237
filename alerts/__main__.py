"""`python -m alerts`: run the alert engine, or look at and act on alerts from a terminal.

python -m alerts [run] [--name N]                  the engine (what `make run` starts)
python -m alerts list [--recent N] [--district ADCODE] [--json]
python -m alerts show ALERT_ID [--json]            one alert and its history
python -m alerts ack ALERT_ID --user NAME [--note TEXT]
python -m alerts resolve ALERT_ID --user NAME --note TEXT
python -m alerts assign ALERT_ID --user NAME [--to OFFICER] [--note TEXT]
python -m alerts incidents [--district ADCODE] [--json]   open incidents, the most pressing first
python -m alerts incident INCIDENT_ID [--json]     one incident: members and timeline
python -m alerts ack-incident|resolve-incident|assign-incident INCIDENT_ID --user NAME [--note TEXT] [--to OFFICER]
python -m alerts silence sign|district TARGET --for 2h|--until 2026-05-24T18:00 --reason TEXT --user NAME
python -m alerts unsilence SILENCE_ID --user NAME
python -m alerts silences [--json]
python -m alerts audit [--hours H] [--json]        transitions, oldest first: the duty log's raw record
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis

from alerts.escalation import Stage, countdown
from alerts.incidents import IncidentView
from alerts.lifecycle import InvalidTransition
from alerts.model import Alert, SilenceScope
from alerts.store import (
    AlertNotFound,
    IncidentNotFound,
    SilenceNotFound,
    acknowledge,
    acknowledge_incident,
    assign,
    assign_incident,
    get_alert,
    get_incident,
    history,
    incident_timeline,
    lift_silence,
    list_active,
    list_incidents,
    list_recent,
    list_silences,
    read_audit,
    resolve,
    resolve_incident,
    silence,
)
from auth.names import InvalidUsername, check_username
from config import settings
from signs.citytime import TimeFormat, city_text, in_city_time
from signs.store import open_redis

EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_REDIS = 3
EXIT_REFUSED = 4
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def _duration_s(text: str) -> float:
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90s, 30m, 2h or 1d")
    return float(match[1]) * _UNIT_S[match[2]]


def _username(text: str) -> str:
    """--user NAME follows the same rule as the web's accounts: the name is shown on every wall as who acted."""
    try:
        return check_username(text)
    except InvalidUsername as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _local_time(text: str) -> float:
    """ISO-8601; without an offset it is Xiangyang local time."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO-8601 time") from None
    return in_city_time(moment).timestamp()


def _clock(ts: float | None) -> str:
    return city_text(ts, TimeFormat.DAY_SECOND) if ts else "-"


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7_200 else f"{seconds / 3_600:.1f} h"


def _due(alert: Alert, now: float) -> str:
    """The countdown to the next deadline: "response due in 12 min", or "feedback overdue by 3 min"."""
    left = countdown(alert, now)
    if left is None:
        return ""
    limit = left.stage.name.lower()
    if left.remaining_s > 0:
        return f"{limit} due in {_span(left.remaining_s)}"
    return f"{limit} overdue by {_span(left.remaining_s)}"


def _alert_line(alert: Alert, now: float) -> str:
    flags = [f"escalated:{Stage(alert.escalation).en}"] if alert.escalation else []
    flags += ["silenced"] if alert.silence else []
    return (
        f"{alert.id:<38} {alert.level.en:<6} {alert.status.value:<12} {_clock(alert.raised_at)}  "
        f"{alert.name} {alert.value:g}{alert.unit}  {_due(alert, now)}  {' '.join(flags)}".rstrip()
    )


def _print_json(doc: Any) -> None:
    print(json.dumps(doc, ensure_ascii=False, indent=2))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m alerts", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="run the alert engine (the default)")
    run.add_argument("--name", default="1", help="engine name: its consumer in the readings group (default 1)")
    listing = commands.add_parser("list", help="open alerts, or the recently changed ones")
    listing.add_argument("--recent", type=int, metavar="N", help="the N most recently changed alerts, open or closed")
    listing.add_argument("--district", help="only this district's alerts (adcode)")
    listing.add_argument("--json", action="store_true")
    show = commands.add_parser("show", help="one alert and its history")
    show.add_argument("alert_id")
    show.add_argument("--json", action="store_true")
    for name, note_required in (("ack", False), ("resolve", True)):
        act = commands.add_parser(name, help=f"{'acknowledge' if name == 'ack' else 'resolve'} an alert")
        act.add_argument("alert_id")
        act.add_argument("--user", required=True, type=_username)
        act.add_argument("--note", required=note_required, default="")
        act.add_argument("--json", action="store_true")
    hush = commands.add_parser("silence", help="silence a sign or a district for a while, with a reason")
    hush.add_argument("scope", choices=[s.value for s in SilenceScope])
    hush.add_argument("target", help="sign id or district adcode")
    until = hush.add_mutually_exclusive_group(required=True)
    until.add_argument("--for", dest="duration", type=_duration_s, help="e.g. 30m, 2h, 1d")
    until.add_argument("--until", type=_local_time, help="ISO-8601, local time without an offset")
    hush.add_argument("--reason", required=True)
    hush.add_argument("--user", required=True, type=_username)
    hush.add_argument("--json", action="store_true")
    unhush = commands.add_parser("unsilence", help="lift a silence early")
    unhush.add_argument("silence_id")
    unhush.add_argument("--user", required=True, type=_username)
    assigning = commands.add_parser("assign", help="assign an alert to an officer (the acting one by default)")
    assigning.add_argument("alert_id")
    assigning.add_argument("--user", required=True, type=_username)
    assigning.add_argument("--to", type=_username, help="the officer it goes to; default: --user")
    assigning.add_argument("--note", default="")
    assigning.add_argument("--json", action="store_true")
    incidents = commands.add_parser("incidents", help="open incidents, the most pressing first")
    incidents.add_argument("--district", default=None)
    incidents.add_argument("--json", action="store_true")
    incident = commands.add_parser("incident", help="one incident: its members and timeline")
    incident.add_argument("incident_id")
    incident.add_argument("--json", action="store_true")
    for name in ("ack-incident", "resolve-incident", "assign-incident"):
        act = commands.add_parser(name, help=f"{name.split('-')[0]} every open member of an incident, with one note")
        act.add_argument("incident_id")
        act.add_argument("--user", required=True, type=_username)
        act.add_argument("--note", required=name == "resolve-incident", default="")
        if name == "assign-incident":
            act.add_argument("--to", type=_username, help="the officer it goes to; default: --user")
        act.add_argument("--json", action="store_true")
    silences = commands.add_parser("silences", help="silences in force")
    silences.add_argument("--json", action="store_true")
    audit = commands.add_parser("audit", help="transitions of the last hours, oldest first")
    audit.add_argument("--hours", type=float, default=24.0)
    audit.add_argument("--json", action="store_true")
    return parser


def _list(args: argparse.Namespace, client: redis.Redis, now: float) -> None:
    if args.recent:
        alerts = list_recent(client, limit=args.recent, district=args.district)
    else:
        alerts = list_active(client, district=args.district)
    if args.json:
        _print_json([alert.as_json() for alert in alerts])
    else:
        print("\n".join(_alert_line(alert, now) for alert in alerts) or "no alerts")


def _show(args: argparse.Namespace, client: redis.Redis, now: float) -> None:
    alert = get_alert(client, args.alert_id)
    if alert is None:
        raise AlertNotFound(args.alert_id)
    transitions = history(client, alert.id)
    if args.json:
        _print_json({**alert.as_json(), "history": [t.as_json() for t in transitions]})
        return
    print(_alert_line(alert, now))
    for t in transitions:
        print(f"  {_clock(t.at)}  {t.event.value:<14} {t.status:<12} {t.level:<6} {t.by:<10} {t.note}")


def _officer_act(args: argparse.Namespace, client: redis.Redis, now: float) -> None:
    operation = acknowledge if args.command == "ack" else resolve
    alert = operation(client, args.alert_id, args.user, args.note, now=now)
    if args.json:
        _print_json(alert.as_json())
    else:
        print(_alert_line(alert, now))


def _assign(args: argparse.Namespace, client: redis.Redis, now: float) -> None:
    alert = assign(client, args.alert_id, args.to or args.user, args.user, args.note, now=now)
    if args.json:
        _print_json(alert.as_json())
    else:
        print(_alert_line(alert, now))


def _incident_line(incident: IncidentView) -> str:
    assignee = incident.incident.assignee
    who = f"  → {assignee.to}" if assignee else ""
    return f"{incident.id:<44} {incident.level.en:<6} {incident.status.value:<12} {incident.title('zh')}{who}"


def _incidents(args: argparse.Namespace, client: redis.Redis, now: float) -> None:
    found = list_incidents(client, district=args.district)
    if args.json:
        _print_json([i.as_json() for i in found])
    else:
        print("\n".join(_incident_line(i) for i in found) or "no incidents")


def _incident(args: argparse.Namespace, client: redis.Redis, now: float) -> None:
    found = get_incident(client, args.incident_id)
    if found is None:
        raise IncidentNotFound(args.incident_id)
    timeline = incident_timeline(client, found.id)
    if args.json:
        members = [a.as_json() for a in found.members]
        _print_json({**found.as_json(), "alerts": members, "timeline": [e.as_json() for e in timeline]})
        return
    print(_incident_line(found))
    for alert in found.members:
        print(f"  {_alert_line(alert, now)}")
    for entry in timeline:
        print(f"  {_clock(entry.at)}  {entry.event.value:<13} {entry.by:<10} {entry.detail:<8} {entry.note}")


def _incident_act(args: argparse.Namespace, client: redis.Redis, now: float) -> None:
    if args.command == "ack-incident":
        done = acknowledge_incident(client, args.incident_id, args.user, args.note, now=now)
    elif args.command == "resolve-incident":
        done = resolve_incident(client, args.incident_id, args.user, args.note, now=now)
    else:
        done = assign_incident(client, args.incident_id, args.to or args.user, args.user, args.note, now=now)
    if args.json:
        _print_json(done.as_json())
    else:
        print(_incident_line(done))


def _silence(args: argparse.Namespace, client: redis.Redis, now: float) -> None:
    until = now + args.duration if args.duration is not None else args.until
    created = silence(client, args.scope, args.target, until, args.reason, args.user, now=now)
    if args.json:
        _print_json(created.as_json())
    else:
        print(f"{created.id} until {_clock(created.until)}")


def _unsilence(args: argparse.Namespace, client: redis.Redis, now: float) -> None:
    print(lift_silence(client, args.silence_id, args.user, now=now).id)


def _silences(args: argparse.Namespace, client: redis.Redis, now: float) -> None:
    active = list_silences(client, now=now)
    if args.json:
        _print_json([s.as_json() for s in active])
        return
    for s in active:
        print(f"{s.id:<30} {s.scope.value:<8} {s.target:<28} until {_clock(s.until)}  {s.by}: {s.reason}")


def _audit(args: argparse.Namespace, client: redis.Redis, now: float) -> None:
    transitions = read_audit(client, start=now - args.hours * 3600, count=100_000)
    if args.json:
        _print_json([t.as_json() for t in transitions])
        return
    for t in transitions:
        print(
            f"{_clock(t.at)}  {t.event.value:<15} {t.alert_id or t.silence_id:<38} {t.status:<12} {t.by:<10} {t.note}"
        )


COMMANDS: dict[str, Callable[[argparse.Namespace, redis.Redis, float], None]] = {
    "list": _list,
    "show": _show,
    "ack": _officer_act,
    "resolve": _officer_act,
    "assign": _assign,
    "incidents": _incidents,
    "incident": _incident,
    "ack-incident": _incident_act,
    "resolve-incident": _incident_act,
    "assign-incident": _incident_act,
    "silence": _silence,
    "unsilence": _unsilence,
    "silences": _silences,
    "audit": _audit,
}


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    config = settings()
    if args.command in (None, "run"):
        from alerts.engine import run_engine

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        run_engine(config, getattr(args, "name", "1"))
        return 0
    try:
        COMMANDS[args.command](args, open_redis(config.redis_url), time.time())
        return 0
    except (AlertNotFound, SilenceNotFound, IncidentNotFound) as error:
        print(f"not found: {error}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except InvalidTransition as error:
        print(f"refused: {error}", file=sys.stderr)
        return EXIT_REFUSED
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except redis.RedisError as error:
        print(f"Redis unavailable: {error}", file=sys.stderr)
        return EXIT_REDIS


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
