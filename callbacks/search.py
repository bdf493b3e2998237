"""The search page's callback: the signs matching the URL's query, with their values and sparklines."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

import redis
from dash import Dash, Input, Output, no_update

from callbacks.signlist import read_rows
from layouts import search as ids
from layouts.nav import text
from signs.catalogue import catalogue
from signs.drill import IndexEntry, search, search_index
from signs.store import shared_redis
from signs.urlstate import SearchView, parse_url


@lru_cache(maxsize=1)
def _index() -> list[IndexEntry]:
    return search_index(catalogue())


def on_load(href: str | None) -> tuple[Any, Any]:
    view = parse_url(href or "")
    if not isinstance(view, SearchView):
        return no_update, no_update
    cat = catalogue()
    hits = search(_index(), view.q, limit=ids.MAX_RESULTS)
    if not hits:
        return [], text(view.lang)["no_results"]
    try:
        rows = read_rows(shared_redis(), cat, [cat.signs[h.id] for h in hits], time.time(), view.lang, abnormal=False)
    except redis.RedisError as error:
        return no_update, f"Redis: {error}"
    return rows, f"{len(rows)} {text(view.lang)['signs']}"


def register(app: Dash) -> None:
    app.callback(Output(ids.GRID, "rowData"), Output(ids.COUNT, "children"), Input(ids.STATE, "data"))(on_load)
