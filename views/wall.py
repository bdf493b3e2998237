"""The wall's read model, one answer per tick: the board changes after the sequence a wall holds (or the whole board
with an hour of sparklines), and the alert strip's open incidents when any alert or silence changed.

Each wall sends the board sequence it holds and gets back only the ticks after it (a few hundred bytes in
steady state). A wall that is new, or too far behind, or that outlived a restarted board, gets the whole
board plus the last hour of every core sign for its sparklines. Nothing is kept in the app's memory, so any
gunicorn worker can answer any wall. What a wall sends back is the browser's: a sequence or an audit id of the
wrong type counts as none held.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from alerts.incidents import IncidentView
from alerts.store import list_active, list_silences, strip_incidents
from feeds.board import read_board
from signs.history import downsample
from signs.keys import KEY_ALERTS_AUDIT, KEY_BOARD_CHANGES
from signs.replies import StreamEntry, stream_revrange
from signs.store import read_history
from signs.storyclock import StoryClock, read_story_clock

SPARK_WINDOW_S = 3600.0
SPARK_POINTS = 60
# Past this many missed ticks a wall reloads the whole board rather than replaying the changes.
REPLAY_LIMIT = 120
# The alert strip shows the most pressing open incidents; the counters count every open alert.
WALL_INCIDENTS = 30
# Board sequences are stream entry ids: far below this. A larger "held" sequence is junk, not a wall ahead of us.
MAX_SEQ = 2**53


def held_seq_of(value: object) -> int:
    """The board sequence a wall says it holds; 0 (nothing held: the whole board) for anything but a count."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_SEQ:
        return 0
    return value


def held_audit_of(value: object) -> str | None:
    """The audit entry id a wall says it last saw; None (seen nothing) for anything but a stream id."""
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        return None
    return value


def merge_changes(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold consecutive change records into one: later values win, health comes from the newest."""
    merged = dict(records[-1])
    signs: dict[str, Any] = {}
    for record in records:
        signs.update(record["signs"])
    merged["signs"] = signs
    return merged


def replayable(held_seq: int, first_kept: int | None, newest: int | None) -> bool:
    """Whether the wall's missing ticks are all still in the changes stream."""
    if held_seq <= 0 or first_kept is None or newest is None:
        return False
    return first_kept <= held_seq + 1 and held_seq <= newest and newest - held_seq <= REPLAY_LIMIT


def _stream_seq(entries: list[StreamEntry]) -> int | None:
    return int(entries[0][0].split(b"-")[0]) if entries else None


def spark_series(client: redis.Redis, sign_ids: list[str], now: float) -> dict[str, list[list[float]]]:
    start = now - SPARK_WINDOW_S
    series = {}
    for sign_id in sign_ids:
        buckets = downsample(read_history(client, sign_id, start, now), start, now, SPARK_POINTS)
        series[sign_id] = [[round(t, 1), float(v)] for t, v in zip(buckets.ts, buckets.mean, strict=True)]
    return series


def board_update(
    client: redis.Redis, held_seq: int, spark_signs: list[str], now: float | None = None
) -> dict[str, Any]:
    """What one wall gets on one tick. `full` tells the browser to replace its board rather than merge."""
    now = time.time() if now is None else now
    with client.pipeline(transaction=False) as pipe:
        pipe.xrange(KEY_BOARD_CHANGES, min=f"{held_seq + 1}-0", max="+", count=REPLAY_LIMIT + 1)
        pipe.xrange(KEY_BOARD_CHANGES, count=1)
        pipe.xrevrange(KEY_BOARD_CHANGES, count=1)
        after, first, last = pipe.execute()
    newest = _stream_seq(last)
    if replayable(held_seq, _stream_seq(first), newest):
        if not after:
            return {"now": now, "full": False, "seq": held_seq, "signs": {}, "unchanged": True}
        records = [json.loads(fields[b"d"]) for _, fields in after]
        return {"now": now, "full": False, **merge_changes(records)}
    board = read_board(client)
    if board is None:
        empty: dict[str, Any] = {
            "seq": 0, "at": None, "signs": {}, "feeds": {}, "silent": [], "workers": 0, "spark": {},
        }  # fmt: skip
        return {"now": now, "full": True, **empty}
    return {"now": now, "full": True, **board.as_json(), "spark": spark_series(client, spark_signs, now)}


def wall_incident(incident: IncidentView) -> dict[str, Any]:
    """What the strip needs of one incident, in short keys. `sign` is its worst open member's sign, which the
    kiosk shows when it jumps to the incident; the countdown is its most pressing open member's."""
    members = incident.open_members or list(incident.members)
    worst = max(members, key=lambda a: (int(a.level), a.raised_at))
    unacknowledged = [a for a in members if a.acknowledged is None]
    due = min(a.due.response for a in unacknowledged) if unacknowledged else min(a.due.handling for a in members)
    assignee = incident.incident.assignee
    acknowledgers = sorted({a.acknowledged.by for a in members if a.acknowledged is not None})
    return {
        "id": incident.id,
        "title": [incident.title("zh"), incident.title("en")],
        "district": incident.district,
        "sign": worst.sign_id,
        "level": int(incident.level),
        "status": incident.status.value,
        "count": incident.count,
        "open": len(incident.open_members),
        "assignee": assignee.to if assignee else None,
        "ackBy": acknowledgers[0] if len(acknowledgers) == 1 else (f"{acknowledgers[0]}+" if acknowledgers else None),
        "due": due,
        "dueKind": "response" if unacknowledged else "handling",
        "escalation": max(a.escalation for a in members),
        "raised": incident.latest_raise,
        "silenced": incident.silenced,
    }


def alerts_update(client: redis.Redis, held_audit: str | None) -> dict[str, Any] | None:
    """Open incidents when anything happened to any alert or silence since the audit entry the wall holds; None
    otherwise (and while no alert engine has ever run, so the wall keeps showing threshold breaches)."""
    newest = stream_revrange(client, KEY_ALERTS_AUDIT, count=1)
    if not newest:
        return None
    audit = newest[0][0].decode()
    if audit == held_audit:
        return None
    active = list_active(client)
    counts = [0] * 5
    for alert in active:
        counts[int(alert.level)] += 1
    incidents = strip_incidents(client)[:WALL_INCIDENTS]
    return {
        "audit": audit,
        "counts": counts,
        "silences": len(list_silences(client)),
        "list": [wall_incident(i) for i in incidents],
    }


def simulated_notice(clock: StoryClock | None, now: float) -> dict[str, Any] | None:
    """What the header clock and the banner say while the simulator runs: its label in both languages, and whether
    it gives a story time (the clock then shows it instead of the wall clock); None for real data."""
    if clock is None:
        return None
    return {"text": [clock.label(now, "zh"), clock.label(now, "en")], "story": clock.shows_story_time(now)}


def wall_tick(
    client: redis.Redis, held_seq: object, held_audit: object, spark_signs: list[str], now: float
) -> dict[str, Any]:
    """One wall's tick: the board's update, with the alert strip's when it changed, and whether the data is
    simulated (never hidden: a simulated storm must not pass for a real one)."""
    update = board_update(client, held_seq_of(held_seq), spark_signs, now)
    alerts = alerts_update(client, held_audit_of(held_audit))
    simulated = {"simulated": simulated_notice(read_story_clock(client), now)}
    return update | simulated | ({"alerts": alerts} if alerts else {})
