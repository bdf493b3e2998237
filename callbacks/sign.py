"""The sign page's callbacks: the current value with the same sign elsewhere (every TICK), and the history
(on load, then every minute unless the view is pinned to a moment). views.sign reads and decides, layouts.sign
draws."""

from __future__ import annotations

import time
from typing import Any

import redis
from dash import Dash, Input, Output, html, no_update

from layouts import sign as ids
from layouts.nav import text
from layouts.sign import headline_children, history_figure, siblings_children, since_children, stats_children
from signs.catalogue import catalogue
from signs.model import Catalogue
from signs.store import shared_redis
from signs.urlstate import SignView, parse_url
from views import sign as model


def view_of(href: object) -> SignView | None:
    """The sign page's view in a URL, of a sign the catalogue has; None for anything else."""
    view = parse_url(href) if isinstance(href, str) else None
    return view if isinstance(view, SignView) and view.sign_id in catalogue().signs else None


def current_children(now_: model.SignNow, view: SignView) -> tuple[list[Any], list[Any]]:
    return headline_children(now_.headline, view.lang), siblings_children(now_.siblings, view, view.lang)


def history_children(found: model.SignHistory, lang: str) -> tuple[dict[str, Any], list[Any], list[Any], str]:
    """(figure, since-children, stats-children, pin href) of one sign's history."""
    win = found.window
    figure = history_figure(
        found.sign, found.series, found.periods, found.compared, win.start, win.end, lang, found.upcoming, found.bounds
    )
    stats = stats_children(found.series, found.periods, lang, found.sign, found.latest, found.upcoming)
    return figure, since_children(found.since, found.level_now, win.end, lang), stats, found.pin_href


def history(
    client: redis.Redis, cat: Catalogue, view: SignView, now: float
) -> tuple[dict[str, Any], list[Any], list[Any], str]:
    return history_children(model.history(client, cat, view, now), view.lang)


def _error(error: Exception) -> list[Any]:
    return [html.Span(f"Redis: {error}", className="error")]


def on_tick(href: object, _n: object) -> tuple[Any, Any]:
    view = view_of(href)
    if view is None:
        return no_update, no_update
    try:
        return current_children(model.current(shared_redis(), catalogue(), view, time.time()), view)
    except redis.RedisError as error:
        return _error(error), no_update


def on_history(href: object, _n: object) -> tuple[Any, Any, Any, Any]:
    view = view_of(href)
    if view is None:
        return no_update, no_update, no_update, no_update
    try:
        return history(shared_redis(), catalogue(), view, time.time())
    except redis.RedisError as error:
        return no_update, _error(error), [text(view.lang)["no_data"]], no_update


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
