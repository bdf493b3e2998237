"""A department handler and a duty officer in Debian's Chromium against gunicorn, in production (sign-in required):
the housing bureau's handler, on a 360 px wide page, signs for a fallen branch, uploads a photo and finishes it; the
officer verifies and closes it on /events. Screenshots go to test-artifacts/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize

from auth.model import Role
from auth.store import save_user
from config import Settings
from dispatch.hub import auto_dispatch, file_report
from dispatch.library import library
from dispatch.model import Event, Location, Report, Source, Status
from dispatch.simulate import sample_photo
from dispatch.store import get_event
from layouts import events as ids
from services.embedded import EmbeddedService, free_port
from services.web import gunicorn_command
from tests.browser.live import ARTIFACTS, http_ok
from tests.processes import ChildProcess, feed_env, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PHONE: ViewportSize = {"width": 360, "height": 740}
LAPTOP: ViewportSize = {"width": 1366, "height": 768}
PASSWORD = "a long enough password"
BRANCH = "0500101"  # 树木倒伏/断枝, the housing bureau's, a photo required
NOTE = "树枝已修剪清运，通道恢复"




@dataclass
class Stack:
    url: str
    redis: redis.Redis


@pytest.fixture(scope="module")
def stack(redis_service: EmbeddedService, mqtt_service: EmbeddedService) -> Iterator[Stack]:
    client = redis.Redis.from_url(redis_service.url)
    client.flushall()
    save_user(client, "duty", Role.OFFICER, PASSWORD, display_name="值班员", by="test")
    save_user(client, "zhujian", Role.HANDLER, PASSWORD, display_name="住建处置员", department="D02", by="test")
    port = free_port()
    env = feed_env(
        redis_service.url, mqtt_service.url, ENVIRONMENT="production", WEB_SECRET_KEY="browser-test-secret-" + "k" * 20
    )
    web = ChildProcess(gunicorn_command(Settings(web_workers=2), port=port), env, "inbox-web")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_ok(url + "/login"), 60, "gunicorn serving the sign-in page")
        yield Stack(url, client)
    finally:
        web.stop()
        client.close()


def _sign_in(
    browser: Browser, stack: Stack, username: str, viewport: ViewportSize, path: str
) -> tuple[BrowserContext, Page, list[str]]:
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(stack.url + path)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path}**")
    return context, page, errors


def _dispatched_branch(client: redis.Redis) -> Event:
    lib, now = library(), time.time()
    report = Report(
        BRANCH, Location(32.04, 112.14, "檀溪路小区北门"), "小区门口树枝横出，影响通行", Source.GRID, "grid-07"
    )
    event = file_report(client, report, lib, "420606", now - 60)
    return auto_dispatch(client, event.id, lib, now - 50)


def _status(stack: Stack, event_id: str) -> Status | None:
    event = get_event(stack.redis, event_id)
    return event.status if event else None


def test_a_handler_finishes_on_a_phone_and_the_officer_closes(browser: Browser, stack: Stack) -> None:
    event = _dispatched_branch(stack.redis)
    context, page, errors = _sign_in(browser, stack, "zhujian", PHONE, "/inbox")
    card = page.locator(f'.event-card[data-event-id="{event.id}"]')
    card.wait_for(timeout=15_000)
    assert "待签收" in card.inner_text() and "响应 剩余" in card.inner_text()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the inbox is {width} px wide on a {PHONE['width']} px screen"
    card.locator(".event-card-link").click()
    page.wait_for_selector(f"#{ids.SIGN_FOR_BUTTON}:not([disabled])", timeout=10_000)
    page.click(f"#{ids.SIGN_FOR_BUTTON}")
    wait_for(lambda: _status(stack, event.id) is Status.SIGNED_FOR, 10, "the event signed for")
    page.wait_for_selector(f"#{ids.HANDLE_BUTTON}:not([disabled])", timeout=10_000)
    page.locator(f"#{ids.PHOTO_UPLOAD} input[type=file]").set_input_files(
        {"name": "branch.png", "mimeType": "image/png", "buffer": sample_photo(1)}
    )
    page.wait_for_selector(".event-detail .evidence-thumb", timeout=10_000)
    page.fill(f"#{ids.NOTE}", NOTE)
    page.click(f"#{ids.HANDLE_BUTTON}")
    wait_for(lambda: _status(stack, event.id) is Status.HANDLED, 10, "the event handled")
    page.wait_for_selector(f"#{ids.ACTION_RESULT} .ok", timeout=10_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(ARTIFACTS / "inbox-phone-handled.png"), full_page=True)
    assert errors == []
    context.close()

    context, page, errors = _sign_in(browser, stack, "duty", LAPTOP, "/events")
    page.goto(f"{stack.url}/events?status=handled&event={event.id}")
    page.wait_for_selector(f"#{ids.CLOSE_BUTTON}:not([disabled])", timeout=10_000)
    detail = page.locator(f"#{ids.DETAIL}").inner_text()
    assert NOTE in detail and "zhujian" in detail
    assert page.locator(f"#{ids.DETAIL} .evidence-thumb").count() == 1
    page.click(f"#{ids.CLOSE_BUTTON}")
    wait_for(lambda: _status(stack, event.id) is Status.CLOSED, 10, "the event closed")
    page.wait_for_selector(f"#{ids.RATE_BUTTON}:not([disabled])", timeout=10_000)
    page.screenshot(path=str(ARTIFACTS / "events-closed.png"))
    assert errors == []
    context.close()
