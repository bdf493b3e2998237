"""The sign page: one sign's value, level and age, its history (1 h, 24 h or 7 d) with threshold bands and the
periods it spent in alert, what it is and who owns it, and the same sign in the other districts. No I/O.

Every choice on the page (range, pinned end, signs compared, language) is a link to another URL, so back,
forward and a copied link all show exactly this view; the callbacks fill it from Redis.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import dcc, html
from dash.development.base_component import Component

from layouts import nav
from layouts.attrs import data_attrs
from layouts.nav import DrillContext, age_text, format_value, level_chip, text, thresholds_text
from layouts.titles import tab_title
from signs.catalogue import catalogue
from signs.citytime import TimeFormat, city_text
from signs.drill import Period, Series, Since, district_name, parent_core, sign_district, sign_name
from signs.model import Sign
from signs.urlstate import RANGES, SignView, sign_view
from views.sign import BucketBounds, Headline, SiblingRow, source_text

# Component ids: callbacks/sign.py uses these names and no others.
STATE = "sign-state"  # the view's canonical URL
TICK = "sign-tick"  # current value and siblings
HISTORY_TICK = "sign-history-tick"
HEADLINE = "sign-headline"
SINCE = "sign-since"
GRAPH = "sign-graph"
STATS = "sign-stats"
SIBLINGS = "sign-siblings"
PIN = "sign-pin"
EXPORT_CSV = "sign-export-csv"
EXPORT_XLSX = "sign-export-xlsx"

HISTORY_REFRESH_MS = 60_000
RANGE_LABELS = {"zh": {"1h": "1小时", "24h": "24小时", "7d": "7天"}, "en": {"1h": "1 h", "24h": "24 h", "7d": "7 d"}}
COMPARE_COLOURS = ("#c792ea", "#7fdbca", "#f78c6c", "#82aaff", "#ffcb6b", "#ff5370", "#c3e88d", "#89ddff", "#bb80b3")
MAIN_COLOUR = "#5fc8ff"
BAND_OPACITY = 0.10
PERIOD_OPACITY = 0.18
TEXT = {
    "zh": {
        "history": "历史走势", "others": "同一指标 · 其他区县与全市", "others_located": "同一指标 · 其他站点",
        "compare": "对比", "uncompare": "取消对比", "details": "指标说明", "district_page": "本区全部核心指标",
        "since": "自 {start} 起处于{level}{more}（已持续 {duration}）", "since_before": "，早于所选时间段开始",
        "normal_now": "当前正常", "range_stats": "区间内 最低 {low} · 最高 {high} · 平均 {mean} · {n} 个读数",
        "periods": "告警时段 {n} 段，共 {duration}", "no_history": "所选时间段内没有数据", "mean": "均值",
        "minmax": "区间最低–最高", "direction": "方向", "none": "无",
        "gap": "距{level}阈值（{op}{bound}）还差 {gap} {unit}", "bands": "阈值（按周内时段）",
    },
    "en": {
        "history": "History", "others": "Same sign · other districts and the city",
        "others_located": "Same sign · other places", "compare": "Compare", "uncompare": "Remove",
        "details": "About this sign", "district_page": "All core signs of this district",
        "since": "{level} since {start}{more} ({duration})", "since_before": ", before the range shown",
        "normal_now": "Normal now", "range_stats": "In range: low {low} · high {high} · mean {mean} · {n} readings",
        "periods": "{n} periods in alert, {duration} in all", "no_history": "No data in this range", "mean": "mean",
        "minmax": "range low–high", "direction": "Direction", "none": "none",
        "gap": "{gap} {unit} from {level} ({op}{bound})", "bands": "Thresholds (by hour of week)",
    },
}  # fmt: skip


def _t(lang: str) -> dict[str, str]:
    return TEXT["en" if lang == "en" else "zh"]


def cadence_text(sign: Sign, lang: str) -> str:
    return age_text(sign.cadence_s, lang)


# Page --------------------------------------------------------------------------------------------------------


def layout(ctx: DrillContext, view: SignView) -> html.Div:
    sign = ctx.catalogue.signs.get(view.sign_id)
    if sign is None:
        return nav.not_found(ctx, view, view.sign_id or "—")
    lang = view.lang
    t, s = text(lang), _t(lang)
    adcode = sign_district(sign)
    district_link = (
        [
            dcc.Link(
                f"{district_name(adcode, lang)} · {s['district_page']}",
                href=nav_district_href(adcode, lang),
                className="chip-link",
            )
        ]
        if adcode
        else []
    )
    csv_href = nav.export_href(view.href(), "csv")
    xlsx_href = nav.export_href(view.href(), "xlsx")
    body: list[Component] = [
        html.Section(
            className="title-row",
            children=[
                nav.breadcrumbs(ctx, sign, lang),
                html.H1(sign_name(sign, lang), className="page-title"),
                html.Div(id=HEADLINE, className="headline", children=html.Span(t["loading"], className="muted")),
                html.Div(id=SINCE, className="since"),
                *district_link,
            ],
        ),
        html.Div(
            className="sign-grid",
            children=[
                html.Section(
                    className="card history",
                    children=[
                        html.Div(
                            className="toolbar",
                            children=[
                                html.H2(s["history"]),
                                _range_links(view),
                                _pin(view),
                                nav.export_links(csv_href, xlsx_href, lang, ids=(EXPORT_CSV, EXPORT_XLSX)),
                            ],
                        ),
                        dcc.Graph(
                            id=GRAPH,
                            className="history-graph",
                            config={
                                "displaylogo": False,
                                "responsive": True,
                                "modeBarButtonsToRemove": ["select2d", "lasso2d"],
                            },
                            style={"height": "360px"},
                        ),
                        html.Div(id=STATS, className="stats"),
                    ],
                ),
                html.Aside(
                    className="side",
                    children=[
                        html.Section(
                            className="card siblings",
                            children=[
                                html.H2(s["others"] if sign.is_core or sign.district else s["others_located"]),
                                html.Div(id=SIBLINGS, className="sibling-list"),
                            ],
                        ),
                        details_card(ctx, sign, lang),
                    ],
                ),
            ],
        ),
        dcc.Store(id=STATE, data=view.href()),
        dcc.Interval(id=TICK, interval=ctx.refresh_ms),
        dcc.Interval(id=HISTORY_TICK, interval=HISTORY_REFRESH_MS, disabled=view.end is not None),
    ]
    return nav.page(ctx, view, body, active_category=sign.category, active_district=adcode or "")


def nav_district_href(adcode: str, lang: str) -> str:
    from signs.urlstate import DistrictView

    return DistrictView(adcode, lang=lang).href()  # type: ignore[arg-type]


def _range_links(view: SignView) -> html.Div:
    labels = RANGE_LABELS["en" if view.lang == "en" else "zh"]
    return html.Div(
        className="segmented ranges",
        children=[
            dcc.Link(labels[r], href=view.with_(range=r).href(), className="seg active" if r == view.range else "seg")
            for r in RANGES
        ],
    )


def _pin(view: SignView) -> html.Div:
    t = text(view.lang)
    if view.end is None:
        # The callback that draws the history knows "now" and fills in the href.
        return html.Div(
            className="pin",
            children=[
                html.Span(t["live"], className="live-badge"),
                dcc.Link(t["pin"], id=PIN, href=view.href(), className="seg"),
            ],
        )
    pinned = city_text(view.end, TimeFormat.MINUTE)
    return html.Div(
        className="pin",
        children=[
            html.Span(f"{t['pinned']} {pinned}", className="pinned-badge"),
            dcc.Link(t["unpin"], id=PIN, href=view.with_(end=None).href(), className="seg"),
        ],
    )


def details_card(ctx: DrillContext, sign: Sign, lang: str) -> html.Section:
    t, s = text(lang), _t(lang)
    core = parent_core(ctx.catalogue, sign)
    rows = [
        (t["definition"], sign.definition_in(lang)),
        (t["unit"], sign.unit_in(lang)),
        (t["thresholds"], thresholds_text(sign, lang)),
        (s["direction"], t["direction_high"] if sign.direction.value == "high" else t["direction_low"]),
        (t["source"], source_text(sign)),
        (t["owner"], sign.owner_in(lang)),
        (t["cadence"], cadence_text(sign, lang)),
        (t["id"], sign.id),
    ]
    if core.id != sign.id:
        rows.append((t["core"], sign_name(core, lang)))
    return html.Section(
        className="card details",
        children=[
            html.H2(s["details"]),
            html.Dl([part for label, value in rows for part in (html.Dt(label), html.Dd(value))]),
        ],
    )


# Filled by the callbacks ----------------------------------------------------------------------------------------


def headline_children(h: Headline, lang: str) -> list[Component]:
    t = text(lang)
    if h.value is None:
        return [html.Span(t["no_data"], className="muted")]
    when = city_text(h.source_ts or 0, TimeFormat.DAY_SECOND)
    age = age_text(h.age_s or 0.0, lang) + (f" {t['ago']}" if lang == "en" else t["ago"])
    return [
        html.Span(format_value(h.value), className=f"big-value lvl-text-{h.level}" + (" stale" if h.stale else "")),
        html.Span(catalogue().unit_in(h.unit, lang), className="big-unit"),
        level_chip(h.level, lang, h.stale),
        html.Span(
            [f"{t['age']} {when} ({age})", html.B(f" · {t['stale']}") if h.stale else None],
            className="age" + (" stale" if h.stale else ""),
        ),
    ]


def _duration(seconds: float, lang: str) -> str:
    return age_text(seconds, lang)


def since_children(found: Since | None, level_now: int | None, now: float, lang: str) -> list[Component]:
    s = _t(lang)
    if found is None:
        return [html.Span(s["normal_now"], className="muted")] if level_now == 0 else []
    start = city_text(found.start, TimeFormat.DAY_MINUTE)
    message = s["since"].format(
        start=start,
        level=nav.level_name(found.level, lang),
        more=s["since_before"] if found.before_range else "",
        duration=_duration(now - found.start, lang),
    )
    return [html.Span(message, className=f"since-text lvl-border-{found.level}")]


def stats_children(
    series: Series,
    periods: list[Period],
    lang: str,
    sign: Sign | None = None,
    latest: tuple[float, float] | None = None,
    upcoming: tuple[int, float] | None = None,
) -> list[Component]:
    """Range, mean and the gap to the next threshold; `latest` is the newest (source time, value), `upcoming` the
    next level above it and its bound (views.sign.SignHistory)."""
    s = _t(lang)
    # (low, high, mean, count) of each bucket holding points; an empty bucket's values are None.
    present = [
        (lo, hi, m, c)
        for lo, hi, m, c in zip(series.low, series.high, series.mean, series.count, strict=True)
        if c and lo is not None and hi is not None and m is not None
    ]
    if not present:
        return [html.Span(s["no_history"], className="muted")]
    low = min(lo for lo, _, _, _ in present)
    high = max(hi for _, hi, _, _ in present)
    total = sum(c for _, _, _, c in present)
    mean = sum(m * c for _, _, m, c in present) / total
    parts: list[Component] = [
        html.Span(
            s["range_stats"].format(
                low=format_value(low), high=format_value(high), mean=format_value(mean), n=f"{total:,}"
            )
        )
    ]
    if upcoming is not None and sign is not None and latest is not None:
        level, bound = upcoming
        value = latest[1]
        op = "≥" if sign.direction.value == "high" else "<"
        parts.append(
            html.Span(
                s["gap"].format(
                    level=nav.level_name(level, lang),
                    op=op,
                    bound=f"{bound:g}",
                    gap=format_value(abs(bound - value)),
                    unit=sign.unit_in(lang),
                ),
                className="gap",
            )
        )
    if periods:
        spent = sum(p.end - p.start for p in periods)
        parts.append(
            html.Span(s["periods"].format(n=len(periods), duration=_duration(spent, lang)), className="periods")
        )
    return parts


def siblings_children(rows: list[SiblingRow], view: SignView, lang: str) -> list[Component]:
    s = _t(lang)
    out: list[Component] = []
    for row in rows:
        compared = row.sign.id in view.compare
        colour = COMPARE_COLOURS[view.compare.index(row.sign.id) % len(COMPARE_COLOURS)] if compared else None
        place = district_name(sign_district(row.sign), lang)
        label = place if (row.sign.is_core or row.sign.district) else f"{place} · {sign_name(row.sign, lang)}"
        out.append(
            html.Div(
                className="sibling" + (" compared" if compared else ""),
                **data_attrs(sign=row.sign.id),
                children=[
                    html.Span(className="swatch", style={"background": colour} if colour else None),
                    dcc.Link(
                        label,
                        href=view.with_(sign_id=row.sign.id, compare=()).href(),
                        className="sibling-name",
                        title=row.sign.id,
                    ),
                    html.Span(
                        format_value(row.value),
                        className=f"sibling-value lvl-text-{row.level}" + (" stale" if row.stale else ""),
                    ),
                    level_chip(row.level, lang, row.stale),
                    dcc.Link(
                        s["uncompare"] if compared else s["compare"],
                        href=view.toggled(row.sign.id).href(),
                        className="compare-toggle" + (" on" if compared else ""),
                    ),
                ],
            )
        )
    return out


# The figure -------------------------------------------------------------------------------------------------------


def _beijing(ts: float) -> str:
    """Plotly draws date strings as given: the wall clock in Beijing, whatever the browser's time zone."""
    return city_text(ts)


def _value_range(series: list[Series], upcoming: tuple[int, float] | None) -> tuple[float, float] | None:
    values = [v for s in series for part in (s.low, s.high) for v in part if v is not None]
    if not values:
        return None
    low, high = min(values), max(values)
    span = max(high - low, 0.05 * max(abs(high), abs(low)), 1e-9)
    if upcoming is not None and min(abs(upcoming[1] - low), abs(upcoming[1] - high)) <= 1.5 * span:
        # Near enough to matter: show how far the sign is from its next threshold.
        low, high = min(low, upcoming[1]), max(high, upcoming[1])
    pad = (high - low) * 0.08 or max(abs(high) * 0.05, 1.0)
    return low - pad, high + pad


def _bands(sign: Sign, y_range: tuple[float, float]) -> list[dict[str, Any]]:
    bottom, top = y_range
    shapes = []
    bounds = list(sign.thresholds)
    for i, bound in enumerate(bounds):
        if bound is None:
            continue
        nxt = next((b for b in bounds[i + 1 :] if b is not None), None)
        if sign.direction.value == "high":
            y0, y1 = bound, (nxt if nxt is not None else top)
        else:
            y0, y1 = (nxt if nxt is not None else bottom), bound
        y0, y1 = max(y0, bottom), min(y1, top)
        if y1 <= y0:
            continue
        shapes.append(
            {
                "type": "rect", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": y0, "y1": y1,
                "fillcolor": nav.LEVEL_COLOURS[i + 1], "opacity": BAND_OPACITY, "line": {"width": 0}, "layer": "below",
            }
        )  # fmt: skip
        shapes.append(
            {
                "type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": bound, "y1": bound,
                "line": {"color": nav.LEVEL_COLOURS[i + 1], "width": 1, "dash": "dot"}, "layer": "below",
            }
        )  # fmt: skip
    return shapes


def _fill(colour: str, opacity: float) -> str:
    """A "#rrggbb" colour at an opacity, for a trace's fill: a trace's own opacity would fade its line as well."""
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{opacity})"


def _stepped_bands(
    sign: Sign, bounds: BucketBounds, series: Series, y_range: tuple[float, float], lang: str
) -> list[dict[str, Any]]:
    """An hour-of-week sign's bands: each level's bound a step per bucket, the bound its values there are judged
    by (views.sign.bucket_bounds), and its band filled from that bound to the next level's or to the chart's edge,
    as _bands draws fixed bounds. Traces, not shapes (a week's shapes would outweigh the chart): the edge, then the
    bounds from red inwards, each filled to the trace before it."""
    bottom, top = y_range
    edge = top if sign.direction.value == "high" else bottom
    x0, dx = _beijing(series.start), series.width * 1000
    common = {"type": "scatter", "mode": "lines", "x0": x0, "hoverinfo": "skip", "legendgroup": "bands",
              "showlegend": False, "legendrank": 1001}  # fmt: skip
    traces: list[dict[str, Any]] = [{**common, "dx": dx * len(series), "y": [edge, edge], "line": {"width": 0}}]
    for level in (4, 3, 2, 1):
        steps = bounds[level - 1]
        if steps is None:
            continue
        colour = nav.LEVEL_COLOURS[level]
        # The last bucket's bound again at the window's end, so that its step spans the bucket as the others do.
        traces.append(
            {
                **common, "dx": dx, "y": [*steps, steps[-1]], "fill": "tonexty",
                "fillcolor": _fill(colour, BAND_OPACITY),
                "line": {"color": colour, "width": 1, "dash": "dot", "shape": "hv"},
            }
        )  # fmt: skip
    if len(traces) > 1:
        traces[-1].update(showlegend=True, name=_t(lang)["bands"])
    return traces


def _period_shapes(periods: list[Period]) -> list[dict[str, Any]]:
    return [
        {
            "type": "rect", "xref": "x", "x0": _beijing(p.start), "x1": _beijing(p.end),
            "yref": "paper", "y0": 0, "y1": 1,
            "fillcolor": nav.LEVEL_COLOURS[p.level], "opacity": PERIOD_OPACITY, "line": {"width": 0}, "layer": "below",
        }
        for p in periods
    ]  # fmt: skip


def history_figure(
    sign: Sign,
    series: Series,
    periods: list[Period],
    compared: list[tuple[Sign, Series]],
    start: float,
    end: float,
    lang: str,
    upcoming: tuple[int, float] | None = None,
    bounds: BucketBounds | None = None,
) -> dict[str, Any]:
    """The history chart as a plain Plotly figure: min–max band and mean of the sign, the mean of each sign
    compared with it, its threshold bands and its periods in alert shaded; the value axis reaches the `upcoming`
    bound (SignHistory.upcoming) when it is near. The bands are the catalogue's bounds across the chart, or, given
    an hour-of-week sign's `bounds` (SignHistory.bounds), steps with the bounds of each bucket, drawn beneath the
    sign's traces and named in the legend. Buckets are regular, so each trace carries x0 and dx (milliseconds)
    instead of one timestamp per point."""
    s = _t(lang)
    x0, dx = _beijing(series.start), series.width * 1000
    name = sign_name(sign, lang)
    traces: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines", "x0": x0, "dx": dx, "y": series.low, "line": {"width": 0},
         "hoverinfo": "skip", "showlegend": False, "name": "low", "connectgaps": False},
        {"type": "scatter", "mode": "lines", "x0": x0, "dx": dx, "y": series.high, "line": {"width": 0},
         "fill": "tonexty", "fillcolor": "rgba(95,200,255,0.22)", "name": s["minmax"], "connectgaps": False,
         "hovertemplate": "%{y}<extra>max</extra>"},
        {"type": "scatter", "mode": "lines", "x0": x0, "dx": dx, "y": series.mean, "name": f"{name} ({s['mean']})",
         "line": {"color": MAIN_COLOUR, "width": 2}, "connectgaps": False,
         "hovertemplate": "%{y}<extra>" + name + "</extra>"},
    ]  # fmt: skip
    for i, (other, other_series) in enumerate(compared):
        label = (
            district_name(sign_district(other), lang) if (other.is_core or other.district) else sign_name(other, lang)
        )
        traces.append(
            {
                "type": "scatter", "mode": "lines", "x0": _beijing(other_series.start), "dx": other_series.width * 1000,
                "y": other_series.mean, "name": label, "connectgaps": False,
                "line": {"color": COMPARE_COLOURS[i % len(COMPARE_COLOURS)], "width": 1.5, "dash": "dash"},
                "hovertemplate": "%{y}<extra>" + label + "</extra>",
            }
        )  # fmt: skip
    y_range = _value_range([series, *(c for _, c in compared)], upcoming)
    steps = _stepped_bands(sign, bounds, series, y_range, lang) if bounds is not None and y_range else []
    fixed = _bands(sign, y_range) if bounds is None and y_range else []
    return {
        "data": steps + traces,
        "layout": {
            "margin": {"l": 56, "r": 16, "t": 8, "b": 36},
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "#0a1322",
            "font": {"color": "#cfe0f5", "size": 13},
            "hovermode": "x unified",
            "showlegend": True,
            "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0, "bgcolor": "rgba(0,0,0,0)"},
            "xaxis": {
                "type": "date",
                "range": [_beijing(start), _beijing(end)],
                "gridcolor": "#1d3454",
                "tickformat": "%m-%d %H:%M",
            },
            "yaxis": {
                "title": {"text": sign.unit_in(lang)},
                "gridcolor": "#1d3454",
                "zeroline": False,
                **({"range": list(y_range)} if y_range else {}),
            },
            "shapes": _period_shapes(periods) + fixed,
            "uirevision": f"{sign.id}",
        },
    }


# Dash pages ---------------------------------------------------------------------------------------------------------


def register_pages(ctx: DrillContext) -> None:
    def page(sign_id: str = "", **query: Any) -> html.Div:
        return layout(ctx, sign_view(sign_id, query))

    def title(sign_id: str = "") -> str:
        sign = ctx.catalogue.signs.get(sign_view(sign_id).sign_id)
        return tab_title(sign.name_zh, sign.name_en) if sign else tab_title()

    dash.register_page("drill-sign", path_template="/sign/<sign_id>", layout=page, title=title)
