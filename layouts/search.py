"""The search page (/search?q=...): every sign matching the query, in the list grid with values, levels and
sparklines. The header's search box answers as you type in the browser; Enter opens this page. No I/O."""

from __future__ import annotations

from typing import Any

import dash
from dash import dcc, html
from dash.development.base_component import Component

from layouts import nav
from layouts.nav import DrillContext, text
from layouts.signlist import grid
from layouts.titles import tab_title
from signs.urlstate import SearchView, search_view

# Component ids: callbacks/search.py uses these names and no others.
STATE = "search-state"
GRID = "search-grid"
COUNT = "search-count"


def layout(ctx: DrillContext, view: SearchView) -> html.Div:
    t = text(view.lang)
    title = f"{t['search_title']}: {view.q}" if view.q else t["search_title"]
    body: list[Component] = [
        html.Section(
            className="title-row",
            children=[html.H1(title, className="page-title"), html.Span(id=COUNT, className="muted row-count")],
        ),
        html.Section(className="card table", children=[grid(GRID, view.lang, None, with_module=True)]),
        dcc.Store(id=STATE, data=view.href()),
    ]
    return nav.page(ctx, view, body)


def register_pages(ctx: DrillContext) -> None:
    def page(**query: Any) -> html.Div:
        return layout(ctx, search_view(query))

    dash.register_page("drill-search", path="/search", layout=page, title=lambda: tab_title("搜索", "Search"))
