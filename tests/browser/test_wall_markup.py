"""Markup in alert data shows as text and never runs, on the wall and the officers' pages, in Debian's Chromium
against the real web tier (gunicorn on the session's Redis). The alerts are written straight into Redis with the
store's own writes, bypassing the name rule every caller now keeps to (auth/names.py), as records from before it,
or forged ones, would be: the acknowledger's name, the sign's name, unit and id, the alert's id all carry markup."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest
import redis
from playwright.sync_api import Browser, Dialog, Page

from alerts.model import Action, Alert, AlertStatus, Deadlines, Event, RuleKind, Silence, SilenceScope, Transition
from alerts.store import Writes
from config import Settings
from services.embedded import EmbeddedService, free_port
from services.web import gunicorn_command
from signs.keys import KEY_ALERT_SILENCES
from signs.model import Level
from tests.browser.live import ARTIFACTS, http_ok, open_page
from tests.processes import ChildProcess, feed_env, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

# Each would fetch /x, fail and call alert() (a dialog) if it ever became an element.
ACKNOWLEDGER = "<img src=x onerror=alert(3)>"
SIGN_NAME = "<img src=x onerror=alert(1)>积水深度"
UNIT = "<svg onload=alert(2)>cm"
SIGN_ID = 'XY.S.M13.S99"><img src=x onerror=alert(4)>'
ALERT_ID = "threshold-1-\"'><img src=x onerror=alert(5)>"
RAISED_ID = "threshold-2-<script>alert(6)</script>"
SILENCER = "<b onmouseover=alert(7)>li</b>"


@dataclass
class Wall:
    url: str
    redis: redis.Redis


def _seed(client: redis.Redis, now: float) -> None:
    due = Deadlines(now + 1800, now + 7200, now + 86400)
    hush = Silence("silence-1", SilenceScope.DISTRICT, "420602", now + 3600, "<i>maintenance</i>", SILENCER, now)
    acknowledged = Alert(
        id=ALERT_ID, rule=RuleKind.THRESHOLD, sign_id=SIGN_ID, name=SIGN_NAME, unit=UNIT, district="420602",
        level=Level.RED, peak_level=Level.RED, value=84.4, threshold=50.0, since=now - 120, raised_at=now - 120,
        updated_at=now - 60, status=AlertStatus.ACKNOWLEDGED, due=due, escalation=1,
        acknowledged=Action(ACKNOWLEDGER, now - 60, "<script>alert(8)</script>"), version=2,
    )
    raised = Alert(
        id=RAISED_ID, rule=RuleKind.THRESHOLD, sign_id=SIGN_ID, name=SIGN_NAME, unit=UNIT, district="420602",
        level=Level.ORANGE, peak_level=Level.ORANGE, value=61.0, threshold=60.0, since=now - 30, raised_at=now - 30,
        updated_at=now - 30, status=AlertStatus.RAISED, due=due, silence=hush,
    )
    writes = Writes()
    for alert, event, by, note in ((acknowledged, Event.ACKNOWLEDGED, ACKNOWLEDGER, "<script>alert(8)</script>"),
                                   (raised, Event.RAISED, SILENCER, "")):
        # Built by hand: alerts.model.alert_transition would refuse these names.
        transition = Transition(
            event=event, at=alert.updated_at, by=by, note=note, alert_id=alert.id, sign_id=alert.sign_id,
            rule=alert.rule.value, district=alert.district, level=alert.level.en, status=alert.status.value,
        )
        writes.transition(alert, transition)
    with client.pipeline() as pipe:  # MULTI/EXEC, as the store's transactions queue them
        writes.queue(pipe)
        pipe.hset(KEY_ALERT_SILENCES, hush.id, json.dumps(hush.as_json(), ensure_ascii=False))
        pipe.execute()


@pytest.fixture(scope="module")
def wall(redis_service: EmbeddedService, mqtt_service: EmbeddedService) -> Iterator[Wall]:
    """The web tier alone: the strip shows the alerts in Redis whether or not an engine runs."""
    client = redis.Redis.from_url(redis_service.url)
    client.flushall()
    _seed(client, time.time())
    port = free_port()
    env = feed_env(redis_service.url, mqtt_service.url, MQTT_CLIENT_PREFIX="t-markup")
    web = ChildProcess(gunicorn_command(Settings(web_workers=1), port=port), env, "wall-markup-web")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_ok(url + "/"), 60, "gunicorn serving the wall")
        yield Wall(url, client)
    finally:
        web.stop()
        client.close()


def _watched_page(browser: Browser, width: int, height: int) -> tuple[Page, list[str], list[str], list[str]]:
    """A blank page recording console errors, dialogs (alert() called) and every URL it requests."""
    page, errors = open_page(browser, "about:blank", width, height)
    dialogs: list[str] = []
    requested: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("request", lambda request: requested.append(request.url))
    return page, errors, dialogs, requested


def _nothing_ran(page: Page, dialogs: list[str], requested: list[str]) -> None:
    page.wait_for_timeout(1_000)  # long enough for a stray <img src=x> to fail to load and fire its onerror
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert not [url for url in requested if url.rstrip("/").endswith("/x")]
    assert dialogs == []


def test_markup_in_alerts_shows_as_text_on_the_wall_and_never_runs(browser: Browser, wall: Wall) -> None:
    page, errors, dialogs, requested = _watched_page(browser, 1920, 1080)
    page.goto(wall.url + "/")
    page.wait_for_function("() => document.querySelectorAll('.alert-strip .alert-card').length === 2", timeout=20_000)
    _nothing_ran(page, dialogs, requested)

    strip = page.locator(".alert-strip .alerts")
    text = strip.evaluate("(node) => node.textContent")
    # Alerts stored before incidents existed show as incidents of one, named after their sign when it is unknown.
    assert ACKNOWLEDGER in text and SIGN_NAME in text and "<img" in text
    assert strip.locator("img, svg, script, b, i").count() == 0
    cards = strip.locator(".alert-card")
    # level, title, status, assignee, one badge (escalated; silenced) and the countdown: no element made of the data
    assert cards.evaluate_all("(cards) => cards.map((c) => c.children.length)") == [6, 6]
    ids = cards.evaluate_all("(cards) => cards.map((c) => [c.dataset.incidentId, c.dataset.alertSign])")
    # The pressing order: the unacknowledged one first, though its level is lower.
    assert ids == [[f"inc-{RAISED_ID}", SIGN_ID], [f"inc-{ALERT_ID}", SIGN_ID]]
    acknowledged = cards.nth(1)
    assert acknowledged.locator(".alert-status").text_content() == f"已确认·{ACKNOWLEDGER}"
    assert acknowledged.locator(".alert-name").text_content() == f"襄城区 · {SIGN_NAME} · 1 条告警"
    assert cards.nth(0).locator(".silenced").count() == 1
    page.screenshot(path=str(ARTIFACTS / "wall-markup-as-text.png"))
    assert errors == []
    page.close()


def test_markup_in_alerts_shows_as_text_on_the_officers_pages(browser: Browser, wall: Wall) -> None:
    page, errors, dialogs, requested = _watched_page(browser, 1366, 768)
    page.goto(f"{wall.url}/alerts?alert={quote(ALERT_ID, safe='')}")
    page.wait_for_selector(".alert-detail .history-table", timeout=20_000)
    page.wait_for_function(f"() => document.body.textContent.includes({json.dumps(SILENCER)})", timeout=10_000)
    detail = page.locator(".alert-detail").evaluate("(node) => node.textContent")
    assert ACKNOWLEDGER in detail and "<script>alert(8)</script>" in detail and SIGN_NAME in detail
    assert page.locator(".alert-detail img, .alert-detail svg, .alert-detail script").count() == 0
    _nothing_ran(page, dialogs, requested)

    page.goto(wall.url + "/duty-log")
    page.wait_for_selector(".duty-story", timeout=20_000)
    story = page.locator(".duty-story").evaluate("(node) => node.textContent")
    assert ACKNOWLEDGER in story
    assert page.locator(".duty-story img, .duty-story svg, .duty-story script").count() == 0
    _nothing_ran(page, dialogs, requested)
    assert errors == []
    page.close()
