"""The module and category pages' callbacks: rows with values, levels, ages and sparklines, refreshed every
REFRESH_MS; the grid's sort written back into the URL. views.signlist reads and decides."""

from __future__ import annotations

import time
from typing import Any

import redis
from dash import ClientsideFunction, Dash, Input, Output, State, no_update

from callbacks.nav import sorted_links
from layouts import signlist as ids
from layouts.nav import text
from signs.catalogue import catalogue
from signs.store import shared_redis
from views import signlist as model


def count_text(shown: int, total: int, lang: str) -> str:
    return ids.TEXT["en" if lang == "en" else "zh"]["count"].format(shown=shown, total=total)


def on_tick(href: object, _n: object) -> tuple[Any, Any]:
    view = model.view_of(href)
    cat = catalogue()
    if view is None or not model.known(cat, view):
        return no_update, no_update
    try:
        rows = model.list_rows(shared_redis(), cat, view, time.time())
    except redis.RedisError as error:
        return no_update, f"Redis: {error}"
    total = len(model.view_signs(cat, view))
    return rows, count_text(len(rows), total, view.lang) if rows or total else text(view.lang)["no_data"]


def on_sort(column_state: object, href: object) -> tuple[Any, Any, Any]:
    return sorted_links(model.view_of(href), column_state, model.sorted_view)


def register(app: Dash) -> None:
    app.callback(
        Output(ids.GRID, "rowData"),
        Output(ids.COUNT, "children"),
        Input(ids.STATE, "data"),
        Input(ids.TICK, "n_intervals"),
    )(on_tick)
    app.callback(
        Output(ids.URL, "data"),
        Output(ids.EXPORT_CSV, "href"),
        Output(ids.EXPORT_XLSX, "href"),
        Input(ids.GRID, "columnState"),
        State(ids.STATE, "data"),
        prevent_initial_call=True,
    )(on_sort)
    app.clientside_callback(
        ClientsideFunction(namespace="cityeye_drill", function_name="replaceUrl"),
        Input(ids.URL, "data"),
        prevent_initial_call=True,
    )
