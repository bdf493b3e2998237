"""?lang=en shows no Chinese: every page's layout, every callback that page fires on load, and its browser tab
title, rendered by the whole web app (Flask's test client) against a Redis seeded with a value for every sign, the
wall's board and a red alert raised by the real engine (stored, as alerts are, with the sign's Chinese name).

The only Chinese allowed is the short list below: names given in both scripts on purpose."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from alerts.model import Alert
from auth.model import Role
from auth.store import save_user
from dispatch import hub
from dispatch.library import library
from dispatch.model import Location, Report, Source
from feeds.board import publish_board
from services.embedded import EmbeddedService
from signs.catalogue import catalogue
from signs.keys import KEY_LATEST, Latest
from signs.model import MqttSource
from tests.alerting import AlertRaiser, red_sign
from tests.web import (
    DISPATCH_PATH,
    ORIGIN,
    PASSWORD,
    callback_request,
    create_accounts,
    dash_app,
    production_app,
    signed_in,
)

# Chinese an English page may show: the language switch names the other language in its own script.
ALLOWED = ("中文",)
CJK = re.compile(r"[\u2e80-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]+")
ROUTER_OUTPUT = "_pages_content.children"


@pytest.fixture(scope="module")
def seeded(redis_service: EmbeddedService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Alert]]:
    client = redis.Redis.from_url(redis_service.url)
    client.flushall()
    now = time.time()
    cat = catalogue()
    for sign in cat.signs.values():
        value = next((b for b in sign.thresholds if b is not None), 1.0) * 0.9
        client.hset(KEY_LATEST, sign.id, f"{now - 5!r}|{Latest(value, now - 5, now - 5).encode_rest()}")
    publish_board(client, cat, now)
    create_accounts(client)
    alert = AlertRaiser(redis_service.url, client).raise_red(red_sign("420624"))
    with production_app(redis_service.url, "mqtt://127.0.0.1:9", tmp_path_factory.mktemp("run")) as server:
        yield server, alert
    client.close()


@pytest.fixture(scope="module")
def officer(seeded: tuple[Any, Alert]) -> FlaskClient:
    server, _ = seeded
    return signed_in(server.test_client(), "duty1")


def chinese_in(text: str) -> list[str]:
    """Each run of Chinese characters in the text with its surroundings, the allowed names left out."""
    found = []
    for match in CJK.finditer(text):
        if match.group() not in ALLOWED:
            found.append(text[max(0, match.start() - 40) : match.end() + 20])
    return found


def shown_in_english(node: Any) -> Any:
    """What an English page shows of a callback's output: one poll serves every wall, so the wall's incidents carry
    their title in both languages, [zh, en], and assets/wall.js shows the second on an English wall."""
    if isinstance(node, dict):
        shown = {k: shown_in_english(v) for k, v in node.items()}
        if {"title", "district", "sign", "level"} <= node.keys() and isinstance(node["title"], list):
            shown["title"] = node["title"][1]
        return shown
    if isinstance(node, list):
        return [shown_in_english(v) for v in node]
    return node


def _components(node: Any) -> Iterator[dict[str, Any]]:
    """Every component's props in a layout as Dash serialises it."""
    if isinstance(node, dict):
        if "props" in node and "type" in node:
            yield node["props"]
        for child in node.values():
            yield from _components(child)
    elif isinstance(node, list):
        for child in node:
            yield from _components(child)


def _post(client: FlaskClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(DISPATCH_PATH, json=body, headers=ORIGIN)
    assert response.status_code in (200, 204), response.get_data(as_text=True)[:300]
    return response.get_json(silent=True) or {}


def _route(client: FlaskClient, path: str, query: str) -> dict[str, Any]:
    key = next(k for k in dash_app().callback_map if ROUTER_OUTPUT in k)
    values = {"_pages_location.pathname": path, "_pages_location.search": f"?{query}"}
    return _post(client, callback_request(key, values))


def _callbacks_on_load(layout: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each server callback whose inputs are all in the layout, with the values the layout gives them: what the
    browser fires when the page appears."""
    props = {p["id"]: p for p in _components(layout) if isinstance(p.get("id"), str)}
    for key, callback in dash_app().callback_map.items():
        if ROUTER_OUTPUT in key or "callback" not in callback:
            continue
        specs = [*callback["inputs"], *callback.get("state", [])]
        if any(s["id"].startswith("{") or s["id"] not in props for s in callback["inputs"]):
            continue
        yield key, {f"{s['id']}.{s['property']}": props.get(s["id"], {}).get(s["property"]) for s in specs}


def rendered(client: FlaskClient, path: str, query: str) -> dict[str, str]:
    """The page's layout and each of its callbacks' outputs as an English page shows them, as JSON text."""
    page = _route(client, path, query)["response"]
    parts = {"layout": json.dumps(page, ensure_ascii=False)}
    for key, values in _callbacks_on_load(page["_pages_content"]["children"]):
        output = shown_in_english(_post(client, callback_request(key, values)))
        parts[key] = json.dumps(output, ensure_ascii=False)
    return parts


def _pages(alert: Alert) -> list[tuple[str, str]]:
    district_sign = next(s for s in catalogue().signs.values() if s.district and isinstance(s.source, MqttSource))
    return [
        ("/", "lang=en"),
        ("/", "lang=en&kiosk=1"),
        ("/category/S", "lang=en"),
        ("/module/M15", "lang=en"),
        ("/module/M13", "lang=en&district=420624"),
        ("/sign/XY.S.M13.S45", "lang=en&range=24h"),
        (f"/sign/{district_sign.id}", "lang=en"),
        (f"/sign/{alert.sign_id}", "lang=en"),
        ("/district/420624", "lang=en"),
        ("/search", "lang=en&q=rain"),
        ("/alerts", "lang=en"),
        ("/alerts", f"lang=en&selected={alert.id}"),
        ("/alerts", f"lang=en&incident={alert.incident}"),
        ("/duty-log", "lang=en"),
    ]


def test_every_english_page_and_its_callbacks_show_no_chinese(seeded: tuple[Any, Alert], officer: FlaskClient) -> None:
    _, alert = seeded
    problems: dict[str, list[str]] = {}
    for path, query in _pages(alert):
        parts = rendered(officer, path, query)
        assert len(parts) > 1, f"{path}: none of the page's callbacks was found"
        problems |= {f"{path}?{query} {part}": chinese_in(text) for part, text in parts.items()}
    assert {k: v for k, v in problems.items() if v} == {}


@pytest.mark.parametrize(
    ("path", "english", "chinese"),
    [
        ("/alerts", "Alerts · City Eye", "告警处置 · 城市之眼"),
        ("/duty-log", "Duty log · City Eye", "值班日志 · 城市之眼"),
        ("/module/M13", "Weather · City Eye", "气象 · 城市之眼"),
        ("/district/420624", "Nanzhang County · City Eye", "南漳县 · 城市之眼"),
        ("/search", "Search · City Eye", "搜索 · 城市之眼"),
    ],
)
def test_browser_tabs_are_titled_in_the_page_language(
    officer: FlaskClient, path: str, english: str, chinese: str
) -> None:
    """The page as served names itself in its language (its og:title; the first <title> is the app's, in both
    scripts), and the router that renders it sets the tab's title to the same."""
    for query, title in (("lang=en", english), ("", chinese)):
        page = officer.get(f"{path}?{query}")
        assert f'property="og:title" content="{title}"' in page.get_data(as_text=True), (path, query)
        assert _route(officer, path, query)["response"]["_pages_store"]["data"]["title"] == title


def test_an_alert_stored_in_chinese_reads_in_english(seeded: tuple[Any, Alert], officer: FlaskClient) -> None:
    _, alert = seeded
    sign = catalogue().signs[alert.sign_id]
    assert alert.name == sign.name_zh  # as raised and stored
    english = "".join(rendered(officer, "/alerts", f"lang=en&selected={alert.id}").values())
    assert sign.name_en in english and sign.name_zh not in english
    chinese = "".join(rendered(officer, "/alerts", f"selected={alert.id}").values())
    assert sign.name_zh in chinese


def test_the_event_pages_show_no_chinese(
    seeded: tuple[Any, Alert], officer: FlaskClient, redis_service: EmbeddedService
) -> None:
    """/inbox as a housing-bureau handler and /events as an officer, listing and showing a dispatched event whose
    reporter wrote in English (what people write is shown as written)."""
    server, _ = seeded
    client = redis.Redis.from_url(redis_service.url)
    save_user(client, "handler1", Role.HANDLER, PASSWORD, department="D02", by="test")
    where = Location(32.0581, 112.1402, "Chunyuan estate, east gate", "", "420606003")
    report = Report("0500101", where, "A broken branch blocks the entrance", Source.GRID, "WG-1", "grid worker 07")
    event = hub.file_report(client, report, library(), "420606", time.time())
    hub.auto_dispatch(client, event.id, library(), time.time())
    handler = signed_in(server.test_client(), "handler1")
    problems: dict[str, list[str]] = {}
    for who, path, query in (
        (handler, "/inbox", "lang=en"),
        (handler, "/inbox", f"lang=en&event={event.id}"),
        (officer, "/events", "lang=en"),
        (officer, "/events", f"lang=en&status=all&event={event.id}"),
    ):
        parts = rendered(who, path, query)
        assert len(parts) > 1, f"{path}: none of the page's callbacks was found"
        assert "A broken branch" in "".join(parts.values()) or "event=" not in query
        problems |= {f"{path}?{query} {part}": chinese_in(text) for part, text in parts.items()}
    found = {k: v for k, v in problems.items() if v}
    assert found == {}, json.dumps(found, ensure_ascii=False, indent=1)


def test_the_checker_finds_chinese_outside_the_allowed_names() -> None:
    assert chinese_in("Language: 中文") == []
    assert chinese_in("Gucheng County · 谷城县 mobile video") == ["Gucheng County · 谷城县 mobile video"]
