"""What the browser tests share to drive the real system: whether the web tier answers, a page that records
console errors, and one reading published over MQTT as a sensor would."""

from __future__ import annotations

import urllib.request

from playwright.sync_api import Browser, Page

from config import PROJECT_ROOT
from feeds.contract import encode_readings, topic
from signs.catalogue import catalogue
from signs.model import MqttSource
from tests.processes import Publisher

ARTIFACTS = PROJECT_ROOT / "test-artifacts"


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def open_page(browser: Browser, url: str, width: int, height: int) -> tuple[Page, list[str]]:
    """A new page at `url`; the list collects its console errors and uncaught exceptions."""
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    return page, errors


def publish_reading(mqtt_url: str, sign_id: str, value: float, source_ts: float) -> None:
    source = catalogue().signs[sign_id].source
    assert isinstance(source, MqttSource)
    publisher = Publisher(mqtt_url)
    try:
        payload = encode_readings(source_ts, {source.field: value})
        publisher.publish_all([(topic(source.feed, source.adcode, source.source_id), payload)])
    finally:
        publisher.close()
