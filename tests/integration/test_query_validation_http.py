"""Every parameter of every endpoint is checked, over HTTP against the whole web app on a real Redis: a bad one
is a 400 whose message names it, never a 500. A table of bad parameters per endpoint, then a crawl sending junk
to every route Flask has registered (server.url_map), Dash's callback route included."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from alerts.officer import RECENT_MAX
from auth.store import create_wall_token
from layouts.nav import export_href
from signs.urlstate import DistrictView, ListView, SignView, Sort, View
from tests.web import DISPATCH_PATH, ORIGIN, callback_request, create_accounts, dash_app, signed_in

pytestmark = pytest.mark.integration

SIGN = "XY.S.M13.S44"
EXPORT = f"/export/sign/{SIGN}.csv"
TEN_SIGNS = ",".join(f"XY.P.M01.P01.x{i}" for i in range(10))

# (url, a word the 400's message must hold)
BAD_PARAMETERS = [
    (f"{EXPORT}?end=00010101T0000", "end"),  # year 1: once a 500
    (f"{EXPORT}?end=99991231T2359", "end"),
    (f"{EXPORT}?end=20260524T2500", "end"),
    (f"{EXPORT}?end=2026524T800", "end"),
    (f"{EXPORT}?end=２０２６０５２４Ｔ０８００", "end"),  # full-width digits
    (f"{EXPORT}?end=yesterday", "end"),
    (f"{EXPORT}?range=2y", "range"),
    (f"{EXPORT}?range=1h&range=7d", "range"),
    (f"{EXPORT}?lang=fr", "lang"),
    (f"{EXPORT}?vs=XY.A<script>", "vs"),
    (f"{EXPORT}?vs=XY.NOPE", "vs"),
    (f"{EXPORT}?vs={TEN_SIGNS}", "vs"),
    (f"{EXPORT}?rnage=1h", "rnage"),
    (f"/export/sign/{SIGN}.xlsx?end=00010101T0000", "end"),
    ("/export/district/420624.csv?sort=password:asc", "sort"),
    ("/export/district/420624.csv?sort=city:sideways", "sort"),
    ("/export/district/420624.xlsx?filter=everything", "filter"),
    ("/export/district/420624.csv?dist=420602", "dist"),
    ("/export/module/M13.csv?dist=999999", "dist"),
    ("/export/module/M13.xlsx?dist=４２０６０２", "dist"),
    ("/export/module/M13.csv?sort=drop table", "sort"),
    ("/export/category/S.csv?filter=abnormal&filter=all", "filter"),
    ("/export/category/S.csv?lang=EN-GB", "lang"),
    ("/api/v1/alerts?status=burning", "status"),
    ("/api/v1/alerts?level=green", "level"),
    ("/api/v1/alerts?level=normal", "level"),
    ("/api/v1/alerts?district=999999", "district"),
    ("/api/v1/alerts?recent=-1", "recent"),
    ("/api/v1/alerts?recent=²", "recent"),
    ("/api/v1/alerts?recent=١٢", "recent"),  # Arabic-Indic digits
    (f"/api/v1/alerts?recent={RECENT_MAX + 1}", "recent"),
    ("/api/v1/alerts?recent=1e3", "recent"),
    ("/api/v1/alerts?status=raised&status=closed", "status"),
    ("/api/v1/alerts?sort=level", "sort"),
    ("/api/v1/alerts/some-alert?history=all", "history"),
    ("/api/v1/silences?all=1", "all"),
    ("/api/v1/duty-log?from=0001-01-01T00:00", "from"),
    ("/api/v1/duty-log?to=2026-13-01T00:00", "to"),
    ("/api/v1/duty-log?from=2026-05-24 08:00", "from"),
    ("/api/v1/duty-log?from=2026-05-24T20:00&to=2026-05-24T08:00", "start"),
    ("/api/v1/duty-log?from=2026-05-01T00:00&to=2026-05-24T00:00", "days"),
    ("/api/v1/duty-log?format=pdf", "format"),
    ("/api/v1/duty-log?lang=fr", "lang"),
    ("/api/v1/snapshot?district=999999", "district"),
    ("/api/v1/snapshot?category=X", "category"),
    ("/api/v1/snapshot?catgory=P", "catgory"),
    (f"/api/v1/signs/{SIGN}?fields=all", "fields"),
    ("/api/v1/search-index?v=2", "v"),
    ("/geo/districts.json?crs=3857", "crs"),
    ("/geo/cameras.pbf?bbox=1,2,3,4", "bbox"),
]


@pytest.fixture
def officer(web_server: Flask, redis_client: redis.Redis) -> FlaskClient:
    create_accounts(redis_client)
    return signed_in(web_server.test_client(), "duty1")


def test_a_bad_parameter_is_a_400_naming_it(officer: FlaskClient) -> None:
    wrong = []
    for url, named in BAD_PARAMETERS:
        response = officer.get(url)
        body = response.get_json(silent=True) or {}
        if response.status_code != 400 or body.get("status") != 400 or named not in body.get("error", ""):
            wrong.append((url, response.status_code, response.get_data(as_text=True)[:200]))
    assert wrong == []


def test_a_bad_parameter_on_an_action_is_refused_before_it_acts(officer: FlaskClient) -> None:
    silence = {"scope": "district", "target": "420624", "minutes": 30, "reason": "pump maintenance"}
    response = officer.post("/api/v1/silences?minutes=9999", json=silence, headers=ORIGIN)
    assert response.status_code == 400 and "minutes" in response.get_json()["error"]
    assert officer.get("/api/v1/silences").get_json()["silences"] == []


def test_what_the_pages_link_to_is_accepted(officer: FlaskClient, redis_client: redis.Redis) -> None:
    """The exports take exactly the query the pages write, and a wall's token rides on any URL."""
    views: list[View] = [
        SignView(SIGN, "7d", 1_780_000_020, (f"{SIGN}.dist:420624",), "en"),
        SignView(SIGN, "1h"),
        DistrictView("420624", Sort("420606", "asc"), "abnormal", "en"),
        ListView("module", "M13", "abnormal", "420624", Sort("age", "asc"), "en"),
        ListView("category", "S", district="420602"),
    ]
    for view in views:
        for fmt in ("csv", "xlsx"):
            url = export_href(view.href(), fmt)
            assert officer.get(url).status_code == 200, url
    good = ["/api/v1/alerts?status=raised&level=red&district=420600&recent=10", "/api/v1/duty-log?lang=en&format=csv"]
    for url in good + ["/api/v1/duty-log?from=2026-05-24T08:00&to=2026-05-24T20:00", "/api/v1/snapshot?category=态"]:
        assert officer.get(url).status_code == 200, url
    token = create_wall_token(redis_client, "main-wall", by="test")
    wall = officer.application.test_client()
    assert wall.get(f"/api/v1/alerts?token={token}").status_code == 200
    assert wall.get(f"/export/sign/{SIGN}.csv?range=1h&token={token}").status_code == 200


# The crawl --------------------------------------------------------------------------------------------------------

JUNK_PATH_VALUES = ["x", f"{SIGN}.csv", "420602.xlsx", "M13.csv", "module", "00010101T0000", "..%2F..%2Fetc", "\u202e"]
JUNK_QUERIES: list[dict[str, str]] = [
    {},
    {"end": "00010101T0000"},  # alone, so that nothing else is refused first
    {"end": "99991231T2359", "range": "7d"},
    {"from": "0001-01-01T00:00"},
    {"to": "0001-01-01T00:00"},
    {"recent": "²"},
    {"sort": "'; DROP TABLE"},
    {"filter": "\x00", "dist": "-1"},
    {"lang": "fr", "vs": "<script>"},
    {"next": "//evil.example", "token": "forged", "q": "x" * 5000, "level": "[]", "status": "%", "format": "exe"},
]
_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?(\w+)>")


def _replacing_with(value: str) -> Callable[[re.Match[str]], str]:
    """A re.sub replacement that puts `value` in verbatim (a replacement string would read its backslashes)."""
    return lambda _match: value


def _paths(rule: Rule) -> Iterator[str]:
    if not rule.arguments:
        yield rule.rule
        return
    for value in JUNK_PATH_VALUES:
        yield _ARGUMENT.sub(_replacing_with(value), re.sub(r"<any\([^)]*\):(\w+)>", "<\\1>", rule.rule))


def _assert_not_a_server_error(response: Any, what: str) -> None:
    # /healthz answers 503 when the system is not all well (here: no feed worker), /readyz when this instance cannot
    # serve (here: no board yet): that is their answer, not a fault.
    allowed = {503} if what.split()[1] in ("/healthz", "/readyz") else set()
    assert response.status_code < 500 or response.status_code in allowed, (what, response.get_data(as_text=True)[:300])


@pytest.mark.slow
def test_junk_to_every_registered_route_is_never_a_server_error(web_server: Flask, redis_client: redis.Redis) -> None:
    create_accounts(redis_client)
    clients = {"officer": signed_in(web_server.test_client(), "duty1"), "anonymous": web_server.test_client()}
    crawled = 0
    for rule in web_server.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for path in _paths(rule):
                for query in JUNK_QUERIES:
                    for who, client in clients.items():
                        if rule.rule == "/logout" and who == "officer":
                            continue  # it would end the session the rest of the crawl uses
                        body = (
                            {"note": "=1+1", "minutes": "∞", "scope": ["x"], "output": 1} if method == "POST" else None
                        )
                        response = client.open(path, method=method, query_string=query, json=body, headers=ORIGIN)
                        _assert_not_a_server_error(response, f"{method} {path} {query} as {who}")
                        crawled += 1
    assert crawled > 1_000


# Dash's callback route: malformed bodies, then well-formed ones carrying junk values --------------------------------

# Dash's page router: the location's path and query string in, the page's layout out.
ROUTER = ".._pages_content.children"
# The callbacks of the pages whose values this suite vouches for: the router and the drill-down, district, alerts
# and duty-log pages (their outputs' ids start so).
PAGE_PREFIXES = ("_pages_", "sign-", "district-", "list-", "search-", "drill-", "alerts-", "duty-log-")
JUNK_VALUES: list[object] = [None, "", "/district/999999?sort=x", f"/sign/{SIGN}?end=00010101T0000", 7, -1, 1e308,
                             {"a": 1}, [1, {}], "x" * 5000, True]  # fmt: skip
PAGES = ["/", f"/sign/{SIGN}", "/district/420602", "/district/999999", "/module/M13", "/category/S", "/search",
         "/alerts", "/duty-log", "/nowhere"]  # fmt: skip
JUNK_SEARCHES = [
    "",
    "?end=00010101T0000&range=9y&vs=<x>&lang=fr",
    "?sort=a:b&filter=%00&dist=-1",
    "?from=0001-01-01T00:00&to=x",
    "?status=x&level=y&district=z&recent=²&alert=" + "a" * 500,
    "?lang=en&lang=zh",
    "no-question-mark",
]


def test_malformed_callback_requests_are_400s(officer: FlaskClient) -> None:
    officer.get("/")  # Dash registers the pages' router on its first request
    good = callback_request("..sign-headline")
    malformed = [
        [], "junk", {}, {**good, "output": "nobody.children"}, {**good, "output": 7}, {**good, "inputs": []},
        {**good, "inputs": "x"}, {**good, "inputs": [1, 2]}, {**good, "inputs": [{"id": 1, "property": "data"}] * 2},
        {**good, "state": [{}]}, {**good, "outputs": 5}, {**good, "changedPropIds": [1]},
    ]  # fmt: skip
    for body in malformed:
        response = officer.post(DISPATCH_PATH, json=body, headers=ORIGIN)
        assert response.status_code == 400 and response.get_json()["error"], body
    assert (
        officer.post(DISPATCH_PATH, data="{not json", content_type="application/json", headers=ORIGIN).status_code
        == 400
    )
    assert officer.get("/_dash-component-suites/no_such_package/x.js").status_code == 404
    assert officer.post(DISPATCH_PATH, json=good, headers=ORIGIN).status_code in (200, 204)


def _serves_a_page(callback: dict[str, Any]) -> bool:
    outputs = callback["output"] if isinstance(callback["output"], list) else [callback["output"]]
    return any(isinstance(o.component_id, str) and o.component_id.startswith(PAGE_PREFIXES) for o in outputs)


@pytest.mark.parametrize("username", ["duty1", "nanzhang"])
def test_junk_values_to_the_pages_callbacks_are_never_a_server_error(
    web_server: Flask, redis_client: redis.Redis, username: str
) -> None:
    """What a browser holds in a page's stores and inputs is the browser's: any value of any type, and any path
    and query string for the page router, is handled, not a 500."""
    create_accounts(redis_client)
    client = signed_in(web_server.test_client(), username)
    client.get("/")
    callbacks = {k: c for k, c in dash_app().callback_map.items() if "callback" in c}
    mine = {k: c for k, c in callbacks.items() if _serves_a_page(c)}
    assert len(mine) >= 12
    for key in mine:
        for value in JUNK_VALUES:
            response = client.post(DISPATCH_PATH, json=callback_request(key, default=value), headers=ORIGIN)
            _assert_not_a_server_error(response, f"POST {key[:60]} {value!r:.40}")
    for path in PAGES:
        for search in JUNK_SEARCHES:
            location = {"_pages_location.pathname": path, "_pages_location.search": search}
            response = client.post(DISPATCH_PATH, json=callback_request(ROUTER, location), headers=ORIGIN)
            assert response.status_code == 200, (path, search, response.get_data(as_text=True)[:300])


# The wall's and the camera layer's callbacks: what a wall holds in its stores is the browser's too.
WALL_CALLBACKS = ("wall-changes.data", "..cameras-status.data", "..cameras-detail-body.children")


def test_junk_values_to_the_wall_and_camera_callbacks_are_ignored_not_a_server_error(
    officer: FlaskClient, redis_client: redis.Redis
) -> None:
    """A held board sequence, audit id, status version, language or clicked feature of the wrong type counts as
    none: the wall gets the whole board, the camera layer its bitmaps, and a junk click draws no card."""
    for key in WALL_CALLBACKS:
        for value in JUNK_VALUES:
            response = officer.post(DISPATCH_PATH, json=callback_request(key, default=value), headers=ORIGIN)
            assert response.status_code in (200, 204), (key, value, response.get_data(as_text=True)[:300])
    junk_seq = {"wall-tick.n_intervals": 1, "wall-seq.data": {"a": 1}, "wall-alerts-seen.data": [1, {}]}
    response = officer.post(DISPATCH_PATH, json=callback_request("wall-changes.data", junk_seq), headers=ORIGIN)
    assert response.status_code == 200
    tick = response.get_json()["response"]["wall-changes"]["data"]
    assert tick["full"] is True and "error" not in tick
    junk_click = {"cameras-layer.clickData": [1, {}], "cameras-detail.lang": {"a": 1}}
    key = "..cameras-detail-body.children"
    assert officer.post(DISPATCH_PATH, json=callback_request(key, junk_click), headers=ORIGIN).status_code == 204
