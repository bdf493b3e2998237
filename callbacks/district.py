"""The district page's callbacks: the comparison table, the alert engine's open alerts, the district's open events
(read-only), summary and map colours (on load and every TICK), and the table's sort written back into the URL.
views.district reads and decides, layouts.district draws. Nothing is read for a district the user's scope does not
cover (auth.scope), whoever sends the request.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from dash import ClientsideFunction, Dash, Input, Output, State, html, no_update

from auth.scope import current_scope, event_scope_of
from auth.web import current_user
from callbacks.nav import sorted_links
from dispatch.library import library
from layouts import district as ids
from layouts.district import alerts_children, events_children, summary_children
from signs.catalogue import catalogue
from signs.store import shared_redis
from signs.urlstate import DistrictView
from views import district as model


def page_outputs(page: model.DistrictPage, view: DistrictView) -> tuple[Any, ...]:
    """(grid rows, alerts, summary, map levels) of one district."""
    summary = summary_children(page.alert_counts, page.cores_abnormal, page.camera_rate, view)
    return page.rows, alerts_children(page.alerts, view), summary, page.levels


def on_tick(href: object, _n: object) -> tuple[Any, ...]:
    view = model.view_of(href)
    if view is None or not current_scope().covers(view.adcode):
        return no_update, no_update, no_update, no_update, no_update
    cat, now = catalogue(), time.time()
    try:
        reads = model.read_district(shared_redis(), cat, view.adcode)
        cards, total = model.district_events(
            shared_redis(), library(), view.adcode, event_scope_of(current_user()), view.lang, now
        )
    except redis.RedisError as error:
        return no_update, [html.Span(f"Redis: {error}", className="error")], no_update, no_update, no_update
    return (*page_outputs(model.district_page(cat, reads, view, now), view), events_children(cards, total, view))


def on_sort(column_state: object, href: object) -> tuple[Any, Any, Any]:
    return sorted_links(model.view_of(href), column_state, model.sorted_view)


def register(app: Dash) -> None:
    app.callback(
        Output(ids.GRID, "rowData"),
        Output(ids.ALERTS, "children"),
        Output(ids.SUMMARY, "children"),
        Output(ids.LEVELS, "data"),
        Output(ids.EVENTS, "children"),
        Input(ids.STATE, "data"),
        Input(ids.TICK, "n_intervals"),
    )(on_tick)
    # In the browser, so the style function also has the levels when the layer finishes loading after them.
    app.clientside_callback(
        ClientsideFunction(namespace="cityeye_drill", function_name="applyLevels"),
        Output(ids.LAYER, "hideout"),
        Input(ids.LEVELS, "data"),
        State(ids.LAYER, "hideout"),
        prevent_initial_call=True,
    )
    app.callback(
        Output(ids.URL, "data"),
        Output(ids.EXPORT_CSV, "href"),
        Output(ids.EXPORT_XLSX, "href"),
        Input(ids.GRID, "columnState"),
        State(ids.STATE, "data"),
        prevent_initial_call=True,
    )(on_sort)
    # No output: the browser's address bar is the only thing it changes.
    app.clientside_callback(
        ClientsideFunction(namespace="cityeye_drill", function_name="replaceUrl"),
        Input(ids.URL, "data"),
        prevent_initial_call=True,
    )
