"""The module and category pages: their signs with level, value, age and a sparkline, sortable, filtered to
what is not normal or to one district by links. One screen for both scopes (a category lists its modules'
signs). The grid is shared with the search page. No I/O.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_ag_grid as dag
from dash import dcc, html
from dash.development.base_component import Component

from geo.admin import DISTRICTS
from layouts import nav
from layouts.district import level_class_rules, theme
from layouts.nav import DrillContext, text
from layouts.titles import tab_title
from signs.drill import district_name
from signs.urlstate import FILTER_ABNORMAL, FILTER_ALL, ListView, list_view
from views.grid import DEFAULT_SORT

# Component ids: callbacks/signlist.py uses these names and no others.
STATE = "list-state"
URL = "list-url"
TICK = "list-tick"
GRID = "list-grid"
COUNT = "list-count"
EXPORT_CSV = "list-export-csv"
EXPORT_XLSX = "list-export-xlsx"

REFRESH_MS = 30_000
GRID_HEIGHT_PX = 600
TEXT = {
    "zh": {"modules": "模块", "all_districts": "全部区县", "count": "{shown} / {total} 项指标", "sign_id": "编号",
           "category_of": "所属类别"},
    "en": {"modules": "Modules", "all_districts": "All districts", "count": "{shown} of {total} signs", "sign_id": "Id",
           "category_of": "Category"},
}  # fmt: skip


def _t(lang: str) -> dict[str, str]:
    return TEXT["en" if lang == "en" else "zh"]


def grid_columns(lang: str, sort: tuple[str, str] | None, with_module: bool) -> list[dict[str, Any]]:
    t, s = text(lang), _t(lang)
    sort_col, sort_dir = sort or (None, None)

    def sorted_(col: str) -> dict[str, Any]:
        return {"sort": sort_dir} if col == sort_col else {}

    columns: list[dict[str, Any]] = [
        {"field": "level", "colId": "level", "headerName": t["level"], "width": 84, "pinned": "left",
         "cellRenderer": "LevelChip", "cellRendererParams": {"names": list(nav.LEVEL_NAMES[lang])}, **sorted_("level")},
        {"field": "name", "colId": "name", "headerName": t["name"], "flex": 2, "minWidth": 200,
         "cellRenderer": "DrillLink", "tooltipField": "id", **sorted_("name")},
        {"field": "district", "colId": "district", "headerName": t["district"], "width": 110, **sorted_("district")},
        {"field": "value", "colId": "value", "headerName": t["value"], "width": 110, "type": "rightAligned",
         "valueFormatter": {"function": "cityeyeNumber(params.value)"}, "cellClassRules": level_class_rules("level"),
         **sorted_("value")},
        {"field": "unit", "colId": "unit", "headerName": t["unit"], "width": 90, **sorted_("unit")},
        {"field": "age", "colId": "age", "headerName": t["age"], "width": 110,
         "valueFormatter": {"function": "cityeyeAge(params.value, params.data.stale, params.data.lang)"},
         "cellClassRules": {"stale-cell": "params.data.stale === true"}, **sorted_("age")},
        {"field": "spark", "colId": "spark", "headerName": t["spark"], "width": 120, "sortable": False,
         "cellRenderer": "Spark"},
        {"field": "id", "colId": "id", "headerName": s["sign_id"], "flex": 1, "minWidth": 150, "cellClass": "mono",
         **sorted_("id")},
    ]  # fmt: skip
    if with_module:
        columns.insert(
            2, {"field": "module", "colId": "module", "headerName": t["module"], "width": 130, **sorted_("module")}
        )
    return columns


def grid(
    grid_id: str, lang: str, sort: tuple[str, str] | None, with_module: bool, height_px: int = GRID_HEIGHT_PX
) -> dag.AgGrid:
    return dag.AgGrid(
        id=grid_id,
        columnDefs=grid_columns(lang, sort, with_module),
        rowData=[],
        getRowId="params.data.id",
        defaultColDef={"sortable": True, "resizable": True, "suppressMovable": True},
        dashGridOptions={
            "theme": theme(),
            "animateRows": False,
            "tooltipShowDelay": 300,
            "localeText": nav.grid_locale(lang),
            "rowHeight": 34,
        },
        style={"height": f"{height_px}px", "width": "100%"},
        className="drill-grid",
    )


def _segmented(items: list[tuple[str, str, bool]], class_name: str = "segmented") -> html.Div:
    return html.Div(
        className=class_name,
        children=[dcc.Link(label, href=href, className="seg active" if on else "seg") for label, href, on in items],
    )


def layout(ctx: DrillContext, view: ListView) -> html.Div:
    cat = ctx.catalogue
    t, s = text(view.lang), _t(view.lang)
    en = view.lang == "en"
    if view.kind == "module":
        module = cat.modules.get(view.code)
        if module is None:
            return nav.not_found(ctx, view, view.code or "—")
        title = module.name_en if en else f"{module.name_zh} · {module.name_en}"
        crumbs: Component = nav.breadcrumbs(ctx, module.code, view.lang)
        category_code = module.category
        extra: list[Component] = []
    else:
        category = cat.categories.get(view.code)
        if category is None:
            return nav.not_found(ctx, view, view.code or "—")
        title = category.name_en if en else f"{category.name_zh} · {category.name_en}"
        crumbs = html.Nav(className="breadcrumbs")
        category_code = category.code
        modules = [m for m in cat.modules.values() if m.category == category.code]
        extra = [
            html.Div(
                className="module-links",
                children=[html.Span(s["modules"], className="muted")]
                + [
                    dcc.Link(
                        m.name_en if en else m.name_zh,
                        href=ListView("module", m.code, view.filter, view.district, lang=view.lang).href(),
                        className="chip-link",
                    )
                    for m in modules
                ],
            )
        ]
    filters = _segmented(
        [
            (t["all"], view.with_(filter=FILTER_ALL).href(), view.filter == FILTER_ALL),
            (t["abnormal"], view.with_(filter=FILTER_ABNORMAL).href(), view.filter == FILTER_ABNORMAL),
        ]
    )
    districts = _segmented(
        [(s["all_districts"], view.with_(district="").href(), not view.district)]
        + [(district_name(a, view.lang), view.with_(district=a).href(), view.district == a) for a in DISTRICTS],
        "segmented districts",
    )
    sort = (view.sort.column, view.sort.direction) if view.sort else DEFAULT_SORT
    body: list[Component] = [
        html.Section(
            className="title-row",
            children=[crumbs, html.H1(title, className="page-title"), *extra],
        ),
        html.Section(
            className="card table",
            children=[
                html.Div(
                    className="toolbar",
                    children=[
                        filters,
                        html.Span(id=COUNT, className="muted row-count"),
                        nav.export_links(
                            nav.export_href(view.href(), "csv"),
                            nav.export_href(view.href(), "xlsx"),
                            view.lang,
                            ids=(EXPORT_CSV, EXPORT_XLSX),
                        ),
                    ],
                ),
                districts,
                grid(GRID, view.lang, sort, with_module=view.kind == "category"),
            ],
        ),
        dcc.Store(id=STATE, data=view.href()),
        dcc.Store(id=URL),
        dcc.Interval(id=TICK, interval=REFRESH_MS),
    ]
    return nav.page(ctx, view, body, active_category=category_code, active_district=view.district)


# Dash pages ----------------------------------------------------------------------------------------------------------


def register_pages(ctx: DrillContext) -> None:
    def module_page(code: str = "", **query: Any) -> html.Div:
        return layout(ctx, list_view("module", code, query))

    def category_page(code: str = "", **query: Any) -> html.Div:
        return layout(ctx, list_view("category", code, query))

    def module_title(code: str = "") -> str:
        module = ctx.catalogue.modules.get(code.upper())
        return tab_title(module.name_zh, module.name_en) if module else tab_title()

    def category_title(code: str = "") -> str:
        category = ctx.catalogue.categories.get(code.upper())
        return tab_title(category.name_zh, category.name_en) if category else tab_title()

    dash.register_page("drill-module", path_template="/module/<code>", layout=module_page, title=module_title)
    dash.register_page("drill-category", path_template="/category/<code>", layout=category_page, title=category_title)
