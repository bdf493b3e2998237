"""The drill-down's rules and screens without services: siblings, a district against the city, its alerts, the
tables' rows and sort, search, and every page's layout built from its URL."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import plotly.io
import pytest
from dash.development.base_component import Component

from alerts.lifecycle import acknowledge, raise_alert
from alerts.model import Alert, Deadlines, RuleKind
from callbacks.district import page_outputs
from geo.admin import CITY_ADCODE, DISTRICTS
from layouts import district, search, sign, signlist
from layouts.nav import DrillContext, export_href, format_value
from signs.catalogue import catalogue
from signs.drill import (
    comparison_sign_ids,
    core_rows,
    list_signs,
    search_index,
    search_index_rows,
    siblings,
    sign_district,
)
from signs.drill import search as find
from signs.keys import Latest
from signs.model import Level
from signs.urlstate import DistrictView, ListView, SearchView, SignView, Sort, parse_url
from views.district import DistrictReads, district_alerts, district_levels, district_page, grid_rows, sorted_rows
from views.district import sorted_view as district_sorted_view
from views.signlist import only_abnormal, rows_for, sorted_list_rows
from views.signlist import sorted_view as list_sorted_view

NOW = 1_716_530_000.0
XIANGCHENG = "420602"


def _latest(values: dict[str, float], age: float = 10.0) -> dict[str, Latest]:
    return {k: Latest(value=v, source_ts=NOW - age, receive_ts=NOW - age) for k, v in values.items()}


@pytest.fixture(scope="module")
def ctx() -> DrillContext:
    bounds = {adcode: (111.0 + i * 0.1, 31.0, 111.5 + i * 0.1, 32.0) for i, adcode in enumerate(DISTRICTS)}
    return DrillContext(catalogue=catalogue(), district_bounds=bounds, city_bounds=(110.0, 31.0, 113.0, 33.0))


def test_a_district_sign_has_the_city_and_the_other_districts_as_siblings() -> None:
    cat = catalogue()
    others = siblings(cat, cat.signs["XY.P.M01.P01.dist:420602"])
    assert [s.id for s in others][0] == "XY.P.M01.P01"
    assert {sign_district(s) for s in others[1:]} == set(DISTRICTS) - {XIANGCHENG}
    assert len(siblings(cat, cat.signs["XY.P.M01.P01"])) == len(DISTRICTS)


def test_a_station_has_the_same_measurement_elsewhere_as_siblings() -> None:
    cat = catalogue()
    station = next(s for s in cat.signs.values() if s.dimension.startswith("stn:") and s.core == "S44")
    others = siblings(cat, station)
    assert others and all(s.dimension.startswith("stn:") and s.core == "S44" and s.id != station.id for s in others)


def test_districts_are_ranked_by_how_far_beyond_their_own_thresholds() -> None:
    cat = catalogue()
    # Population: 襄城 (red at 70.1) at 71 is worse than 樊城 (red at 127.4) at 100, though smaller.
    rows = core_rows(
        cat, _latest({"XY.P.M01.P01.dist:420602": 71.0, "XY.P.M01.P01.dist:420606": 100.0, "XY.P.M01.P01": 500.0}), NOW
    )
    population = next(r for r in rows if r.core.id == "XY.P.M01.P01")
    assert population.ranking == [XIANGCHENG, "420606"]
    assert population.rank(XIANGCHENG) == 1 and population.rank("420624") is None
    assert len(rows) == 55


def _engine_alert(sign_id: str, level: Level, raised_at: float) -> Alert:
    alert, _ = raise_alert(
        alert_id=f"threshold:{sign_id}:{raised_at:.0f}",
        rule=RuleKind.THRESHOLD,
        sign=catalogue().signs[sign_id],
        district=XIANGCHENG,
        level=level,
        value=71.0,
        since=raised_at,
        now=raised_at,
        due=Deadlines(raised_at + 1800, raised_at + 7200, raised_at + 86400),
        silence=None,
    )
    return alert


def test_a_districts_alerts_put_the_unacknowledged_first_then_the_worst() -> None:
    cat = catalogue()
    red_acknowledged, _ = acknowledge(
        _engine_alert("XY.P.M01.P01.dist:420602", Level.RED, NOW - 600), "duty", "crew sent", NOW
    )
    yellow_new = _engine_alert("XY.T.M04.T14.dist:420602", Level.YELLOW, NOW - 60)
    orange_old = _engine_alert("XY.P.M01.P02.dist:420602", Level.ORANGE, NOW - 300)
    listed = district_alerts(cat, [red_acknowledged, yellow_new, orange_old])
    assert [(a.sign.id, a.status) for a in listed] == [
        ("XY.P.M01.P02.dist:420602", "raised"),
        ("XY.T.M04.T14.dist:420602", "raised"),
        ("XY.P.M01.P01.dist:420602", "acknowledged"),
    ]
    assert listed[-1].acknowledged_by == "duty"
    page = json.dumps(
        district.alerts_children(listed, DistrictView(XIANGCHENG)),
        cls=plotly.utils.PlotlyJSONEncoder,
        ensure_ascii=False,
    )
    assert "已确认 · duty" in page and page.count("未确认") == 2


def test_the_district_table_rows_and_the_not_normal_filter() -> None:
    cat = catalogue()
    latest = _latest(
        {"XY.P.M01.P01.dist:420602": 71.0, "XY.P.M01.P01": 500.0, "XY.P.M02.P06": 10.0, "XY.T.M04.T13": 1.0}
    )
    rows = core_rows(cat, latest, NOW)
    table = grid_rows(rows, XIANGCHENG, "zh")
    population = next(r for r in table if r["id"] == "XY.P.M01.P01")
    assert population["value"] == 71.0 and population["level"] == 4 and population["city"] == 500.0
    assert population["rank_text"] == "1/1" and population["d_420602"] == 71.0 and population["l_420602"] == 4
    assert parse_url(population["href"]) == SignView("XY.P.M01.P01.dist:420602")
    flagged = {r["id"] for r in grid_rows(rows, XIANGCHENG, "zh", only_abnormal=True)}
    # The district's own red population, and the city-wide answer rate (no district breakdown) that is red too.
    assert flagged == {"XY.P.M01.P01", "XY.P.M02.P06"}
    assert district_levels(rows)[XIANGCHENG] == 4
    ids = comparison_sign_ids(cat)
    assert len(ids) == len(set(ids)) and "XY.P.M01.P01.dist:420602" in ids


def test_district_update_gives_table_alerts_summary_and_map_levels() -> None:
    cat = catalogue()
    latest = _latest({"XY.P.M01.P01.dist:420602": 71.0})
    status = {"rates": {XIANGCHENG: {"all": {"rate": 96.5}}}}
    open_alerts = [_engine_alert("XY.P.M01.P01.dist:420602", Level.RED, NOW - 60)]
    view = DistrictView(XIANGCHENG)
    page = district_page(cat, DistrictReads(latest, status, open_alerts), view, NOW)
    table, alerts, summary, levels = page_outputs(page, view)
    assert len(table) == 55 and levels[XIANGCHENG] == 4
    assert "96.5%" in json.dumps(summary, cls=plotly.utils.PlotlyJSONEncoder)
    assert "XY.P.M01.P01.dist:420602" in json.dumps(alerts, cls=plotly.utils.PlotlyJSONEncoder)


def test_a_grid_sort_becomes_the_urls_sort_and_exports_follow_it() -> None:
    view = DistrictView(XIANGCHENG)
    state: list[dict[str, Any]] = [{"colId": "name", "sort": None}, {"colId": "city", "sort": "asc", "sortIndex": 0}]
    assert district_sorted_view(view, state) == DistrictView(XIANGCHENG, Sort("city", "asc"))
    assert district_sorted_view(view, [{"colId": "level", "sort": "desc"}]).sort is None  # the default
    assert district_sorted_view(view, [{"colId": "evil", "sort": "asc"}]).sort is None
    assert list_sorted_view(ListView("module", "M13"), [{"colId": "age", "sort": "asc"}]).sort == Sort("age", "asc")
    assert (
        export_href(DistrictView(XIANGCHENG, Sort("city", "asc")).href(), "csv")
        == "/export/district/420602.csv?sort=city:asc"
    )
    assert export_href(SignView("XY.P.M01.P01").href(), "xlsx") == "/export/sign/XY.P.M01.P01.xlsx"


def test_exported_rows_are_in_the_order_the_grid_shows() -> None:
    rows: list[dict[str, Any]] = [
        {"id": "a", "level": 1, "city": 3.0},
        {"id": "b", "level": None, "city": 1.0},
        {"id": "c", "level": 4, "city": None},
    ]
    assert [r["id"] for r in sorted_rows(rows, DistrictView(XIANGCHENG))] == ["c", "a", "b"]
    assert [r["id"] for r in sorted_rows(rows, DistrictView(XIANGCHENG, Sort("city", "asc")))] == ["b", "a", "c"]
    assert [r["id"] for r in sorted_list_rows(rows, ListView("module", "M13", sort=Sort("city", "desc")))] == [
        "a",
        "b",
        "c",
    ]


def test_list_rows_carry_values_levels_ages_and_sparklines() -> None:
    cat = catalogue()
    signs = list_signs(cat, "module", "M02")
    assert signs[0].is_core
    latest = _latest({"XY.P.M02.P06": 10.0, "XY.P.M02.P05": 1.0}, age=30.0)
    ts = np.arange(NOW - 3600, NOW, 60.0)
    recent = {
        "XY.P.M02.P06": np.array(
            list(zip(ts, np.linspace(90, 10, len(ts)), strict=True)), dtype=[("ts", "<f8"), ("value", "<f8")]
        )
    }
    rows = rows_for(cat, signs, latest, recent, NOW, "en")
    answer = next(r for r in rows if r["id"] == "XY.P.M02.P06")
    assert answer["level"] == 4 and answer["age"] == 30.0 and not answer["stale"]
    assert next(v for v in answer["spark"] if v is not None) == 100 and answer["spark"][-1] == 0
    assert [r["id"] for r in only_abnormal(rows)] == ["XY.P.M02.P06"]
    assert all(r["district"] for r in rows)
    assert len(list_signs(cat, "category", "S", "420624")) < len(list_signs(cat, "category", "S"))


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("XY.P.M01.P01", "XY.P.M01.P01"),
        ("实时人口", "XY.P.M01.P01"),
        ("real-time population", "XY.P.M01.P01"),
        ("population fancheng", "XY.P.M01.P01.dist:420606"),
        ("万人", "XY.P.M01.P01"),
    ],
)
def test_search_by_chinese_or_english_name_id_or_unit(text: str, first: str) -> None:
    hits = find(search_index(catalogue()), text)
    assert hits and hits[0].id == first


def test_search_covers_every_sign_and_needs_every_term() -> None:
    index = search_index(catalogue())
    assert len(index) == len(catalogue().signs) == len(search_index_rows(index))
    assert find(index, "pm2.5 樊城") and all("樊城" in h.name_zh for h in find(index, "pm2.5 樊城"))
    assert find(index, "no such thing at all") == [] and find(index, "   ") == []
    assert len(find(index, "XY", limit=7)) == 7


def _ids(component: Component) -> list[str]:
    found = []
    for child in component._traverse():
        if getattr(child, "id", None):
            found.append(child.id)
    return found


def test_every_page_builds_from_its_url(ctx: DrillContext) -> None:
    cat = ctx.catalogue
    pages: list[Component] = []
    for sign_id in (
        "XY.P.M01.P01",
        "XY.P.M01.P01.dist:420602",
        next(iter(s.id for s in cat.signs.values() if "stn:" in s.id)),
    ):
        pages.append(sign.layout(ctx, SignView(sign_id, "7d", compare=(), lang="en")))
    pages += [district.layout(ctx, DistrictView(a)) for a in DISTRICTS]
    pages += [signlist.layout(ctx, ListView("module", m)) for m in cat.modules]
    pages += [signlist.layout(ctx, ListView("category", c, lang="en")) for c in cat.categories]
    pages.append(search.layout(ctx, SearchView("温度")))
    for page in pages:
        ids = _ids(page)
        assert len(ids) == len(set(ids))
        plotly.io.json.to_json_plotly(page.to_plotly_json())  # serialisable as Dash sends it


def test_unknown_things_get_a_not_found_page(ctx: DrillContext) -> None:
    for page in (
        sign.layout(ctx, SignView("XY.NOPE")),
        district.layout(ctx, DistrictView(CITY_ADCODE)),
        signlist.layout(ctx, ListView("module", "M99")),
    ):
        assert "not-found" in json.dumps(page.to_plotly_json(), cls=plotly.utils.PlotlyJSONEncoder)


def test_numbers_are_formatted_like_the_wall() -> None:
    assert [format_value(v) for v in (1234.5, 48.33, 0.125, 0.0, None, float("nan"))] == [
        "1,234",
        "48.3",
        "0.12",
        "0",
        "—",
        "—",
    ]
