"""Reads for the drill-down pages: the newest values of many signs, and the recent past of many signs at once.

A sign's history is one string per UTC day that the sink appends to (signs.keys.KEY_HISTORY), so its most
recent readings are the string's tail: GETRANGE of the last few hundred bytes serves a sparkline without
reading the whole day. Readings are appended in arrival order, so a tail is cut by time afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import redis

from signs.keys import HISTORY_POINT, KEY_LATEST, Latest, history_day, history_key
from signs.model import Sign

POINT_DTYPE = np.dtype([("ts", "<f8"), ("value", "<f8")])
# Readings beyond the expected count kept in a tail: late, duplicated or redelivered ones.
TAIL_SLACK = 1.5
TAIL_MIN_POINTS = 8


def read_latest_many(client: redis.Redis, sign_ids: Iterable[str]) -> dict[str, Latest]:
    ids = list(sign_ids)
    if not ids:
        return {}
    return {sign_id: Latest.decode(raw) for sign_id, raw in zip(ids, client.hmget(KEY_LATEST, ids), strict=True) if raw}


def tail_points(sign: Sign, window_s: float) -> int:
    return max(TAIL_MIN_POINTS, math.ceil(TAIL_SLACK * window_s / sign.cadence_s) + 2)


def _decode(blobs: list[bytes]) -> np.ndarray:
    size = HISTORY_POINT.size
    data = b"".join(blob[len(blob) % size :] for blob in blobs if blob)
    return np.frombuffer(data, dtype=POINT_DTYPE)


def read_span(client: redis.Redis, sign_id: str, start: float, end: float) -> np.ndarray:
    """signs.store.read_history, for long spans: the same points (sorted, the last written of each timestamp),
    but day strings that are already in order, as the sink writes them, are cut with a binary search rather
    than masked and re-sorted, which halves the time for a week at 5 s cadence."""
    days = sorted({history_day(t) for t in [*np.arange(start, end, 86_400), end]})
    with client.pipeline(transaction=False) as pipe:
        for day in days:
            pipe.get(history_key(sign_id, day))
        blobs = [b for b in pipe.execute() if b]
    if not blobs:
        return np.empty(0, dtype=POINT_DTYPE)
    points = np.frombuffer(b"".join(blobs), dtype=POINT_DTYPE)
    ts = points["ts"]
    if len(ts) > 1 and not (ts[1:] >= ts[:-1]).all():
        points = points[np.argsort(ts, kind="stable")]
        ts = points["ts"]
    points = points[np.searchsorted(ts, start, side="left") : np.searchsorted(ts, end, side="right")]
    ts = points["ts"]
    if len(ts) > 1 and (ts[1:] == ts[:-1]).any():
        keep = np.ones(len(points), dtype=bool)
        keep[:-1] = ts[1:] != ts[:-1]
        points = points[keep]
    return points


def read_recent(client: redis.Redis, signs: Iterable[tuple[Sign, float]], now: float) -> dict[str, np.ndarray]:
    """Per sign, its readings of the last `window` seconds (sorted, one per timestamp), from the tails of
    today's and yesterday's history strings (UTC days): one pipelined round trip for any number of signs."""
    wanted = list(signs)
    days = sorted({history_day(now - 86_400), history_day(now)})
    with client.pipeline(transaction=False) as pipe:
        for sign, window in wanted:
            nbytes = tail_points(sign, window) * HISTORY_POINT.size
            for day in days:
                pipe.getrange(history_key(sign.id, day), -nbytes, -1)
        replies = pipe.execute()
    out = {}
    for i, (sign, window) in enumerate(wanted):
        points = _decode(replies[i * len(days) : (i + 1) * len(days)])
        points = points[(points["ts"] >= now - window) & (points["ts"] <= now)]
        points = points[np.argsort(points["ts"], kind="stable")]
        keep = np.ones(len(points), dtype=bool)
        keep[:-1] = points["ts"][1:] != points["ts"][:-1]
        out[sign.id] = points[keep]
    return out
