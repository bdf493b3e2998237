"""The drill-down's view state survives the URL both ways: parse(href(view)) == view, defaults stay out of the
URL, and anything a person or an old link may type falls back to a default rather than failing."""

from __future__ import annotations

import itertools
from datetime import datetime
from urllib.parse import parse_qs

import pytest

from geo.admin import DISTRICTS
from signs.citytime import CITY_TZ
from signs.urlstate import (
    DEFAULT_RANGE,
    FILTER_ABNORMAL,
    MAX_COMPARE,
    RANGES,
    DistrictView,
    Lang,
    ListView,
    QueryError,
    SearchView,
    SignView,
    Sort,
    View,
    check_params,
    district_view,
    format_end,
    lang_href,
    list_view,
    parse,
    parse_choice,
    parse_end,
    parse_int,
    parse_url,
    pin_minute,
    search_view,
    sign_view,
)

SIGN = "XY.P.M01.P01"
DIST_SIGN = "XY.P.M01.P01.dist:420602"
END = int(datetime(2025, 5, 24, 14, 30, tzinfo=CITY_TZ).timestamp())
LANGS: tuple[Lang, ...] = ("zh", "en")

SIGN_VIEWS = [
    SignView(sign_id, range_, end, compare, lang)
    for sign_id, range_, end, compare, lang in itertools.product(
        [SIGN, DIST_SIGN, "XY.S.M13.S44.stn:57278"],
        list(RANGES),
        [None, END],
        [(), (DIST_SIGN,), ("XY.P.M01.P01.dist:420606", "XY.P.M01.P01.dist:420607")],
        LANGS,
    )
    if sign_id not in compare
]
DISTRICT_VIEWS = [
    DistrictView(adcode, sort, filter_, lang)
    for adcode, sort, filter_, lang in itertools.product(
        ["420602", "420684"],
        [None, Sort("city", "asc"), Sort("420606", "desc"), Sort("level", "asc")],
        ["all", FILTER_ABNORMAL],
        LANGS,
    )
]
LIST_VIEWS = [
    ListView(kind, code, filter_, district, sort, lang)  # type: ignore[arg-type]
    for (kind, code), filter_, district, sort, lang in itertools.product(
        [("module", "M13"), ("category", "S")],
        ["all", FILTER_ABNORMAL],
        ["", "420624"],
        [None, Sort("age", "asc")],
        LANGS,
    )
]
SEARCH_VIEWS = [SearchView(q, lang) for q in ["", "pm2.5", "实时 人口", "万人", "a&b=c?d#e"] for lang in LANGS]
ALL_VIEWS: list[View] = [*SIGN_VIEWS, *DISTRICT_VIEWS, *LIST_VIEWS, *SEARCH_VIEWS]


@pytest.mark.parametrize("view", ALL_VIEWS, ids=lambda v: v.href())
def test_every_view_round_trips_through_its_url(view: object) -> None:
    href = view.href()  # type: ignore[attr-defined]
    assert parse_url(href) == view
    # Canonical: writing the parsed view again gives the very same URL.
    assert parse_url(href).href() == href  # type: ignore[union-attr]


def test_defaults_stay_out_of_the_url() -> None:
    assert SignView(SIGN).href() == "/sign/XY.P.M01.P01"
    assert DistrictView("420602").href() == "/district/420602"
    assert ListView("module", "M13").href() == "/module/M13"
    assert SearchView().href() == "/search"


def test_urls_are_readable_and_in_a_fixed_order() -> None:
    view = SignView(DIST_SIGN, "7d", END, ("XY.P.M01.P01.dist:420606", SIGN), "en")
    assert (
        view.href()
        == "/sign/XY.P.M01.P01.dist:420602?range=7d&end=20250524T1430&vs=XY.P.M01.P01.dist:420606,XY.P.M01.P01&lang=en"
    )
    assert ListView("category", "S", FILTER_ABNORMAL, "420624", Sort("value", "asc"), "en").href() == (
        "/category/S?filter=abnormal&dist=420624&sort=value:asc&lang=en"
    )


def test_what_dash_pages_passes_is_understood() -> None:
    # Path variables and query parameters as keyword arguments; a repeated parameter as a list.
    view = sign_view("XY.P.M01.P01.dist%3A420602", {"range": ["7d", "1h"], "lang": "en", "vs": "XY.P.M01.P01"})
    assert view == SignView(DIST_SIGN, "7d", None, (SIGN,), "en")
    assert district_view("420602/", {"sort": "rank:asc"}) == DistrictView("420602", Sort("rank", "asc"))
    assert list_view("module", "m13", {}) == ListView("module", "M13")
    assert search_view({"q": "  温度  "}) == SearchView("温度")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"range": "2y"}, SignView(SIGN)),
        ({"end": "yesterday"}, SignView(SIGN)),
        ({"lang": "fr"}, SignView(SIGN)),
        ({"vs": "XY.P.M01.P01,,XY.A<script>,XY.B,XY.B"}, SignView(SIGN, compare=("XY.B",))),
    ],
)
def test_nonsense_in_a_sign_url_falls_back_to_defaults(query: dict[str, str], expected: SignView) -> None:
    assert sign_view(SIGN, query) == expected


def test_nonsense_in_other_urls_falls_back_to_defaults() -> None:
    assert district_view("420602", {"sort": "password:asc", "filter": "everything"}) == DistrictView("420602")
    assert district_view("420602", {"sort": "city:sideways"}) == DistrictView("420602")
    assert list_view("module", "M13", {"dist": "999999", "sort": "drop table"}) == ListView("module", "M13")
    assert parse_url("/elsewhere?x=1") is None
    assert sign_view("../../etc/passwd").sign_id == ""


def test_compare_keeps_order_drops_the_sign_itself_and_is_capped() -> None:
    many = ",".join(f"XY.P.M01.P01.x{i}" for i in range(20))
    view = sign_view(SIGN, {"vs": f"{SIGN},{many}"})
    assert len(view.compare) == MAX_COMPARE and view.compare[0] == "XY.P.M01.P01.x0"


def test_toggling_a_comparison() -> None:
    view = SignView(SIGN)
    on = view.toggled(DIST_SIGN)
    assert on.compare == (DIST_SIGN,)
    assert on.toggled(DIST_SIGN) == view
    assert view.toggled(SIGN) == view  # never compared with itself


def test_end_is_beijing_time_to_the_minute() -> None:
    assert format_end(END) == "20250524T1430"
    assert parse_end("20250524T1430") == END
    assert datetime.fromtimestamp(parse_end("20250101T0000"), CITY_TZ).hour == 0  # type: ignore[arg-type]
    assert pin_minute(END + 59.9) == END
    assert parse_end("2025-05-24") is None


def test_switching_language_keeps_the_view() -> None:
    view = DistrictView("420602", Sort("city", "asc"), FILTER_ABNORMAL)
    assert parse_url(lang_href(view, "en")) == DistrictView("420602", Sort("city", "asc"), FILTER_ABNORMAL, "en")
    assert parse_url(lang_href(SignView(SIGN, "1h", lang="en"), "zh")) == SignView(SIGN, "1h")


def test_every_district_column_is_sortable() -> None:
    for adcode in DISTRICTS:
        assert district_view("420602", {"sort": f"{adcode}:asc"}).sort == Sort(adcode, "asc")
    assert DEFAULT_RANGE in RANGES


# Strict reading, for exports and the API: a parameter not understood is a QueryError naming it ----------------


@pytest.mark.parametrize(
    ("path", "query", "named"),
    [
        (f"/sign/{SIGN}", {"end": "00010101T0000"}, "end"),
        (f"/sign/{SIGN}", {"end": "21000101T0000"}, "end"),
        (f"/sign/{SIGN}", {"end": "20250524T14:30"}, "end"),
        (f"/sign/{SIGN}", {"end": "٢٠٢٥٠٥٢٤T1430"}, "end"),
        (f"/sign/{SIGN}", {"range": "2y"}, "range"),
        (f"/sign/{SIGN}", {"range": ["1h", "7d"]}, "range"),
        (f"/sign/{SIGN}", {"lang": "fr"}, "lang"),
        (f"/sign/{SIGN}", {"vs": "XY.A<script>"}, "vs"),
        (f"/sign/{SIGN}", {"vs": ",".join(f"XY.B{i}" for i in range(MAX_COMPARE + 1))}, "vs"),
        (f"/sign/{SIGN}", {"rnage": "1h"}, "rnage"),
        ("/district/420602", {"sort": "password:asc"}, "sort"),
        ("/district/420602", {"filter": "everything"}, "filter"),
        ("/district/420602", {"dist": "420606"}, "dist"),
        ("/module/M13", {"dist": "999999"}, "dist"),
        ("/module/M13", {"dist": "４２０６０２"}, "dist"),
        ("/category/S", {"sort": "age:sideways"}, "sort"),
        ("/search", {"q": "x" * 101}, "q"),
    ],
)
def test_strict_parsing_names_what_it_does_not_understand(path: str, query: dict[str, str], named: str) -> None:
    with pytest.raises(QueryError, match=named):
        parse(path, query, strict=True)
    assert parse(path, query) is not None  # the page itself falls back to defaults


@pytest.mark.parametrize("view", ALL_VIEWS, ids=lambda v: v.href())
def test_every_url_a_page_writes_parses_strictly(view: object) -> None:
    path, _, query = view.href().partition("?")  # type: ignore[attr-defined]
    parsed = parse_url(view.href())  # type: ignore[attr-defined]
    assert parse(path, {k: v[0] for k, v in parse_qs(query).items()}, strict=True) == parsed
    assert parse(path, {"token": "a-wall-token"}, strict=True) is not None  # a wall's token rides on any URL


def test_shared_parameter_rules() -> None:
    assert parse_int("250", "recent", 0, 1000) == 250
    for bad in ("-1", "1001", "²", "١٢", "1e3", " 5", "", "0x10"):
        with pytest.raises(QueryError, match="recent"):
            parse_int(bad, "recent", 0, 1000)
    assert parse_choice("csv", "format", ("json", "csv")) == "csv"
    with pytest.raises(QueryError, match="format must be one of csv, json"):
        parse_choice("pdf", "format", ("json", "csv"))
    with pytest.raises(QueryError, match="unknown parameter 'x': it takes none"):
        check_params({"x": "1", "token": "t"}, ())
    assert parse_end("20991231T2359") == int(datetime(2099, 12, 31, 23, 59, tzinfo=CITY_TZ).timestamp())
    assert parse_end("00010101T0000") is None and parse_end("20250524T2500") is None
    assert parse_url(7) is None and parse_url(None) is None  # a state store holds what the browser sends
