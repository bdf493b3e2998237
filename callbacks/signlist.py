"""The module and category pages' callbacks (and the search page's grid): rows with values, levels, ages and
sparklines, refreshed every REFRESH_MS; the grid's sort written back into the URL.

One HMGET for the values and one pipelined GETRANGE round trip for every sparkline (signs.recent).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import redis
from dash import ClientsideFunction, Dash, Input, Output, State, no_update

from callbacks.nav import sorted_links
from layouts import signlist as ids
from layouts.nav import text
from signs.catalogue import catalogue
from signs.drill import district_name, list_signs, sign_district, sign_name, spark_window, sparkline
from signs.keys import Latest
from signs.model import Catalogue, Sign, is_stale
from signs.recent import read_latest_many, read_recent
from signs.store import latest_level, shared_redis
from signs.urlstate import FILTER_ABNORMAL, LIST_SORT_COLUMNS, ListView, SignView, Sort, parse_url


def view_of(href: str | None) -> ListView | None:
    view = parse_url(href or "")
    return view if isinstance(view, ListView) else None


def sign_row(
    cat: Catalogue, sign: Sign, latest: Latest | None, spark: list[int | None], now: float, lang: str
) -> dict[str, Any]:
    module = cat.modules[sign.module]
    row: dict[str, Any] = {
        "id": sign.id,
        "href": SignView(sign.id, lang=lang).href(),  # type: ignore[arg-type]
        "name": sign_name(sign, lang),
        "module": module.name_en if lang == "en" else module.name_zh,
        "district": district_name(sign_district(sign), lang),
        "unit": sign.unit,
        "core": sign.is_core,
        "lang": lang,
        "spark": spark,
    }
    if latest is None:
        return row | {"value": None, "level": None, "stale": True, "age": None, "ts": None}
    age = max(0.0, now - latest.source_ts)
    return row | {
        "value": latest.value,
        "level": int(latest_level(sign, latest)),
        "stale": is_stale(sign, latest.source_ts, now),
        "age": round(age, 1),
        "ts": latest.source_ts,
    }


def rows_for(
    cat: Catalogue,
    signs: list[Sign],
    latest: Mapping[str, Latest],
    recent: Mapping[str, np.ndarray],
    now: float,
    lang: str,
) -> list[dict[str, Any]]:
    out = []
    for sign in signs:
        points = recent.get(sign.id)
        window = spark_window(sign.cadence_s)
        spark = sparkline(points, now - window, now) if points is not None and len(points) else []
        out.append(sign_row(cat, sign, latest.get(sign.id), spark, now, lang))
    return out


def only_abnormal(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("level")]


def read_rows(
    client: redis.Redis, cat: Catalogue, signs: list[Sign], now: float, lang: str, abnormal: bool, sparks: bool = True
) -> list[dict[str, Any]]:
    """Rows for these signs; with `abnormal`, only those beyond a threshold (sparklines read for those only)."""
    latest = read_latest_many(client, [s.id for s in signs])
    if abnormal:
        signs = [s for s in signs if (v := latest.get(s.id)) is not None and latest_level(s, v) > 0]
    recent = read_recent(client, [(s, spark_window(s.cadence_s)) for s in signs], now) if sparks else {}
    return rows_for(cat, signs, latest, recent, now, lang)


def view_signs(cat: Catalogue, view: ListView) -> list[Sign]:
    return list_signs(cat, view.kind, view.code, view.district)


def count_text(shown: int, total: int, lang: str) -> str:
    return ids.TEXT["en" if lang == "en" else "zh"]["count"].format(shown=shown, total=total)


def sorted_view(view: ListView, column_state: list[dict[str, Any]] | None) -> ListView:
    sorted_cols = sorted(
        (c for c in (column_state or []) if c.get("sort") in ("asc", "desc")), key=lambda c: c.get("sortIndex") or 0
    )
    if not sorted_cols or sorted_cols[0].get("colId") not in LIST_SORT_COLUMNS:
        return view.with_(sort=None)
    sort = Sort(sorted_cols[0]["colId"], sorted_cols[0]["sort"])
    return view.with_(sort=None if (sort.column, sort.direction) == ids.DEFAULT_SORT else sort)


def sorted_list_rows(rows: list[dict[str, Any]], view: ListView) -> list[dict[str, Any]]:
    """The rows in the order the grid shows them for this view (empty cells last), for exports."""
    column, direction = (view.sort.column, view.sort.direction) if view.sort else ids.DEFAULT_SORT
    present = [r for r in rows if r.get(column) is not None]
    empty = [r for r in rows if r.get(column) is None]
    present.sort(key=lambda r: r[column], reverse=direction == "desc")
    return present + empty


def on_tick(href: str | None, _n: int | None) -> tuple[Any, Any]:
    view = view_of(href)
    cat = catalogue()
    if view is None or (view.code not in cat.modules and view.code not in cat.categories):
        return no_update, no_update
    signs = view_signs(cat, view)
    try:
        rows = read_rows(shared_redis(), cat, signs, time.time(), view.lang, view.filter == FILTER_ABNORMAL)
    except redis.RedisError as error:
        return no_update, f"Redis: {error}"
    return rows, count_text(len(rows), len(signs), view.lang) if rows or signs else text(view.lang)["no_data"]


def on_sort(column_state: list[dict[str, Any]] | None, href: str | None) -> tuple[Any, Any, Any]:
    return sorted_links(view_of(href), column_state, sorted_view)


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
