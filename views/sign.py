"""The sign page's read model: the current value with the same sign elsewhere, and the history being viewed with
its buckets, periods in alert and since when the sign is at its level; the history export reads the same points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import redis

from signs.drill import (
    Period,
    Series,
    Since,
    alert_periods,
    bucket_series,
    bucket_width,
    history_window,
    levels_of,
    next_threshold,
    siblings,
    since,
)
from signs.export import history_table
from signs.keys import Latest
from signs.model import (
    BoundsKind,
    Catalogue,
    HubSource,
    MqttSource,
    Sign,
    is_stale,
    stale_at,
    thresholds_over,
)
from signs.recent import read_latest_many, read_span
from signs.store import latest_level
from signs.storyclock import StoryClock, read_story_clock
from signs.urlstate import SignView, pin_minute
from views.exports import Export, file_stamp


@dataclass(frozen=True)
class Headline:
    value: float | None
    unit: str
    level: int | None
    age_s: float | None
    stale: bool
    source_ts: float | None


@dataclass(frozen=True)
class SiblingRow:
    sign: Sign
    value: float | None
    level: int | None
    stale: bool


@dataclass(frozen=True)
class SignNow:
    headline: Headline
    siblings: list[SiblingRow]


def source_text(sign: Sign) -> str:
    """Where a sign's values come from: its MQTT topic and field, its derivation, or the event hub's events."""
    source = sign.source
    if isinstance(source, MqttSource):
        return f"MQTT cityeye/v1/{source.feed}/{source.adcode}/{source.source_id} #{source.field}"
    if isinstance(source, HubSource):
        return str(source)
    return source.expression


def headline(sign: Sign, latest: Latest | None, now: float, clock: StoryClock | None = None) -> Headline:
    if latest is None:
        return Headline(None, sign.unit, None, None, True, None)
    age = max(0.0, now - latest.source_ts)
    level = int(latest_level(sign, latest, clock))
    return Headline(latest.value, sign.unit, level, age, is_stale(sign, latest.source_ts, now), latest.source_ts)


def sibling_rows(
    others: list[Sign], latest: dict[str, Latest], now: float, clock: StoryClock | None = None
) -> list[SiblingRow]:
    rows = []
    for other in others:
        value = latest.get(other.id)
        if value is None:
            rows.append(SiblingRow(other, None, None, True))
            continue
        level = int(latest_level(other, value, clock))
        rows.append(SiblingRow(other, value.value, level, is_stale(other, value.source_ts, now)))
    return rows


def current(client: redis.Redis, cat: Catalogue, view: SignView, now: float) -> SignNow:
    sign = cat.signs[view.sign_id]
    others = siblings(cat, sign)
    latest = read_latest_many(client, [sign.id, *(s.id for s in others)])
    clock = read_story_clock(client)
    return SignNow(headline(sign, latest.get(sign.id), now, clock), sibling_rows(others, latest, now, clock))


@dataclass(frozen=True)
class HistoryWindow:
    start: float  # first bucket's start
    stop: float  # last bucket's end
    end: float  # the view's end: now, or the pinned moment
    width: float


def window_of(sign: Sign, view: SignView, now: float) -> HistoryWindow:
    end = float(view.end) if view.end is not None else now
    width = bucket_width(view.span_s, sign.cadence_s)
    start, stop = history_window(view.span_s, end, width)
    return HistoryWindow(start, stop, end, width)


@dataclass(frozen=True)
class HistoryReads:
    """The points of the history being viewed: the sign's over its window, and each compared sign's over the
    union of both windows (a slower sign's first bucket may start earlier)."""

    sign: Sign
    window: HistoryWindow
    points: np.ndarray
    compared: list[tuple[Sign, np.ndarray]]
    clock: StoryClock | None = None  # the simulator's, which the points' levels are judged by


def read_history(client: redis.Redis, cat: Catalogue, view: SignView, now: float) -> HistoryReads:
    """Unknown compared signs are left out (a page is read tolerantly; the export refuses them first)."""
    sign = cat.signs[view.sign_id]
    win = window_of(sign, view, now)
    read_end = min(win.stop, win.end)
    points = read_span(client, sign.id, win.start, read_end)
    compared = []
    for other in (cat.signs[i] for i in view.compare if i in cat.signs):
        other_win = window_of(other, view, now)
        compared.append((other, read_span(client, other.id, min(win.start, other_win.start), read_end)))
    return HistoryReads(sign, win, points, compared, read_story_clock(client))


# Per level (蓝, 黄, 橙, 红), the bound at each bucket of a Series; None for a level the catalogue leaves empty.
BucketBounds = tuple[list[float] | None, list[float] | None, list[float] | None, list[float] | None]


def bucket_bounds(sign: Sign, series: Series, clock: StoryClock | None) -> BucketBounds | None:
    """The bounds an hour-of-week sign's values are judged by, at each bucket's middle (its story time while
    `clock` runs): what the chart shades, so that a period shaded red lies in the red band drawn over it. None for
    the other signs, whose bounds are the catalogue's whatever the hour."""
    if sign.bounds is not BoundsKind.HOUR_OF_WEEK:
        return None
    middles = np.asarray(series.start + series.width * (np.arange(len(series)) + 0.5), dtype=np.float64)
    blue, yellow, orange, red = (
        None if bound is None else np.asarray(bound).tolist() for bound in thresholds_over(sign, middles, clock)
    )
    return blue, yellow, orange, red


@dataclass(frozen=True)
class SignHistory:
    """What the sign page draws of one history: buckets, the bounds its bands follow, periods in alert, compared
    series, the level now and since when, the newest reading, and where the pin button goes."""

    sign: Sign
    window: HistoryWindow
    series: Series
    periods: list[Period]
    compared: list[tuple[Sign, Series]]
    level_now: int | None
    since: Since | None
    latest: tuple[float, float] | None  # newest (source time, value)
    # The next level above the newest value's and the bound that reaches it, judged at that value's (story) time.
    upcoming: tuple[int, float] | None
    pin_href: str
    # An hour-of-week sign's bounds over the chart (bucket_bounds); None where they are the catalogue's at any hour.
    bounds: BucketBounds | None


def history_model(reads: HistoryReads, view: SignView, now: float) -> SignHistory:
    sign, points, win = reads.sign, reads.points, reads.window
    series = bucket_series(points, win.start, win.stop, win.width)
    levels = levels_of(sign, points["ts"], points["value"], reads.clock)
    last_ts = float(points["ts"][-1]) if len(points) else win.end
    # A period still going when the readings stop lasts until the value turns stale.
    until = min(win.end, stale_at(sign, last_ts))
    periods = alert_periods(points["ts"], levels, until=until, merge_gap_s=win.width)
    compared_series: list[tuple[Sign, Series]] = []
    for other, other_points in reads.compared:
        other_win = window_of(other, view, win.end)
        compared_series.append((other, bucket_series(other_points, other_win.start, other_win.stop, other_win.width)))
    level_now = int(levels[-1]) if len(levels) else None
    pin = view.with_(end=pin_minute(now)).href() if view.end is None else view.with_(end=None).href()
    latest = (float(points["ts"][-1]), float(points["value"][-1])) if len(points) else None
    return SignHistory(
        sign=sign,
        window=win,
        series=series,
        periods=periods,
        compared=compared_series,
        level_now=level_now,
        since=since(points["ts"], levels, level_now or 0),
        latest=latest,
        upcoming=next_threshold(sign, latest[1], latest[0], reads.clock) if latest else None,
        pin_href=pin,
        bounds=bucket_bounds(sign, series, reads.clock),
    )


def history(client: redis.Redis, cat: Catalogue, view: SignView, now: float) -> SignHistory:
    return history_model(read_history(client, cat, view, now), view, now)


def history_export(client: redis.Redis, cat: Catalogue, view: SignView, now: float) -> Export:
    """Every reading of the history being viewed, of the sign and each compared sign, over the sign's window."""
    reads = read_history(client, cat, view, now)
    sign, win = reads.sign, reads.window
    series = [(sign, reads.points)] + [(s, p[(p["ts"] >= win.start)]) for s, p in reads.compared]
    levels = [levels_of(s, p["ts"], p["value"], reads.clock) for s, p in series]
    table = history_table(series, levels, view.lang, win.start, win.end, now, [source_text(sign)])
    stamp = file_stamp(win.end)
    name = sign.name_en if view.lang == "en" else sign.name_zh
    return Export(table, f"{sign.id.replace(':', '-')}_{view.range}_{stamp}", f"{name}_{view.range}_{stamp}")
