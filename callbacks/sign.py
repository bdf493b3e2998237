"""The sign page's callbacks: the current value with the same sign elsewhere (every TICK), and the history
(on load, then every minute unless the view is pinned to a moment). Read Redis, hand to pure functions."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import redis
from dash import Dash, Input, Output, html, no_update

from layouts import sign as ids
from layouts.nav import text
from layouts.sign import (
    Headline,
    SiblingRow,
    headline_children,
    history_figure,
    siblings_children,
    since_children,
    stats_children,
)
from signs.catalogue import catalogue
from signs.drill import Series, alert_periods, bucket_series, bucket_width, history_window, levels_of, siblings, since
from signs.keys import Latest
from signs.model import Catalogue, Sign, is_stale
from signs.recent import read_latest_many, read_span
from signs.store import latest_level, shared_redis
from signs.urlstate import SignView, parse_url, pin_minute


def view_of(href: str | None) -> SignView | None:
    view = parse_url(href or "")
    return view if isinstance(view, SignView) else None


def headline(sign: Sign, latest: Latest | None, now: float) -> Headline:
    if latest is None:
        return Headline(None, sign.unit, None, None, True, None)
    age = max(0.0, now - latest.source_ts)
    level = int(latest_level(sign, latest))
    return Headline(latest.value, sign.unit, level, age, is_stale(sign, latest.source_ts, now), latest.source_ts)


def sibling_rows(others: list[Sign], latest: dict[str, Latest], now: float) -> list[SiblingRow]:
    rows = []
    for other in others:
        value = latest.get(other.id)
        if value is None:
            rows.append(SiblingRow(other, None, None, True))
            continue
        level = int(latest_level(other, value))
        rows.append(SiblingRow(other, value.value, level, is_stale(other, value.source_ts, now)))
    return rows


def current(client: redis.Redis, cat: Catalogue, view: SignView, now: float) -> tuple[list[Any], list[Any]]:
    sign = cat.signs[view.sign_id]
    others = siblings(cat, sign)
    latest = read_latest_many(client, [sign.id, *(s.id for s in others)])
    return (
        headline_children(headline(sign, latest.get(sign.id), now), view.lang),
        siblings_children(sibling_rows(others, latest, now), view, view.lang),
    )


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


def history_model(
    sign: Sign,
    points: np.ndarray,
    compared: list[tuple[Sign, np.ndarray]],
    view: SignView,
    win: HistoryWindow,
    now: float,
) -> tuple[dict[str, Any], list[Any], list[Any], str]:
    """(figure, since-children, stats-children, pin href) for one sign's history; pure."""
    series = bucket_series(points, win.start, win.stop, win.width)
    levels = levels_of(sign, points["ts"], points["value"])
    last_ts = float(points["ts"][-1]) if len(points) else win.end
    until = min(win.end, last_ts + 2 * sign.cadence_s)
    periods = alert_periods(points["ts"], levels, until=until, merge_gap_s=win.width)
    compared_series: list[tuple[Sign, Series]] = []
    for other, other_points in compared:
        other_win = window_of(other, view, win.end)
        compared_series.append((other, bucket_series(other_points, other_win.start, other_win.stop, other_win.width)))
    figure = history_figure(sign, series, periods, compared_series, win.start, win.end, view.lang)
    level_now = int(levels[-1]) if len(levels) else None
    found = since(points["ts"], levels, level_now or 0)
    pin = view.with_(end=pin_minute(now)).href() if view.end is None else view.with_(end=None).href()
    latest = (float(points["ts"][-1]), float(points["value"][-1])) if len(points) else None
    stats = stats_children(series, periods, view.lang, sign, latest)
    return figure, since_children(found, level_now, win.end, view.lang), stats, pin


def history(
    client: redis.Redis, cat: Catalogue, view: SignView, now: float
) -> tuple[dict[str, Any], list[Any], list[Any], str]:
    sign = cat.signs[view.sign_id]
    win = window_of(sign, view, now)
    read_end = min(win.stop, win.end)
    points = read_span(client, sign.id, win.start, read_end)
    compared = []
    for other in (cat.signs[i] for i in view.compare if i in cat.signs):
        other_win = window_of(other, view, now)
        compared.append((other, read_span(client, other.id, min(win.start, other_win.start), read_end)))
    return history_model(sign, points, compared, view, win, now)


def _error(lang: str, error: Exception) -> list[Any]:
    return [html.Span(f"Redis: {error}", className="error")]


def on_tick(href: str | None, _n: int | None) -> tuple[Any, Any]:
    view = view_of(href)
    cat = catalogue()
    if view is None or view.sign_id not in cat.signs:
        return no_update, no_update
    try:
        return current(shared_redis(), cat, view, time.time())
    except redis.RedisError as error:
        return _error(view.lang, error), no_update


def on_history(href: str | None, _n: int | None) -> tuple[Any, Any, Any, Any]:
    view = view_of(href)
    cat = catalogue()
    if view is None or view.sign_id not in cat.signs:
        return no_update, no_update, no_update, no_update
    try:
        return history(shared_redis(), cat, view, time.time())
    except redis.RedisError as error:
        return no_update, _error(view.lang, error), [text(view.lang)["no_data"]], no_update


def register(app: Dash) -> None:
    app.callback(
        Output(ids.HEADLINE, "children"),
        Output(ids.SIBLINGS, "children"),
        Input(ids.STATE, "data"),
        Input(ids.TICK, "n_intervals"),
    )(on_tick)
    app.callback(
        Output(ids.GRAPH, "figure"),
        Output(ids.SINCE, "children"),
        Output(ids.STATS, "children"),
        Output(ids.PIN, "href"),
        Input(ids.STATE, "data"),
        Input(ids.HISTORY_TICK, "n_intervals"),
    )(on_history)
