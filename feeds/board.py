"""The wall's board: every sign's value, level and source time, republished by the roll-up each tick.

Walls poll for what changed since the board sequence they hold (KEY_BOARD_CHANGES), so a tick costs a
client a few hundred bytes and the app's work per poll does not grow with the number of signs. The board
also says which feeds have gone silent and whether the broker dropped messages, so that a wall never looks live while
its data has stopped or has gaps.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import redis

from feeds.contract import FEED_VIDEO
from feeds.sink import read_broker_drops
from signs.keys import KEY_BOARD, KEY_BOARD_CHANGES, KEY_CAMERA_HEARD, KEY_WORKER_PATTERN, Latest, Quality
from signs.model import Catalogue, MqttSource
from signs.store import latest_level, read_all_latest
from signs.storyclock import StoryClock, read_story_clock

# A feed is silent when nothing of it arrived for twice the cadence of its fastest sign, and never sooner
# than this, so that one late message does not raise the banner.
FEED_SILENT_MIN_S = 15.0
# Ticks of changes kept for walls that missed a few polls; a wall further behind reloads the whole board.
CHANGES_KEPT = 600

# One sign on the board: value, level (0 normal ... 4 red), source time, and its Quality when not OK
# ("warming-up", "incomplete": the wall marks it, and its level is 0, since such a value raises nothing).
BoardEntry = tuple[float, int, float] | tuple[float, int, float, str]


@dataclass(frozen=True, slots=True)
class Board:
    seq: int
    at: float
    signs: dict[str, BoardEntry]
    feeds: dict[str, float | None]  # feed -> seconds since its newest message, None when never heard
    silent: list[str]
    workers: int
    # Messages the broker dropped in the last hour (feeds.sink.BROKER_DROPS_RECENT_S); None when it does not say.
    dropped: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "signs": self.signs,
            "feeds": self.feeds,
            "silent": self.silent,
            "workers": self.workers,
            "dropped": self.dropped,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Board:
        return cls(
            seq=int(doc["seq"]),
            at=float(doc["at"]),
            signs={k: _entry(v) for k, v in doc["signs"].items()},
            feeds=doc.get("feeds", {}),
            silent=list(doc.get("silent", [])),
            workers=int(doc.get("workers", 0)),
            dropped=doc.get("dropped"),
        )


def _entry(raw: list[Any]) -> BoardEntry:
    value, level, source_ts = float(raw[0]), int(raw[1]), float(raw[2])
    return (value, level, source_ts, str(raw[3])) if len(raw) > 3 else (value, level, source_ts)


def board_entries(
    cat: Catalogue, latest: dict[str, Latest], clock: StoryClock | None = None
) -> dict[str, BoardEntry]:
    """Every sign's board entry, its level judged as the alert engine judges it (at story time while the simulator
    tells a story)."""
    entries: dict[str, BoardEntry] = {}
    for sign_id, value in latest.items():
        sign = cat.signs.get(sign_id)
        if sign is None:
            continue
        level = int(latest_level(sign, value, clock))
        if value.quality is Quality.OK:
            entries[sign_id] = (value.value, level, value.source_ts)
        else:
            entries[sign_id] = (value.value, level, value.source_ts, value.quality.value)
    return entries


def changed_entries(previous: dict[str, BoardEntry], current: dict[str, BoardEntry]) -> dict[str, BoardEntry]:
    return {sign_id: entry for sign_id, entry in current.items() if previous.get(sign_id) != entry}


def feed_silence_limits(cat: Catalogue) -> dict[str, float]:
    """Per feed, how long without any message before it counts as silent."""
    fastest: dict[str, float] = {}
    for sign in cat.signs.values():
        if isinstance(sign.source, MqttSource):
            feed = sign.source.feed
            fastest[feed] = min(fastest.get(feed, sign.cadence_s), sign.cadence_s)
    limits = {feed: max(FEED_SILENT_MIN_S, 2 * cadence) for feed, cadence in fastest.items()}
    limits.setdefault(FEED_VIDEO, FEED_SILENT_MIN_S)
    return limits


def feed_ages(
    cat: Catalogue, latest: dict[str, Latest], camera_heard: float | None, now: float
) -> dict[str, float | None]:
    """Seconds since each feed's newest message, judged by receive time (source clocks may be wrong)."""
    newest: dict[str, float] = {}
    for sign_id, value in latest.items():
        sign = cat.signs.get(sign_id)
        if sign is not None and isinstance(sign.source, MqttSource):
            feed = sign.source.feed
            newest[feed] = max(newest.get(feed, 0.0), value.receive_ts)
    if camera_heard is not None:
        newest[FEED_VIDEO] = camera_heard
    return {
        feed: (round(max(0.0, now - newest[feed]), 1) if feed in newest else None)
        for feed in sorted(feed_silence_limits(cat))
    }


def silent_feeds(ages: dict[str, float | None], limits: dict[str, float]) -> list[str]:
    return [feed for feed, age in ages.items() if age is None or age > limits[feed]]


def next_board(
    cat: Catalogue,
    previous: Board | None,
    latest: dict[str, Latest],
    camera_heard: float | None,
    workers: int,
    now: float,
    dropped: int | None = None,
    clock: StoryClock | None = None,
) -> tuple[Board, dict[str, BoardEntry]]:
    """The new board and the entries that changed since `previous` (all of them when there is none)."""
    entries = board_entries(cat, latest, clock)
    changes = changed_entries(previous.signs if previous else {}, entries)
    ages = feed_ages(cat, latest, camera_heard, now)
    board = Board(
        seq=(previous.seq if previous else 0) + 1,
        at=now,
        signs=entries,
        feeds=ages,
        silent=silent_feeds(ages, feed_silence_limits(cat)),
        workers=workers,
        dropped=dropped,
    )
    return board, changes


def change_record(board: Board, changes: dict[str, BoardEntry]) -> dict[str, Any]:
    """What a wall receives per tick: the changed signs plus the board's health, never the whole board."""
    return {
        "seq": board.seq,
        "at": board.at,
        "signs": changes,
        "feeds": board.feeds,
        "silent": board.silent,
        "workers": board.workers,
        "dropped": board.dropped,
    }


def read_board(client: redis.Redis) -> Board | None:
    raw = client.get(KEY_BOARD)
    return Board.from_json(json.loads(raw)) if raw else None


def publish_board(client: redis.Redis, cat: Catalogue, now: float | None = None) -> Board:
    """One board tick: read what the workers and roll-ups wrote, store the board and its changes."""
    now = time.time() if now is None else now
    previous = read_board(client)
    heard = client.get(KEY_CAMERA_HEARD)
    workers = sum(1 for _ in client.scan_iter(match=KEY_WORKER_PATTERN, count=100))
    drops = read_broker_drops(client, now)
    camera_heard = float(heard) if heard else None
    latest = read_all_latest(client)
    dropped = drops.recent if drops.known else None
    clock = read_story_clock(client)
    board, changes = next_board(cat, previous, latest, camera_heard, workers, now, dropped, clock)
    pipe = client.pipeline(transaction=True)
    if previous is None:
        pipe.delete(KEY_BOARD_CHANGES)  # a board started afresh numbers its ticks from 1 again
    pipe.set(KEY_BOARD, json.dumps(board.as_json(), separators=(",", ":")))
    pipe.xadd(
        KEY_BOARD_CHANGES,
        {"d": json.dumps(change_record(board, changes), separators=(",", ":"))},
        id=f"{board.seq}-0",
        maxlen=CHANGES_KEPT,
        approximate=True,
    )
    pipe.execute()
    return board
