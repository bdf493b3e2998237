"""What every drill-down page shares: its static context, the header (home, categories, districts, search,
language, copy link), texts in both languages and small formatting helpers. No I/O.

Links between drill-down pages are dcc.Link (history.pushState: no reload, back and forward re-render from the
URL). Links to the wall are plain anchors: the wall's script owns its page and starts with a fresh one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dash import dcc, html
from dash.development.base_component import Component

from geo.admin import DISTRICTS
from signs.drill import district_name, sign_name
from signs.model import Catalogue, Level, Sign
from signs.urlstate import SearchView, View, lang_href

# Component ids shared by all drill-down pages (one page is on screen at a time).
SEARCH_INPUT = "drill-search-input"
SEARCH_RESULTS = "drill-search-results"
SEARCH_CONFIG = "drill-search-config"
COPY_LINK = "drill-copy-link"
ROOT_CLASS = "drill"

SEARCH_INDEX_URL = "/api/v1/search-index"
EXPORT_PREFIX = "/export"
WALL_PATH = "/"

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "brand": "城市之眼 · 城市体征", "wall": "返回大屏", "search": "搜索指标: 名称、编号或单位…", "lang": "English",
        "copy": "复制链接", "copied": "已复制", "districts": "区县", "city": "全市", "categories": "类别",
        "value": "当前值", "level": "级别", "age": "数据时间", "ago": "前", "stale": "陈旧", "no_data": "暂无数据",
        "unit": "单位", "definition": "定义", "source": "数据来源", "owner": "责任部门", "cadence": "更新周期",
        "thresholds": "阈值", "direction_high": "越高越严重", "direction_low": "越低越严重", "id": "编号",
        "export_csv": "导出 CSV", "export_xlsx": "导出 Excel", "all": "全部", "abnormal": "只看非正常",
        "not_found": "未找到", "module": "模块", "category": "类别", "district": "区县", "name": "指标",
        "spark": "趋势", "search_title": "搜索结果", "no_results": "没有匹配的指标", "core": "核心",
        "loading": "加载中…", "live": "实时", "pinned": "固定于", "unpin": "回到实时", "pin": "固定此刻",
        "seconds": "秒", "minutes": "分钟", "hours": "小时", "days": "天", "signs": "项指标",
    },
    "en": {
        "brand": "City Eye · city signs", "wall": "Back to the wall", "search": "Find a sign: name, id or unit…",
        "lang": "中文", "copy": "Copy link", "copied": "Copied", "districts": "Districts", "city": "City",
        "categories": "Categories", "value": "Value", "level": "Level", "age": "Reading time", "ago": "ago",
        "stale": "stale", "no_data": "No data yet", "unit": "Unit", "definition": "Definition", "source": "Source",
        "owner": "Owner", "cadence": "Cadence", "thresholds": "Thresholds", "direction_high": "higher is worse",
        "direction_low": "lower is worse", "id": "Id", "export_csv": "Export CSV", "export_xlsx": "Export Excel",
        "all": "All", "abnormal": "Not normal only", "not_found": "Not found", "module": "Module",
        "category": "Category", "district": "District", "name": "Sign", "spark": "Trend",
        "search_title": "Search results", "no_results": "No sign matches", "core": "core", "loading": "Loading…",
        "live": "Live", "pinned": "Pinned at", "unpin": "Back to live", "pin": "Pin this moment",
        "seconds": "s", "minutes": "min", "hours": "h", "days": "d", "signs": "signs",
    },
}  # fmt: skip

LEVEL_NAMES = {"zh": ("正常", "蓝色", "黄色", "橙色", "红色"), "en": ("Normal", "Blue", "Yellow", "Orange", "Red")}
LEVEL_COLOURS = ("#2bb673", "#2f7bff", "#f2c200", "#ff8a00", "#ff2d2d")


@dataclass(frozen=True)
class DrillContext:
    """Everything static the drill-down pages need, gathered once at start."""

    catalogue: Catalogue
    district_bounds: dict[str, tuple[float, float, float, float]]  # adcode -> (west, south, east, north), WGS84
    city_bounds: tuple[float, float, float, float]
    tile_url: str = ""
    tile_attribution: str = ""
    refresh_ms: int = 10_000


def text(lang: str) -> dict[str, str]:
    return TEXT["en" if lang == "en" else "zh"]


# Formatting ------------------------------------------------------------------------------------------------


def format_value(value: float | None) -> str:
    """Like the wall: no more digits than a reader uses."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    a = abs(value)
    digits = 0 if a >= 1000 else 1 if a >= 10 else 2
    out = f"{value:,.{digits}f}"
    return out.rstrip("0").rstrip(".") if "." in out else out


def age_text(age_s: float, lang: str) -> str:
    t = text(lang)
    age = max(0.0, age_s)
    if age < 60:
        return f"{round(age)}{t['seconds']}"
    if age < 3600:
        return f"{round(age / 60)}{t['minutes']}"
    if age < 86_400:
        return f"{round(age / 3600)}{t['hours']}"
    return f"{round(age / 86_400)}{t['days']}"


def level_chip(level: int | None, lang: str, stale: bool = False) -> html.Span:
    if level is None:
        return html.Span(text(lang)["no_data"], className="lvl-chip none")
    names = LEVEL_NAMES["en" if lang == "en" else "zh"]
    return html.Span(names[level], className=f"lvl-chip lvl-{level}" + (" stale" if stale else ""))


def level_name(level: int, lang: str) -> str:
    return LEVEL_NAMES["en" if lang == "en" else "zh"][Level(level)]


def thresholds_text(sign: Sign, lang: str) -> str:
    sign_op = "≥" if sign.direction.value == "high" else "<"
    names = LEVEL_NAMES["en" if lang == "en" else "zh"]
    parts = [f"{names[i + 1]} {sign_op}{b:g}" for i, b in enumerate(sign.thresholds) if b is not None]
    return " · ".join(parts) if parts else "—"


# The header ------------------------------------------------------------------------------------------------


def _category_links(ctx: DrillContext, lang: str, active: str) -> list[Component]:
    from signs.urlstate import ListView

    links: list[Component] = []
    for code, category in ctx.catalogue.categories.items():
        label = f"{category.name_zh} {category.name_en}" if lang != "en" else category.name_en
        links.append(
            dcc.Link(
                label,
                href=ListView("category", code, lang=lang).href(),  # type: ignore[arg-type]
                className="nav-link active" if code == active else "nav-link",
            )
        )
    return links


def _district_menu(lang: str, active: str) -> html.Details:
    from signs.urlstate import DistrictView

    t = text(lang)
    items = [
        dcc.Link(
            district_name(adcode, lang),
            href=DistrictView(adcode, lang=lang).href(),  # type: ignore[arg-type]
            className="menu-item active" if adcode == active else "menu-item",
        )
        for adcode in DISTRICTS
    ]
    label = district_name(active, lang) if active in DISTRICTS else t["districts"]
    return html.Details(className="nav-menu", children=[html.Summary(label), html.Div(items, className="menu")])


def header(ctx: DrillContext, view: View, active_category: str = "", active_district: str = "") -> html.Header:
    lang = view.lang
    t = text(lang)
    other = "zh" if lang == "en" else "en"
    return html.Header(
        className="drill-header",
        children=[
            html.A(
                t["brand"], href=WALL_PATH + ("?lang=en" if lang == "en" else ""), className="brand", title=t["wall"]
            ),
            html.Nav(_category_links(ctx, lang, active_category), className="nav-categories"),
            _district_menu(lang, active_district),
            html.Div(
                className="search",
                children=[
                    dcc.Input(
                        id=SEARCH_INPUT,
                        type="search",
                        placeholder=t["search"],
                        autoComplete="off",
                        debounce=False,
                        value=view.q if isinstance(view, SearchView) else "",
                        className="search-input",
                    ),
                    html.Div(id=SEARCH_RESULTS, className="search-results"),
                    dcc.Store(id=SEARCH_CONFIG, data={"url": SEARCH_INDEX_URL, "lang": lang, "empty": t["no_results"]}),
                ],
            ),
            dcc.Link(t["lang"], href=lang_href(view, other), className="lang-link"),  # type: ignore[arg-type]
            html.Div(
                className="copy-link",
                title=t["copy"],
                children=[dcc.Clipboard(id=COPY_LINK, className="copy-icon"), html.Span(t["copy"])],
            ),
        ],
    )


def page(ctx: DrillContext, view: View, body: list[Component], **active: str) -> html.Div:
    """A drill-down page: header and body in one scrolling root."""
    return html.Div(
        className=ROOT_CLASS,
        lang="en" if view.lang == "en" else "zh",
        children=[header(ctx, view, **active), html.Main(body, className="drill-body")],
    )


def not_found(ctx: DrillContext, view: View, what: str) -> html.Div:
    t = text(view.lang)
    return page(ctx, view, [html.Div(className="not-found", children=[html.H1(f"{t['not_found']}: {what}")])])


def breadcrumbs(ctx: DrillContext, sign_or_module: Sign | str | None, lang: str) -> html.Nav:
    """Category › module (› sign) as links."""
    from signs.urlstate import Lang, ListView, SignView

    link_lang: Lang = "en" if lang == "en" else "zh"
    cat = ctx.catalogue
    crumbs: list[Component] = []
    module_code = sign_or_module.module if isinstance(sign_or_module, Sign) else sign_or_module
    module = cat.modules.get(module_code or "")
    if module is not None:
        category = cat.categories[module.category]
        crumbs.append(
            dcc.Link(
                category.name_en if lang == "en" else category.name_zh,
                href=ListView("category", category.code, lang=link_lang).href(),
            )
        )
        crumbs.append(html.Span("›", className="sep"))
        crumbs.append(
            dcc.Link(
                module.name_en if lang == "en" else module.name_zh,
                href=ListView("module", module.code, lang=link_lang).href(),
            )
        )
    if isinstance(sign_or_module, Sign):
        crumbs.append(html.Span("›", className="sep"))
        href = SignView(sign_or_module.id, lang=link_lang).href()
        crumbs.append(dcc.Link(sign_name(sign_or_module, lang), href=href))
    return html.Nav(crumbs, className="breadcrumbs")


def export_links(csv_href: str, xlsx_href: str, lang: str, ids: tuple[str, str] | None = None) -> html.Div:
    t = text(lang)
    csv_id, xlsx_id = ids or (None, None)
    csv_props: dict[str, Any] = {"id": csv_id} if csv_id else {}
    xlsx_props: dict[str, Any] = {"id": xlsx_id} if xlsx_id else {}
    return html.Div(
        className="exports",
        children=[
            html.A(t["export_csv"], href=csv_href, className="button export-csv", **csv_props),
            html.A(t["export_xlsx"], href=xlsx_href, className="button export-xlsx", **xlsx_props),
        ],
    )


def export_href(view_href: str, fmt: str) -> str:
    """/export<page path>.<fmt>?<same query>: the export reproduces exactly the view's state."""
    path, _, query = view_href.partition("?")
    return f"{EXPORT_PREFIX}{path}.{fmt}" + (f"?{query}" if query else "")


def grid_locale(lang: str) -> dict[str, str]:
    """ag-grid's own words on our grids (plain text, never evaluated)."""
    if lang == "en":
        return {"noRowsToShow": "No signs to show", "loadingOoo": "Loading…"}
    return {"noRowsToShow": "没有可显示的指标", "loadingOoo": "加载中…"}
