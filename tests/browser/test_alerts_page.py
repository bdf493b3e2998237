"""Duty officers in Debian's Chromium against the real system, as in production (sign-in required): feed worker,
roll-up, alert engine and gunicorn on the session's Redis and Mosquitto. A red reading published over MQTT is
acknowledged by an officer on the alerts page and the wall shows it acknowledged by them; a leader sees no
control and the server refuses their forced request. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize

from alerts.engine import ENGINE_PREFIX
from alerts.store import list_active, list_silences, silence
from auth.model import Role
from auth.store import create_wall_token, save_user
from config import Settings
from layouts import alerts as ids
from services.embedded import EmbeddedService, free_port
from services.web import gunicorn_command
from signs.keys import alert_engine_key
from tests.browser.live import ARTIFACTS, http_ok, publish_reading
from tests.processes import ChildProcess, FeedProcess, feed_env, wait_for, wait_worker_ready

pytestmark = [pytest.mark.browser, pytest.mark.integration]

LAPTOP: ViewportSize = {"width": 1366, "height": 768}
HOTLINE_ANSWER_RATE = "XY.P.M02.P06"  # 热线接通率, low is bad: red below 80 %
PASSWORD = "a long enough password"
NOTE = "已派人核查线路"


@dataclass
class Stack:
    url: str
    redis: redis.Redis
    mqtt_url: str
    wall_token: str


@pytest.fixture(scope="module")
def stack(redis_service: EmbeddedService, mqtt_service: EmbeddedService) -> Iterator[Stack]:
    client = redis.Redis.from_url(redis_service.url)
    client.flushall()
    save_user(client, "duty", Role.OFFICER, PASSWORD, display_name="值班员", by="test")
    # A leader of the whole city reads the city-wide alerts this test raises; a district's leader does not.
    save_user(client, "leader", Role.LEADER, PASSWORD, by="test")
    save_user(client, "nanzhang", Role.LEADER, PASSWORD, district="420624", by="test")
    wall_token = create_wall_token(client, "test-wall", by="test")
    port = free_port()
    env = feed_env(
        redis_service.url,
        mqtt_service.url,
        MQTT_CLIENT_PREFIX="t-officer",
        MQTT_SHARED_GROUP="",
        ENVIRONMENT="production",
        WEB_SECRET_KEY="browser-test-secret-" + "k" * 20,
    )
    processes = {
        "worker": FeedProcess(["worker", "--name", "1"], env, "officer-worker"),
        "rollup": FeedProcess(["rollup"], env, "officer-rollup"),
        "alerts": ChildProcess([sys.executable, "-m", "alerts", "run", "--name", "1"], env, "officer-alerts"),
        "web": ChildProcess(gunicorn_command(Settings(web_workers=2), port=port), env, "officer-web"),
    }
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_ok(url + "/login"), 60, "gunicorn serving the sign-in page")
        wait_worker_ready(client, mqtt_service.url, "t-officer-1")
        wait_for(lambda: client.get(alert_engine_key(f"{ENGINE_PREFIX}-1")), 20, "the alert engine")
        yield Stack(url, client, mqtt_service.url, wall_token)
    finally:
        for process in processes.values():
            process.stop()
        client.close()


def _sign_in(browser: Browser, stack: Stack, username: str) -> tuple[BrowserContext, Page, list[str]]:
    """A fresh browser session signed in through the /login form; the page lands where the role lands."""
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(stack.url + "/alerts")
    assert "/login" in page.url  # production: no session, no page
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/alerts**")
    return context, page, errors


def test_an_officer_acknowledges_with_a_note_and_the_wall_shows_it(browser: Browser, stack: Stack) -> None:
    publish_reading(stack.mqtt_url, HOTLINE_ANSWER_RATE, 12.3, time.time())
    alert = wait_for(
        lambda: next((a for a in list_active(stack.redis) if a.sign_id == HOTLINE_ANSWER_RATE), None), 10, "the alert"
    )

    context, page, errors = _sign_in(browser, stack, "duty")
    row = page.locator(f'.officer-alert[data-alert-id="{alert.id}"]')
    row.wait_for(timeout=10_000)
    assert "未确认" in row.inner_text()
    assert page.locator(".officer-alert .countdown").first.inner_text().startswith("响应时限")
    row.locator(".alert-link").click()
    page.wait_for_selector(f"#{ids.ACK_BUTTON}:not([disabled])", timeout=10_000)
    page.fill(f"#{ids.ACK_NOTE}", NOTE)
    page.click(f"#{ids.ACK_BUTTON}")
    page.wait_for_selector(f"#{ids.ACTION_RESULT} .ok", timeout=10_000)
    page.wait_for_selector(f'.officer-alert[data-alert-id="{alert.id}"] .status-badge.acknowledged', timeout=10_000)
    history = page.locator(".history-table").inner_text()
    assert "确认" in history and "duty" in history and NOTE in history
    page.screenshot(path=str(ARTIFACTS / "alerts-page-acknowledged.png"))

    wall = browser.new_page(viewport={"width": 1920, "height": 1080})
    wall.goto(f"{stack.url}/?token={stack.wall_token}")
    card = wall.locator(f'.alert-card.acknowledged[data-incident-id="{alert.incident}"]')
    card.wait_for(timeout=10_000)
    assert "duty" in card.inner_text()
    wall.screenshot(path=str(ARTIFACTS / "wall-acknowledged-by-officer.png"))
    wall.close()

    page.goto(stack.url + "/duty-log")
    page.wait_for_selector(".duty-story", timeout=10_000)
    story = page.locator(".duty-story").inner_text()
    assert NOTE in story and "duty" in story
    assert "值班员 (duty)" in page.locator(".duty-people").inner_text()
    page.screenshot(path=str(ARTIFACTS / "duty-log.png"))
    assert errors == []
    context.close()


def test_a_leader_sees_no_controls_and_a_forced_request_is_refused(browser: Browser, stack: Stack) -> None:
    publish_reading(stack.mqtt_url, HOTLINE_ANSWER_RATE, 5.0, time.time())
    alert = wait_for(lambda: next(iter(list_active(stack.redis)), None), 10, "an open alert")
    context, page, errors = _sign_in(browser, stack, "leader")
    page.goto(f"{stack.url}/alerts?alert={alert.id}")
    page.wait_for_selector(".alert-detail .history-table", timeout=10_000)
    assert page.locator(f"#{ids.ACK_BUTTON}").count() == 0
    assert page.locator(".read-only").is_visible()
    forced = page.request.post(
        f"{stack.url}/api/v1/alerts/{alert.id}/acknowledge",
        data={"note": "forced"},
        headers={"Origin": stack.url},
    )
    assert forced.status == 403 and "not allowed" in forced.json()["error"]
    page.screenshot(path=str(ARTIFACTS / "alerts-page-leader.png"))
    assert errors == []
    context.close()

    # 南漳县's leader: the city-wide alert is not theirs, and the page says so (auth.scope).
    context, page, errors = _sign_in(browser, stack, "nanzhang")
    page.goto(f"{stack.url}/alerts?alert={alert.id}")
    page.wait_for_selector(".alert-detail .out-of-scope", timeout=10_000)
    assert "南漳县" in page.locator(".scope-note").inner_text()
    assert page.locator(f'[data-alert-id="{alert.id}"]').count() == 0
    assert errors == []
    context.close()


POWER_NANZHANG = {"XY.T.M05.T18.dist:420624": 60_000.0, "XY.T.M05.T19.dist:420624": 80.0}  # one incident


def test_an_incident_is_assigned_and_acknowledged_at_once_and_the_strip_shows_its_count_and_assignee(
    browser: Browser, stack: Stack
) -> None:
    for sign_id, value in POWER_NANZHANG.items():
        publish_reading(stack.mqtt_url, sign_id, value, time.time())

    def grouped() -> str | None:
        incidents = {a.incident for a in list_active(stack.redis) if a.sign_id in POWER_NANZHANG}
        members = [a for a in list_active(stack.redis) if a.sign_id in POWER_NANZHANG]
        return incidents.pop() if len(members) == 2 and len(incidents) == 1 else None

    incident_id = wait_for(grouped, 15, "two alerts of 南漳's power grid in one incident")

    context, page, errors = _sign_in(browser, stack, "duty")
    page.locator(f'.officer-incident[data-incident-id="{incident_id}"] .incident-link').click()
    page.wait_for_selector(f"#{ids.INCIDENT_ACK_BUTTON}", timeout=10_000)
    assert "南漳县 · 供电 · 2 条告警" in page.locator(".incident-title").inner_text()
    page.click(f"#{ids.INCIDENT_ASSIGN_BUTTON}")  # nobody named: the officer takes it
    page.wait_for_selector(f"#{ids.ACTION_RESULT} .ok", timeout=10_000)
    page.fill(f"#{ids.INCIDENT_NOTE}", NOTE)
    page.click(f"#{ids.INCIDENT_ACK_BUTTON}")
    page.locator(f"#{ids.ACTION_RESULT} .ok", has_text="2").wait_for(timeout=10_000)  # "2 alerts acknowledged"
    page.wait_for_selector(".incident-timeline .timeline-row.acknowledged", timeout=10_000)
    assert NOTE in page.locator(".incident-timeline").inner_text()
    page.screenshot(path=str(ARTIFACTS / "alerts-page-incident.png"))

    # A silence in force (of another district) is counted on the wall.
    silence(stack.redis, "district", "420683", time.time() + 600, "水泵检修", "duty")
    wall = browser.new_page(viewport={"width": 1920, "height": 1080})
    wall_errors: list[str] = []
    wall.on("pageerror", lambda error: wall_errors.append(str(error)))
    wall.goto(f"{stack.url}/?token={stack.wall_token}")
    card = wall.locator(f'.alert-card.incident-card.acknowledged[data-incident-id="{incident_id}"]')
    card.wait_for(timeout=10_000)
    text = card.inner_text()
    assert "南漳县 · 供电 · 2 条告警" in text and "负责·duty" in text and "已确认·duty" in text
    assert card.get_attribute("data-count") == "2"
    in_force = len(list_silences(stack.redis))
    silences = wall.locator(".alert-strip .count.silences .n", has_text=re.compile(f"^{in_force}$"))
    silences.wait_for(timeout=10_000)
    wall.screenshot(path=str(ARTIFACTS / "wall-incident-assigned.png"))
    wall.close()
    assert errors == [] and wall_errors == []
    context.close()
