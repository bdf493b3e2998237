"""The wall's one server callback per tick, and the clientside hooks into assets/wall.js.

Each wall sends the board sequence it holds and gets back only the ticks after it (a few hundred bytes in
steady state). A wall that is new, or too far behind, or that outlived a restarted board, gets the whole
board plus the last hour of every core sign for its sparklines. Nothing is kept in the app's memory, so any
gunicorn worker can answer any wall.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis
from dash import ClientsideFunction, Dash, Input, Output, State

from alerts.incidents import IncidentView
from alerts.store import list_active, list_silences, strip_incidents
from feeds.board import read_board
from layouts import wall
from signs.catalogue import catalogue
from signs.history import downsample
from signs.keys import KEY_ALERTS_AUDIT, KEY_BOARD_CHANGES
from signs.replies import stream_revrange
from signs.store import read_history, shared_redis

SPARK_WINDOW_S = 3600.0
SPARK_POINTS = 60
# Past this many missed ticks a wall reloads the whole board rather than replaying the changes.
REPLAY_LIMIT = 120
# The alert strip shows the most pressing open incidents; the counters count every open alert.
WALL_INCIDENTS = 30


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


def _stream_seq(entries: list[tuple[bytes, dict[bytes, bytes]]]) -> int | None:
    return int(entries[0][0].split(b"-")[0]) if entries else None


def spark_series(client: redis.Redis, sign_ids: list[str], now: float) -> dict[str, list[list[float]]]:
    start = now - SPARK_WINDOW_S
    series = {}
    for sign_id in sign_ids:
        buckets = downsample(read_history(client, sign_id, start, now), start, now, SPARK_POINTS)
        series[sign_id] = [[round(t, 1), float(v)] for t, v in zip(buckets.ts, buckets.mean, strict=True)]
    return series


def board_update(client: redis.Redis, held_seq: int, spark_signs: list[str]) -> dict[str, Any]:
    """What one wall gets on one tick. `full` tells the browser to replace its board rather than merge."""
    now = time.time()
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


def register(app: Dash) -> None:
    core_signs = [s.id for s in catalogue().signs.values() if s.is_core]

    @app.callback(
        Output(wall.CHANGES, "data"),
        Input(wall.TICK, "n_intervals"),
        State(wall.SEQ, "data"),
        State(wall.ALERTS_SEEN, "data"),
    )
    def tick(_n: int | None, held_seq: int | None, held_audit: str | None) -> dict[str, Any]:
        try:
            client = shared_redis()
            update = board_update(client, int(held_seq or 0), core_signs)
            alerts = alerts_update(client, held_audit)
            return update | ({"alerts": alerts} if alerts else {})
        except redis.RedisError as error:
            # The wall shows this in its banner; its values stay on screen, ageing visibly.
            return {"now": time.time(), "error": f"Redis: {error}"}

    app.clientside_callback(
        ClientsideFunction(namespace="cityeye_wall", function_name="apply"),
        Output(wall.SEQ, "data"),
        Output(wall.ALERTS_SEEN, "data"),
        Output(wall.DISTRICT_LAYER, "hideout"),
        Input(wall.CHANGES, "data"),
        Input(wall.MAP_SIGN, "value"),
        State(wall.CONTEXT, "data"),
    )
