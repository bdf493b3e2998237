"""The wall's events panel, map layer and kiosk view in Debian's Chromium against gunicorn: an event filed through
the hub appears in the panel and as a marker on the map, its count moves from state to state as it is handled, a
late one is red on both, and the kiosk rotation comes to the events view. Screenshots go to test-artifacts/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
from playwright.sync_api import Browser, Page

from config import Settings
from dispatch.hub import act, auto_dispatch, file_report
from dispatch.library import library
from dispatch.model import Event, Location, Report, Source
from layouts import wall as ids
from services.embedded import EmbeddedService, free_port
from services.web import gunicorn_command
from tests.browser.live import ARTIFACTS, http_ok, open_page
from tests.processes import ChildProcess, feed_env, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

BRANCH = "0500101"  # 树枝横出/断枝, category 05, 30 min / 2 h / 24 h
DWELL_S = "1"


@dataclass
class Stack:
    url: str
    redis: redis.Redis


@pytest.fixture(scope="module")
def stack(redis_service: EmbeddedService, mqtt_service: EmbeddedService) -> Iterator[Stack]:
    client = redis.Redis.from_url(redis_service.url)
    client.flushall()
    port = free_port()
    dwell = {f"WALL_DWELL_{kind}_S": DWELL_S for kind in ("OVERVIEW", "CATEGORY", "DISTRICT", "CAMERAS", "EVENTS")}
    env = feed_env(redis_service.url, mqtt_service.url, **dwell)
    web = ChildProcess(gunicorn_command(Settings(web_workers=1), port=port), env, "wall-events-web")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_ok(url + "/healthz") or http_ok(url + "/"), 60, "gunicorn serving the wall")
        yield Stack(url, client)
    finally:
        web.stop()
        client.close()


def _filed(client: redis.Redis, reported_at: float) -> Event:
    lib = library()
    report = Report(BRANCH, Location(32.04, 112.14, "檀溪路小区北门"), "树枝横出", Source.GRID, "grid-07")
    event = file_report(client, report, lib, "420606", reported_at)
    return auto_dispatch(client, event.id, lib, reported_at)


def _count(page: Page, state: str) -> str:
    return page.locator(f"#{ids.EVENTS_PANEL} .events-count[data-state={state}] .n").inner_text()


def _late_count(page: Page) -> str:
    return page.locator(f"#{ids.EVENTS_PANEL} .events-count.late .n").inner_text()


def test_an_event_appears_moves_and_turns_red(browser: Browser, stack: Stack) -> None:
    page, errors = open_page(browser, stack.url + "/", 1920, 1080)
    page.wait_for_selector(f"#{ids.EVENTS_PANEL} .events-none", timeout=30_000)
    assert _count(page, "dispatched") == "0" and page.locator(".event-marker").count() == 0

    event = _filed(stack.redis, time.time())
    item = page.locator(f'#{ids.EVENTS_PANEL} .events-item[data-event-id="{event.id}"]')
    item.wait_for(timeout=10_000)
    assert _count(page, "dispatched") == "1" and _late_count(page) == "0"
    assert library().types[BRANCH].name_zh in item.inner_text() and "樊城区" in item.inner_text()
    page.wait_for_selector(".event-marker", timeout=10_000)
    assert page.locator(".event-marker").count() == 1 and page.locator(".event-marker.late").count() == 0
    page.screenshot(path=str(ARTIFACTS / "wall-events-dispatched.png"))

    lib = library()
    act(stack.redis, event.id, "sign_for", lib, "zhujian", time.time())
    wait_for(lambda: _count(page, "signed_for") == "1" and _count(page, "dispatched") == "0", 10, "signed for")
    act(stack.redis, event.id, "handle", lib, "zhujian", time.time(), note="已修剪", evidence=("https://x/1.jpg",))
    wait_for(lambda: _count(page, "handled") == "1" and _count(page, "signed_for") == "0", 10, "handled")
    assert page.locator(f'.events-item[data-event-id="{event.id}"][data-status="handled"]').count() == 1
    act(stack.redis, event.id, "close", lib, "duty", time.time())
    wait_for(lambda: _count(page, "handled") == "0", 10, "closed, off the wall")
    wait_for(lambda: page.locator(".event-marker").count() == 0, 10, "its marker gone")

    # Dispatched an hour ago and never signed for: its 30-minute response ran out, red on the panel and the map.
    late = _filed(stack.redis, time.time() - 3600)
    page.locator(f'.events-item.late[data-event-id="{late.id}"]').wait_for(timeout=10_000)
    assert _late_count(page) == "1"
    page.wait_for_selector(".event-marker.late", timeout=10_000)
    page.screenshot(path=str(ARTIFACTS / "wall-events-late.png"))
    assert errors == []
    page.close()


def test_the_kiosk_rotation_comes_to_the_events_view(browser: Browser, stack: Stack) -> None:
    page, errors = open_page(browser, stack.url + "/?kiosk=1&lang=en", 1920, 1080)
    page.wait_for_selector(f'#{ids.CANVAS}[data-view="events"]', timeout=60_000)
    assert page.locator(f"#{ids.VIEW_TITLE}").inner_text() == "Event hub · handling"
    assert page.locator(f"#{ids.EVENTS_PANEL} .events-title").inner_text() == "Event hub · open events"
    page.screenshot(path=str(ARTIFACTS / "wall-kiosk-events.png"))
    assert errors == []
    page.close()


def test_the_district_page_lists_its_open_events_read_only(browser: Browser, stack: Stack) -> None:
    event = _filed(stack.redis, time.time() - 3600)  # late: its response ran out half an hour ago
    page, errors = open_page(browser, stack.url + "/district/420606", 1366, 768)
    row = page.locator(f'.district-events .event-row.late[title="{event.id}"]')
    row.wait_for(timeout=20_000)
    assert "待签收" in row.inner_text() and "超时" in row.inner_text()
    assert page.locator(".district-events button").count() == 0  # nothing to act on here
    page.goto(stack.url + "/district/420626")  # 保康县 has none
    page.wait_for_selector(".district-events .empty-events", timeout=20_000)
    assert errors == []
    page.close()
