"""The wall in Debian's Chromium, against the real system: feed worker, roll-up, simulator and gunicorn,
on the Redis and Mosquitto the test session started. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
from playwright.sync_api import Browser, Page

from config import Settings
from services.embedded import EmbeddedService, free_port
from services.web import gunicorn_command
from signs.catalogue import catalogue
from signs.model import MqttSource
from tests.browser.live import ARTIFACTS, http_ok, open_page, publish_reading
from tests.processes import ChildProcess, FeedProcess, feed_env, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOTLINE_ANSWER_RATE = "XY.P.M02.P06"  # core sign read straight from the hotline feed; red below 70 %
XIANGCHENG_POPULATION = "XY.P.M01.P01.dist:420602"  # red at 70.1 万人
DWELL_S = 3


@dataclass
class Stack:
    url: str
    redis: redis.Redis
    mqtt_url: str
    processes: dict[str, ChildProcess]


def _start_stack(
    redis_service: EmbeddedService, mqtt_service: EmbeddedService, name: str, simulate: bool
) -> Iterator[Stack]:
    client = redis.Redis.from_url(redis_service.url)
    client.flushall()
    port = free_port()
    env = feed_env(
        redis_service.url,
        mqtt_service.url,
        MQTT_CLIENT_PREFIX=f"t-{name}",
        MQTT_SHARED_GROUP="",
        WALL_DWELL_OVERVIEW_S=str(DWELL_S),
        WALL_DWELL_CATEGORY_S=str(DWELL_S),
        WALL_DWELL_DISTRICT_S=str(DWELL_S),
        WALL_DWELL_CAMERAS_S=str(DWELL_S),
        WALL_DWELL_ALERT_S="30",
    )
    processes = {
        "worker": FeedProcess(["worker", "--name", "1"], env, f"{name}-worker"),
        "rollup": FeedProcess(["rollup"], env, f"{name}-rollup"),
        "web": ChildProcess(gunicorn_command(Settings(web_workers=2), port=port), env, f"{name}-web"),
        # The kiosk jumps to new red incidents, which the alert engine groups.
        "alerts": ChildProcess([sys.executable, "-m", "alerts", "run", "--name", "1"], env, f"{name}-alerts"),
    }
    if simulate:
        processes["simulator"] = FeedProcess(["simulate", "--camera-heartbeat", "120"], env, f"{name}-simulator")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_ok(url + "/api/v1/snapshot?district=420600"), 60, "gunicorn serving the app")
        yield Stack(url, client, mqtt_service.url, processes)
    finally:
        for process in processes.values():
            process.stop()
        client.close()


def _health(url: str) -> dict[str, object]:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=3) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read())


@pytest.fixture(scope="module")
def live(redis_service: EmbeddedService, mqtt_service: EmbeddedService) -> Iterator[Stack]:
    """The whole system with simulated city data, healthy before any test starts."""
    for stack in _start_stack(redis_service, mqtt_service, "wall-live", simulate=True):
        _wait_healthy(stack.url)
        yield stack


def _wait_healthy(url: str) -> None:
    wait_for(lambda: _health(url)["ok"], 60, "a healthy system (/healthz)")


def _tile_text(page: Page, sign_id: str) -> str:
    return page.locator(f'.tile[data-sign="{sign_id}"] .v').inner_text()


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (3840, 2160)])
def test_the_wall_renders_live_at_wall_resolutions(browser: Browser, live: Stack, width: int, height: int) -> None:
    page, errors = open_page(browser, live.url + "/", width, height)
    page.wait_for_function("() => document.querySelectorAll('.tile:not(.stale)').length >= 45", timeout=20_000)
    page.wait_for_selector(".wall-header .live:not(.down)", timeout=10_000)
    # A healthy wall of simulated data says so, as a notice, and reports no outage.
    banner = page.locator("#wall-banner")
    banner.wait_for(state="visible", timeout=10_000)
    assert page.locator("#wall-banner.notice").count() == 1
    assert banner.inner_text().strip() == "模拟数据"
    canvas = page.locator("#wall-canvas").bounding_box()
    assert canvas is not None
    # Scaled to the screen, never overflowing it.
    assert canvas["width"] <= width + 1 and canvas["height"] <= height + 1
    assert max(canvas["width"] / width, canvas["height"] / height) > 0.99
    assert page.locator("path.leaflet-interactive").count() >= 9  # the nine districts
    page.screenshot(path=str(ARTIFACTS / f"wall-{width}x{height}.png"))
    assert errors == []
    page.close()


def test_a_reading_published_over_mqtt_appears_on_the_wall(browser: Browser, live: Stack) -> None:
    page, errors = open_page(browser, live.url + "/", 1920, 1080)
    page.wait_for_function("() => document.querySelectorAll('.tile:not(.stale)').length >= 45", timeout=20_000)
    published = time.time()
    publish_reading(live.mqtt_url, HOTLINE_ANSWER_RATE, 12.3, published)
    tile = page.locator(f'.tile[data-sign="{HOTLINE_ANSWER_RATE}"]')
    page.wait_for_function(
        f"() => document.querySelector('.tile[data-sign=\"{HOTLINE_ANSWER_RATE}\"] .v')?.textContent === '12.3'",
        timeout=5_000,
    )
    assert time.time() - published < 4  # within 2 s of landing in Redis, plus MQTT and the browser's poll
    assert "lvl-4" in (tile.get_attribute("class") or "")
    page.wait_for_selector(f'.alert-card[data-alert-sign="{HOTLINE_ANSWER_RATE}"]', timeout=5_000)
    page.screenshot(path=str(ARTIFACTS / "wall-published-reading.png"))
    assert errors == []
    page.close()


def test_kiosk_mode_hides_controls_and_rotates_views(browser: Browser, live: Stack) -> None:
    page, errors = open_page(browser, live.url + "/?kiosk=1", 1920, 1080)
    # The kiosk starts on the overview: watch the titles from the first paint, while the tiles fill, so that a slow
    # start does not rotate past the overview unseen.
    titles: set[str] = set()
    give_up = time.time() + 40
    first_title_at: float | None = None
    filled = False
    while first_title_at is None or time.time() < first_title_at + 4 * DWELL_S + 2 or not filled:
        title = page.evaluate("() => document.getElementById('wall-view-title')?.textContent || ''")
        if title:
            titles.add(title)
            first_title_at = first_title_at or time.time()
        filled = filled or page.evaluate("() => document.querySelectorAll('.tile:not(.stale)').length >= 45")
        assert time.time() < give_up, f"the wall never filled its tiles (views seen: {titles})"
        time.sleep(0.5)
    assert page.locator(".leaflet-control-zoom").count() == 0
    assert not page.locator(".map-sign").is_visible()
    assert {"城市总览", "人"} <= titles and len(titles) >= 4

    publish_reading(live.mqtt_url, XIANGCHENG_POPULATION, 80.0, time.time())
    page.wait_for_function(
        "() => ['襄城区', '告警'].every("
        "(word) => document.getElementById('wall-view-title')?.textContent.includes(word))",
        timeout=6_000,
    )
    page.screenshot(path=str(ARTIFACTS / "wall-kiosk-red-jump.png"))
    assert errors == []
    page.close()


@pytest.fixture(scope="module")
def quiet(redis_service: EmbeddedService, mqtt_service: EmbeddedService, live: Stack) -> Iterator[Stack]:
    """The system with no simulator: only what a test publishes arrives. Runs after the live stack stopped."""
    for process in live.processes.values():
        process.stop()
    yield from _start_stack(redis_service, mqtt_service, "wall-quiet", simulate=False)


def test_stale_values_and_silent_feeds_are_impossible_to_miss(browser: Browser, quiet: Stack) -> None:
    temperature_station = next(
        s
        for s in catalogue().signs.values()
        if isinstance(s.source, MqttSource) and s.core == "S44" and s.cadence_s == 60
    )
    publish_reading(quiet.mqtt_url, HOTLINE_ANSWER_RATE, 95.0, time.time())
    publish_reading(quiet.mqtt_url, temperature_station.id, 21.0, time.time() - 3 * 60)  # three cadences old
    page, errors = open_page(browser, quiet.url + "/", 1920, 1080)
    page.wait_for_function(
        f"() => document.querySelector('.tile[data-sign=\"{HOTLINE_ANSWER_RATE}\"] .v')?.textContent === '95'",
        timeout=10_000,
    )
    hotline = page.locator(f'.tile[data-sign="{HOTLINE_ANSWER_RATE}"]')
    assert "stale" not in (hotline.get_attribute("class") or "")
    # The city temperature is derived from the stale station alone: it is marked stale with its age.
    temperature = page.locator('.tile[data-sign="XY.S.M13.S44"]')
    page.wait_for_function(
        "() => document.querySelector('.tile[data-sign=\"XY.S.M13.S44\"]')?.classList.contains('stale')"
    )
    assert "陈旧" in temperature.locator(".age").inner_text()
    # Feeds that never reported raise the banner and the wall says it is not live.
    banner = page.locator("#wall-banner")
    banner.wait_for(state="visible", timeout=10_000)
    assert "数据源中断" in banner.inner_text() and "交通" in banner.inner_text()
    assert page.locator(".live.down").count() == 1
    page.screenshot(path=str(ARTIFACTS / "wall-stale.png"))

    quiet.processes["rollup"].signal(19)  # SIGSTOP: the board stops advancing
    try:
        page.wait_for_function(
            "() => document.getElementById('wall-banner')?.textContent.includes('数据汇聚已停止')", timeout=12_000
        )
    finally:
        quiet.processes["rollup"].signal(18)  # SIGCONT
    assert errors == []
    page.close()
