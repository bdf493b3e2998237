"""The search page's callback: the signs matching the URL's query, with their values and sparklines
(views.search)."""

from __future__ import annotations

import time
from typing import Any

import redis
from dash import Dash, Input, Output, no_update

from layouts import search as ids
from layouts.nav import text
from signs.catalogue import catalogue
from signs.store import shared_redis
from views import search as model


def on_load(href: object) -> tuple[Any, Any]:
    view = model.view_of(href)
    if view is None:
        return no_update, no_update
    try:
        rows = model.search_rows(shared_redis(), catalogue(), view, time.time())
    except redis.RedisError as error:
        return no_update, f"Redis: {error}"
    if not rows:
        return [], text(view.lang)["no_results"]
    return rows, f"{len(rows)} {text(view.lang)['signs']}"


def register(app: Dash) -> None:
    app.callback(Output(ids.GRID, "rowData"), Output(ids.COUNT, "children"), Input(ids.STATE, "data"))(on_load)
