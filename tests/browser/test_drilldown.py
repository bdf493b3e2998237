"""The drill-down pages in Debian's Chromium at laptop size, against the real system: feed worker, roll-up and
gunicorn on the session's Redis and Mosquitto, with readings published over MQTT (no simulator, so every value
on screen is one the test sent). Screenshots go to test-artifacts/."""

from __future__ import annotations

import csv
import io
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
import redis
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, ViewportSize

from config import PROJECT_ROOT, Settings
from feeds.contract import encode_readings, topic
from services.embedded import EmbeddedService, free_port
from services.web import gunicorn_command
from signs.catalogue import catalogue
from signs.export import beijing_text
from signs.model import MqttSource
from signs.store import read_history
from tests.processes import ChildProcess, FeedProcess, Publisher, feed_env, wait_for, wait_worker_ready

pytestmark = [pytest.mark.browser, pytest.mark.integration]

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
LAPTOP: ViewportSize = {"width": 1366, "height": 768}
# dcc.Graph's plot element (it carries the id itself, or holds the plot inside).
PLOT = "(document.querySelector('#sign-graph.js-plotly-plot') || document.querySelector('#sign-graph .js-plotly-plot'))"
ANSWER_RATE = "XY.P.M02.P06"  # 热线接通率, city-wide, low is bad: blue < 95 ... red < 80
XIANGCHENG_POPULATION = "XY.P.M01.P01.dist:420602"  # red at 70.1 万人
FANCHENG_POPULATION = "XY.P.M01.P01.dist:420606"
READINGS = 24  # one every 125 s over the last 50 minutes: all inside a 1-hour view for ten minutes


@dataclass
class Stack:
    url: str
    redis: redis.Redis
    published: dict[str, list[tuple[float, float]]]


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _publish(mqtt_url: str, readings: dict[str, list[tuple[float, float]]]) -> None:
    publisher = Publisher(mqtt_url)
    try:
        messages = []
        for sign_id, points in readings.items():
            source = catalogue().signs[sign_id].source
            assert isinstance(source, MqttSource)
            for ts, value in points:
                messages.append(
                    (topic(source.feed, source.adcode, source.source_id), encode_readings(ts, {source.field: value}))
                )
        publisher.publish_all(messages)
    finally:
        publisher.close()


@pytest.fixture(scope="module")
def stack(redis_service: EmbeddedService, mqtt_service: EmbeddedService) -> Iterator[Stack]:
    client = redis.Redis.from_url(redis_service.url)
    client.flushall()
    port = free_port()
    env = feed_env(redis_service.url, mqtt_service.url, MQTT_CLIENT_PREFIX="t-drill", MQTT_SHARED_GROUP="")
    processes = {
        "worker": FeedProcess(["worker", "--name", "1"], env, "drill-worker"),
        "rollup": FeedProcess(["rollup"], env, "drill-rollup"),
        "alerts": ChildProcess([sys.executable, "-m", "alerts", "run", "--name", "1"], env, "drill-alerts"),
        "web": ChildProcess(gunicorn_command(Settings(web_workers=2), port=port), env, "drill-web"),
    }
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _http_ok(url + "/api/v1/snapshot?district=420600"), 60, "gunicorn serving the app")
        wait_worker_ready(client, mqtt_service.url, "t-drill-1")
        now = time.time()
        stamps = [now - 3000 + i * 125 for i in range(READINGS)]
        # The answer rate falls from normal through every level to red and stays there for the last readings.
        rates = np.interp(range(READINGS), [0, 10, 18, READINGS - 1], [97.0, 96.0, 78.0, 75.5]).round(2).tolist()
        published = {
            ANSWER_RATE: list(zip(stamps, rates, strict=True)),
            XIANGCHENG_POPULATION: [(t, 48.0 + i) for i, t in enumerate(stamps)],  # red from 70.1: the last readings
            FANCHENG_POPULATION: [(t, 80.0 + i / 10) for i, t in enumerate(stamps)],
        }
        _publish(mqtt_service.url, published)
        wait_for(
            lambda: all(len(read_history(client, s, now - 7200, now + 60)) == READINGS for s in published),
            30,
            "every published reading in Redis",
        )
        yield Stack(url, client, published)
    finally:
        for process in processes.values():
            process.stop()
        client.close()


def _open(browser: Browser, url: str) -> tuple[Page, list[str]]:
    page = browser.new_page(viewport=LAPTOP, accept_downloads=True)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    return page, errors


def _grid_ready(page: Page, grid_id: str) -> None:
    page.wait_for_selector(f"#{grid_id} .ag-row .grid-link", timeout=20_000)


def test_category_to_module_to_sign_to_history_and_back(browser: Browser, stack: Stack) -> None:
    page, errors = _open(browser, stack.url + "/category/P")
    _grid_ready(page, "list-grid")
    page.locator(".module-links a", has_text="民生诉求").click()
    page.wait_for_url("**/module/M02")
    _grid_ready(page, "list-grid")
    row = page.locator(f'#list-grid .ag-row[row-id="{ANSWER_RATE}"]')
    assert "lvl-4" in (row.locator(".lvl-chip").first.get_attribute("class") or "")  # red on the list already
    row.locator(".grid-link").click()
    page.wait_for_url(f"**/sign/{ANSWER_RATE}")
    page.wait_for_selector(".headline .big-value", timeout=30_000)
    assert page.locator("h1.page-title").inner_text() == "热线接通率"
    assert page.locator(".headline .big-value").inner_text() == "75.5"
    # "Why red, since when": the level and the time it was reached are spelled out.
    page.wait_for_selector(".since-text", timeout=30_000)
    assert "红色" in page.locator(".since-text").inner_text()

    page.locator(".ranges a", has_text="1小时").click()
    page.wait_for_url(f"**/sign/{ANSWER_RATE}?range=1h")
    page.wait_for_function(
        "() => document.querySelector('.stats') && document.querySelector('.stats').textContent.includes('24 个读数')",
        timeout=30_000,
    )
    # Downsampled on the server: one trace point per bucket, never more than a few hundred.
    # Read in the same evaluation that finds the trace: the figure may be redrawn between two evaluations.
    points = page.wait_for_function(
        f"() => {{ const d = {PLOT} && {PLOT}.data; return d && d.length >= 3 && d[2].y && d[2].y.length; }}",
        timeout=30_000,
    ).json_value()
    assert 0 < points <= 402
    shaded = page.evaluate(f"{PLOT}.layout.shapes.filter(s => s.yref === 'paper').length")
    assert shaded >= 1  # the period in alert
    page.screenshot(path=str(ARTIFACTS / "drill-sign-1h.png"))

    page.go_back()
    page.wait_for_function(
        "() => (document.querySelector('.ranges .seg.active') || {}).textContent === '24小时'", timeout=20_000
    )
    page.go_back()
    page.wait_for_url("**/module/M02")
    _grid_ready(page, "list-grid")
    page.go_forward()
    page.go_forward()
    page.wait_for_url("**range=1h")
    page.wait_for_function(
        "() => (document.querySelector('.ranges .seg.active') || {}).textContent === '1小时'", timeout=20_000
    )
    assert errors == []
    page.close()


def test_a_copied_link_reopens_the_same_view(browser: Browser, stack: Stack) -> None:
    page, errors = _open(browser, stack.url + f"/sign/{XIANGCHENG_POPULATION}")
    page.wait_for_selector(".sibling .compare-toggle", timeout=30_000)
    page.locator(".sibling", has_text="樊城区").locator(".compare-toggle").click()
    page.wait_for_url("**vs=**")
    page.locator(".ranges a", has_text="1小时").click()
    page.wait_for_url("**range=1h**")
    page.wait_for_selector(".sibling.compared", timeout=20_000)
    copied = page.url
    assert "vs=XY.P.M01.P01.dist:420606" in copied and "range=1h" in copied

    fresh = browser.new_context(viewport=LAPTOP)  # no history, no cookies: a colleague's browser
    other = fresh.new_page()
    other_errors: list[str] = []
    other.on("console", lambda m: other_errors.append(m.text) if m.type == "error" else None)
    other.goto(copied)
    other.wait_for_selector(".sibling.compared", timeout=30_000)
    assert other.locator(".ranges .seg.active").inner_text() == "1小时"
    assert other.locator(".sibling.compared .sibling-name").inner_text() == "樊城区"
    other.wait_for_function(f"() => {PLOT} && {PLOT}.data && {PLOT}.data.length === 4", timeout=30_000)
    legend = other.evaluate(f"{PLOT}.data.map(t => t.name)")
    assert "樊城区" in legend

    # The district table's sort is part of the view too.
    page.goto(stack.url + "/district/420602")
    _grid_ready(page, "district-grid")
    page.locator(".ag-header-cell[col-id='city'] .ag-header-cell-label").click()
    page.wait_for_url("**sort=city:asc", timeout=20_000)
    other.goto(page.url)
    _grid_ready(other, "district-grid")
    assert other.locator(".ag-header-cell[col-id='city']").get_attribute("aria-sort") == "ascending"
    # Its alerts, from the alert engine: Xiangcheng's population is red and nobody has acknowledged it.
    other.locator(".alert-row.raised", has_text="襄城区 实时人口").wait_for(timeout=15_000)
    other.screenshot(path=str(ARTIFACTS / "drill-district-1366x768.png"))
    assert errors == [] and other_errors == []
    fresh.close()
    page.close()


def test_exports_hold_what_redis_holds(browser: Browser, stack: Stack) -> None:
    page, errors = _open(browser, stack.url + f"/sign/{ANSWER_RATE}?range=1h")
    page.wait_for_selector(".stats", timeout=30_000)
    in_redis = read_history(stack.redis, ANSWER_RATE, 0, time.time() + 60)
    expected = [
        [beijing_text(ts), repr(value)]
        for ts, value in zip(in_redis["ts"].tolist(), in_redis["value"].tolist(), strict=True)
    ]
    assert len(expected) == READINGS

    with page.expect_download() as download:
        page.locator("#sign-export-csv").click()
    data = download.value.path().read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # Excel reads the Chinese correctly
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["指标编号", "指标名称", "时间(北京时间)", "数值", "单位", "级别"]
    assert [r[2:4] for r in rows[1:]] == expected
    assert {r[4] for r in rows[1:]} == {"%"} and rows[-1][5] == "红"

    with page.expect_download() as download:
        page.locator("#sign-export-xlsx").click()
    book = load_workbook(io.BytesIO(download.value.path().read_bytes()))  # the saved download has no .xlsx suffix
    values = [row[3] for row in list(book.worksheets[0].iter_rows(values_only=True))[1:]]
    assert values == in_redis["value"].tolist()
    assert download.value.suggested_filename.endswith(".xlsx")
    assert errors == []
    page.close()


def test_search_answers_as_you_type(browser: Browser, stack: Stack) -> None:
    page, errors = _open(browser, stack.url + "/module/M13")
    page.locator("#drill-search-input").click()
    page.keyboard.type("接通率", delay=40)
    page.wait_for_selector(".search-hit", timeout=20_000)
    assert "热线接通率" in page.locator(".search-hit").first.inner_text()
    page.locator(".search-hit").first.click()
    page.wait_for_url(f"**/sign/{ANSWER_RATE}")
    page.locator("#drill-search-input").fill("万人")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search?q=**")
    _grid_ready(page, "search-grid")
    assert page.locator("#search-grid .ag-row").count() >= 10
    assert errors == []
    page.close()


def test_wall_tiles_and_alert_cards_open_the_sign_page_except_in_kiosk_mode(browser: Browser, stack: Stack) -> None:
    page, errors = _open(browser, stack.url + "/?lang=en")
    tile = page.locator(f'.tile[data-sign="{ANSWER_RATE}"]')
    tile.wait_for(timeout=20_000)
    page.wait_for_selector(f'.alert-card[data-alert-sign="{ANSWER_RATE}"]', timeout=30_000)
    page.locator(f'.alert-card[data-alert-sign="{ANSWER_RATE}"]').click()
    page.wait_for_url(f"**/sign/{ANSWER_RATE}?lang=en", timeout=20_000)
    page.wait_for_selector(".headline .big-value", timeout=30_000)
    assert page.locator("h1.page-title").inner_text() == catalogue().signs[ANSWER_RATE].name_en
    page.go_back()
    page.locator(f'.tile[data-sign="{ANSWER_RATE}"]').click()
    page.wait_for_url(f"**/sign/{ANSWER_RATE}?lang=en", timeout=20_000)

    kiosk, kiosk_errors = _open(browser, stack.url + "/?kiosk=1")
    kiosk.locator(f'.tile[data-sign="{ANSWER_RATE}"]').click(timeout=20_000)
    time.sleep(1.0)
    assert kiosk.url.endswith("/?kiosk=1")
    assert errors == [] and kiosk_errors == []
    kiosk.close()
    page.close()
