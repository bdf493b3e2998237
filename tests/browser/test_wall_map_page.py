"""The wall's district map in Debian's Chromium: a district whose value is stale is hatched like a stale tile,
judged by the one staleness rule (signs.model.is_stale), the others keep their plain level colour."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from playwright.sync_api import Browser

from config import Settings
from feeds.board import publish_board
from services.embedded import EmbeddedService, free_port
from services.web import gunicorn_command
from signs.catalogue import catalogue
from signs.keys import KEY_LATEST, Latest
from signs.model import is_stale
from tests.browser.live import ARTIFACTS, http_ok, open_page
from tests.processes import ChildProcess, feed_env, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SIGNALS = "XY.S.M13.S48"  # what the overview's map is coloured by
NANZHANG = "420624"


@pytest.fixture(scope="module")
def wall_url(redis_service: EmbeddedService, mqtt_service: EmbeddedService) -> Iterator[str]:
    client = redis.Redis.from_url(redis_service.url)
    client.flushall()
    now = time.time()
    cat = catalogue()
    for sign in cat.signs.values():
        if sign.core == "S48" and sign.district:
            # Nanzhang's value is an hour old; every other district's is fresh.
            at = now - 3600 if sign.district == NANZHANG else now
            assert is_stale(sign, at, now) is (sign.district == NANZHANG)
            client.hset(KEY_LATEST, sign.id, f"{at!r}|{Latest(2.0, at, at).encode_rest()}")
    publish_board(client, cat, now)
    port = free_port()
    env = feed_env(redis_service.url, mqtt_service.url)
    web = ChildProcess(gunicorn_command(Settings(web_workers=1), port=port), env, "wall-map-web")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_ok(url + "/api/v1/snapshot?district=420600"), 60, "gunicorn serving the app")
        yield url
    finally:
        web.stop()
        client.close()


def test_a_stale_district_value_is_hatched_on_the_map(browser: Browser, wall_url: str) -> None:
    page, errors = open_page(browser, wall_url + "/?lang=en", 1920, 1080)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.leaflet-overlay-pane path')].some("
        "p => (p.getAttribute('fill') || '').startsWith('url(#district-stale-'))",
        timeout=20_000,
    )
    fills = page.evaluate(
        "() => [...document.querySelectorAll('.leaflet-overlay-pane path')].map(p => p.getAttribute('fill'))"
    )
    hatched = [f for f in fills if f.startswith("url(#district-stale-")]
    assert len(fills) == 9 and hatched == ["url(#district-stale-2)"], fills
    assert page.locator("#district-stale-2 rect").count() == 2  # the level colour under the stripes
    # Only 南漳's legend row is greyed: its name and its value.
    stale_rows = page.locator(".district-values li.stale")
    assert stale_rows.count() == 1
    assert (stale_rows.locator("span").inner_text(), stale_rows.locator("b").inner_text()) == ("Nanzhang County", "2")
    page.screenshot(path=str(ARTIFACTS / "wall-map-stale.png"))
    assert errors == []
    page.close()
