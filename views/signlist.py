"""The module and category pages' read model (and the search page's rows): each listed sign with its value,
level, age and sparkline; the list export is the same rows in the order the grid shows them.

One HMGET for the values and one pipelined GETRANGE round trip for every sparkline (signs.recent).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import redis

from signs.drill import district_name, list_signs, sign_district, sign_name, spark_window, sparkline
from signs.export import list_table
from signs.keys import Latest
from signs.model import Catalogue, Sign, is_stale
from signs.recent import read_latest_many, read_recent
from signs.store import latest_level
from signs.storyclock import StoryClock, read_story_clock
from signs.urlstate import FILTER_ABNORMAL, LIST_SORT_COLUMNS, ListView, SignView, parse_url
from views.exports import Export, file_stamp
from views.grid import DEFAULT_SORT, Row, grid_sort, sorted_by


def view_of(href: object) -> ListView | None:
    """The module or category page's view in a URL, of a module or category the catalogue has; None otherwise."""
    view = parse_url(href) if isinstance(href, str) else None
    return view if isinstance(view, ListView) else None


def known(cat: Catalogue, view: ListView) -> bool:
    groups = cat.modules if view.kind == "module" else cat.categories
    return view.code in groups


def group_title(cat: Catalogue, view: ListView) -> str:
    group = (cat.modules if view.kind == "module" else cat.categories)[view.code]
    return group.name_en if view.lang == "en" else group.name_zh


def sign_row(
    cat: Catalogue,
    sign: Sign,
    latest: Latest | None,
    spark: list[int | None],
    now: float,
    lang: str,
    clock: StoryClock | None = None,
) -> Row:
    module = cat.modules[sign.module]
    row: Row = {
        "id": sign.id,
        "href": SignView(sign.id, lang=lang).href(),  # type: ignore[arg-type]
        "name": sign_name(sign, lang),
        "module": module.name_en if lang == "en" else module.name_zh,
        "district": district_name(sign_district(sign), lang),
        "unit": sign.unit_in(lang),
        "core": sign.is_core,
        "lang": lang,
        "spark": spark,
    }
    if latest is None:
        return row | {"value": None, "level": None, "stale": True, "age": None, "ts": None}
    age = max(0.0, now - latest.source_ts)
    return row | {
        "value": latest.value,
        "level": int(latest_level(sign, latest, clock)),
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
    clock: StoryClock | None = None,
) -> list[Row]:
    out = []
    for sign in signs:
        points = recent.get(sign.id)
        window = spark_window(sign.cadence_s)
        spark = sparkline(points, now - window, now) if points is not None and len(points) else []
        out.append(sign_row(cat, sign, latest.get(sign.id), spark, now, lang, clock))
    return out


def only_abnormal(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r.get("level")]


def read_rows(
    client: redis.Redis, cat: Catalogue, signs: list[Sign], now: float, lang: str, abnormal: bool, sparks: bool = True
) -> list[Row]:
    """Rows for these signs; with `abnormal`, only those beyond a threshold (sparklines read for those only)."""
    latest = read_latest_many(client, [s.id for s in signs])
    clock = read_story_clock(client)
    if abnormal:
        signs = [s for s in signs if (v := latest.get(s.id)) is not None and latest_level(s, v, clock) > 0]
    recent = read_recent(client, [(s, spark_window(s.cadence_s)) for s in signs], now) if sparks else {}
    return rows_for(cat, signs, latest, recent, now, lang, clock)


def view_signs(cat: Catalogue, view: ListView) -> list[Sign]:
    return list_signs(cat, view.kind, view.code, view.district)


def list_rows(client: redis.Redis, cat: Catalogue, view: ListView, now: float, sparks: bool = True) -> list[Row]:
    """The page's rows for this view: its signs, filtered as the URL says."""
    return read_rows(client, cat, view_signs(cat, view), now, view.lang, view.filter == FILTER_ABNORMAL, sparks)


def sorted_view(view: ListView, column_state: object) -> ListView:
    """The view with the grid's sort (the first sorted column); the default sort is left out of the URL."""
    return view.with_(sort=grid_sort(column_state, LIST_SORT_COLUMNS))


def sorted_list_rows(rows: list[Row], view: ListView) -> list[Row]:
    """The rows in the order the grid shows them for this view (empty cells last)."""
    column, direction = (view.sort.column, view.sort.direction) if view.sort else DEFAULT_SORT
    return sorted_by(rows, column, direction)


def list_export(client: redis.Redis, cat: Catalogue, view: ListView, now: float) -> Export:
    """Every listed sign with its value, as the page lists them (no sparklines)."""
    rows = sorted_list_rows(list_rows(client, cat, view, now, sparks=False), view)
    title = group_title(cat, view)
    table = list_table(title, rows, view.lang, now, notes=[(view.kind, f"{title} ({view.code})")])
    return Export(table, f"{view.kind}-{view.code}_{file_stamp(now)}", f"{title}_{file_stamp(now)}")
