"""The 城市之眼 camera layer in Debian's Chromium: a minimal Dash app made of layouts/camera_layer.py and
callbacks/camera_layer.py inside a dl.Map, served from a thread, reading a real Redis whose registry holds
all 71,591 cameras. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dash_leaflet as dl
import numpy as np
import pandas as pd
import pytest
import redis
from dash import Dash, html
from playwright.sync_api import Browser, Page, Request, Response
from werkzeug.serving import make_server

import api.geo
from api.geo import CAMERAS_URL, geo_blueprint
from callbacks import camera_layer as camera_callbacks
from config import PROJECT_ROOT, settings
from feeds.rollup import Rollup
from geo.cameras import camera_inventory
from geo.districts import city_bounds
from layouts import camera_layer
from services.embedded import EmbeddedService, free_port
from signs.keys import KEY_CAMERA_STATUS, camera_key
from signs.replies import get_bytes
from signs.store import shared_redis

pytestmark = [pytest.mark.browser, pytest.mark.integration]

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
POLL_MS = 1000
CITY_ZOOM = 8.5  # the wall's city view (layouts/wall.py)
FLIPPED = "420626"  # 保康县: its clusters stand apart at city zoom
RED = "rgb(255, 59, 48)"  # camera_layer.SHARE_COLOURS[2]
TARGET_S = 1.0
# Time to clusters fails the test past LIMIT_S, unless the box is oversubscribed (more runnable processes than
# cores: other sessions' tests and benchmarks), when the figure means nothing and is only printed.
LIMIT_S = 3.0


@dataclass
class CameraApp:
    url: str
    redis: redis.Redis
    rollup: Rollup
    inventory: pd.DataFrame
    fault_row: int


def _seed(client: redis.Redis, inventory: pd.DataFrame, now: float) -> int:
    """Every camera heard from just now: ~2 % offline, ~0.3 % fault, the rest online. Returns a fault camera's row."""
    rng = np.random.default_rng(420600)
    draw = rng.random(len(inventory))
    status = np.where(draw < 0.02, "offline", np.where(draw > 0.997, "fault", "online"))
    fault_row = int(inventory.index[(inventory["adcode"] == "420602") & (inventory["kind"] == "fixed")][0])
    status[fault_row] = "fault"
    pipe = client.pipeline(transaction=False)
    for adcode, part in inventory.groupby("adcode"):
        rows = part.index.to_numpy()
        pipe.hset(
            camera_key(str(adcode)),
            mapping={
                device: f"{now!r}|{now!r}|{s}|{kind}|{lat}|{lon}"
                for device, s, kind, lat, lon in zip(
                    part["device_id"], status[rows], part["kind"], part["lat"], part["lon"], strict=True
                )
            },
        )
    pipe.execute()
    return fault_row


def _app() -> Dash:
    west, south, east, north = city_bounds()
    app = Dash(
        __name__,
        assets_folder=str(PROJECT_ROOT / "assets"),
        assets_ignore=r"^wall\.",
        compress=True,
        update_title=None,  # type: ignore[arg-type]  # documented as "None: no 'Updating...' title", typed str
    )
    app.layout = html.Div(
        style={"position": "relative", "width": "100vw", "height": "100vh", "background": "#0b1220"},
        children=[
            dl.Map(
                center=[(south + north) / 2, (west + east) / 2],
                zoom=CITY_ZOOM,
                zoomSnap=0.25,
                maxZoom=19,
                style={"width": "100%", "height": "100%", "background": "#08111f"},
                children=[camera_layer.camera_layer("zh")],
            ),
            camera_layer.camera_rates("zh"),
            camera_layer.camera_detail("zh"),
            *camera_layer.camera_polls(POLL_MS),
        ],
    )
    camera_callbacks.register(app)
    app.server.register_blueprint(geo_blueprint)
    return app


@pytest.fixture(scope="module")
def camera_app(redis_service: EmbeddedService) -> Iterator[CameraApp]:
    client = redis.Redis.from_url(redis_service.url)
    client.flushall()
    inventory = camera_inventory()
    fault_row = _seed(client, inventory, time.time())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REDIS_URL", redis_service.url)
        settings.cache_clear()
        shared_redis.cache_clear()
        rollup = Rollup(settings())
        rollup.camera_tick(time.time())
        api.geo.warm()  # as gunicorn's workers do after the fork
        server = make_server("127.0.0.1", free_port(), _app().server, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="camera-app", daemon=True)
        thread.start()
        try:
            yield CameraApp(f"http://127.0.0.1:{server.server_port}/", client, rollup, inventory, fault_row)
        finally:
            server.shutdown()
            thread.join(10)
            shared_redis.cache_clear()
    settings.cache_clear()
    client.close()


def _watch(page: Page, polls: list[tuple[int, int]] | None = None) -> tuple[list[str], list[Request]]:
    """Console errors and page errors, and every request for the camera geometry; with polls, also (bytes on
    the wire, bytes of JSON) of every answer to the status poll."""
    errors: list[str] = []
    geometry: list[Request] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: geometry.append(request) if CAMERAS_URL in request.url else None)

    def on_response(response: Response) -> None:
        if polls is not None and camera_layer.POLL in (response.request.post_data or ""):
            sizes = response.request.sizes()
            polls.append((sizes["responseBodySize"] + sizes["responseHeadersSize"], len(response.body())))

    page.on("response", on_response)
    return errors, geometry


def _clusters(page: Page) -> list[dict[str, Any]]:
    return page.evaluate(
        """() => [...document.querySelectorAll('.cityeye-cluster')].map((el) => ({
            label: el.textContent, title: el.title, colour: getComputedStyle(el.firstElementChild).backgroundColor,
            count: parseInt(el.title, 10), offline: parseInt((el.title.match(/离线 (\\d+)/) || [0, 0])[1], 10) }))"""
    )


def _perf(page: Page) -> dict[str, Any]:
    return page.evaluate("() => JSON.parse(JSON.stringify(window.cityeye.cameras.perf))")


def _abbreviated(count: int) -> str:
    """supercluster's point_count_abbreviated."""
    if count >= 10_000:
        return f"{round(count / 1000)}k"
    if count >= 1000:
        return f"{round(count / 100) / 10:g}k"
    return str(count)


def _flip(page: Page, camera_app: CameraApp, part: pd.DataFrame, status: str, red: str) -> dict[str, Any]:
    """Give every camera of part a fresh heartbeat with status, run the roll-up, wait until some/none of the
    clusters are red; print how long that took and what the redraw cost in the browser."""
    page.evaluate("() => window.cityeye.cameras.resetPerf()")
    now = time.time()
    camera_app.redis.hset(
        camera_key(FLIPPED),
        mapping={
            d: f"{now!r}|{now!r}|{status}|{k}|{la}|{lo}"
            for d, k, la, lo in zip(part["device_id"], part["kind"], part["lat"], part["lon"], strict=True)
        },
    )
    camera_app.rollup.camera_tick(time.time())
    published = time.perf_counter()
    page.wait_for_function(
        f"""(red) => [...document.querySelectorAll('.cityeye-cluster > div')]
            .{"some" if red == "some" else "every"}(
                (d) => getComputedStyle(d).backgroundColor {"===" if red == "some" else "!=="} red)""",
        arg=RED,
        timeout=10_000,
    )
    recoloured_s = time.perf_counter() - published
    page.wait_for_function("() => window.cityeye.cameras.perf.lastBatch !== null")
    perf = _perf(page)
    batch = perf["lastBatch"]
    print(
        f"{len(part):,} cameras {status}: recoloured {recoloured_s:.2f} s after the roll-up published (poll every "
        f"{POLL_MS} ms); redraw of {batch['clusters']} clusters: {batch['ownMs']:.1f} ms in camera_layer.js "
        f"(counting {perf['countMs']:.1f} ms), {batch['totalMs']:.1f} ms with Leaflet's own work"
    )
    return perf


def test_clusters_show_counts_and_recolour_without_refetching_geometry(browser: Browser, camera_app: CameraApp) -> None:
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    polls: list[tuple[int, int]] = []
    errors, geometry = _watch(page, polls)
    camera_app.rollup.camera_tick(time.time())

    started = time.perf_counter()
    page.goto(camera_app.url)
    page.wait_for_selector(".cityeye-cluster:not(.unknown)")
    shown_s = time.perf_counter() - started
    perf = _perf(page)
    print(
        f"\ncamera layer: clusters shown {shown_s:.2f} s after navigation (target < {TARGET_S:.0f} s); in the page: "
        f"first cluster at {perf['firstClusterAt']:.0f} ms, painted at {perf['firstPaintAt'] or float('nan'):.0f} ms; "
        f"count tree built in {perf['treeMs']:.1f} ms, counted in {perf['countMs']:.1f} ms"
    )

    load = os.getloadavg()[0] / (os.cpu_count() or 1)
    if load < 1.0:
        assert shown_s < LIMIT_S
    else:
        print(f"!! the box is oversubscribed (load {load:.1f} per core): time to clusters not asserted")

    clusters = _clusters(page)
    singles = page.locator(".leaflet-overlay-pane path.leaflet-interactive").count()
    assert len(clusters) >= 20
    assert sum(c["count"] for c in clusters) + singles == len(camera_app.inventory)  # the whole city is in view
    assert all(c["label"] == _abbreviated(c["count"]) for c in clusters)
    assert not any(c["colour"] == RED for c in clusters), "2 % offline: no cluster should be red yet"
    assert page.evaluate("() => window.cityeye.cameras.verifyCounts()")["mismatches"] == 0
    city = page.locator("#cameras-rates-body tr.city td").all_inner_texts()
    assert len(city) == 3 and all(text.endswith("%") for text in city)
    assert page.locator("#cameras-rates-age").inner_text().startswith("更新于")

    # Every camera of one district goes offline; the roll-up publishes; the next poll recolours the clusters.
    loaded = list(geometry)
    part = camera_app.inventory[camera_app.inventory["adcode"] == FLIPPED]
    redraw = _flip(page, camera_app, part, "offline", "some")
    assert sum(c["offline"] for c in _clusters(page)) >= len(part)
    assert page.locator(f'#cameras-rates-body tr[data-adcode="{FLIPPED}"] td').last.inner_text() == "0.0%"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "camera_layer_city.png"))
    # ... and back online: no red cluster is left.
    redraw = _flip(page, camera_app, part, "online", "none")

    changed = [p for p in polls if p[1] > 2000]
    steady = [p for p in polls if p[1] <= 2000]
    print(
        f"status polls: {len(changed)} with a new version, {max(changed)[0]:,} bytes on the wire "
        f"({max(changed)[1]:,} of JSON); {len(steady)} unchanged, at most {max(steady, default=(0, 0))[0]:,} bytes "
        f"({max(steady, default=(0, 0))[1]:,} of JSON)"
    )
    # Three versions (load, offline, online); a poll that fires while the previous answer is still on its
    # way holds the old version and gets the same bitmaps again, so a slow box may see a few more.
    assert len(changed) >= 3 and steady and max(steady)[1] < 600
    assert geometry == loaded, "a new status must restyle only, never fetch the geometry again"
    assert len(loaded) == 1, "the layer takes the preloaded geometry: one request"
    response = loaded[0].response()
    assert response is not None and response.status == 200
    assert redraw["indexes"] == 1 and redraw["decodes"] == 3 and redraw["leafMisses"] == 0

    # A reload revalidates the geometry (304) instead of downloading it again.
    started = time.perf_counter()
    page.reload()
    page.wait_for_selector(".cityeye-cluster:not(.unknown)")
    again = geometry[len(loaded):]
    assert len(again) == 1 and again[0].all_headers().get("if-none-match")
    body_bytes = again[0].sizes()["responseBodySize"]
    print(f"reload: clusters shown {time.perf_counter() - started:.2f} s after navigation; the geometry revalidated "
          f"with {body_bytes} bytes of body (first load: {loaded[0].sizes()['responseBodySize']:,})")
    assert body_bytes < 1000  # 304 Not Modified (Chromium shows the cached 200 to the page)
    assert errors == []
    context.close()


def test_clicking_a_camera_shows_its_registry_entry(browser: Browser, camera_app: CameraApp) -> None:
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    errors, _ = _watch(page)
    page.goto(camera_app.url)
    page.wait_for_selector(".cityeye-cluster:not(.unknown)")

    camera = camera_app.inventory.iloc[camera_app.fault_row]
    where = [float(camera["lat"]), float(camera["lon"])]
    page.evaluate("(where) => window.cityeye.cameras.map().setView(where, 19, { animate: false })", where)
    page.wait_for_function("() => window.cityeye.cameras.perf.pointCalls > 0")
    x, y = page.evaluate(
        """(where) => { const map = window.cityeye.cameras.map(); const p = map.latLngToContainerPoint(where);
            const box = map.getContainer().getBoundingClientRect(); return [box.left + p.x, box.top + p.y]; }""",
        where,
    )
    page.mouse.click(x, y)
    card = page.locator("#cameras-detail:not(.hidden)")
    card.wait_for()
    text = card.inner_text()
    for expected in (camera["device_id"], "襄城区", "固定", "故障", "最后心跳", "秒前"):
        assert expected in text, (expected, text)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "camera_layer_detail.png"))

    page.locator("#cameras-detail-close").click()
    page.locator("#cameras-detail.hidden").wait_for(state="attached")
    assert errors == []
    context.close()


def test_a_stale_status_is_unmistakable(browser: Browser, camera_app: CameraApp) -> None:
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    errors, _ = _watch(page)
    camera_app.rollup.camera_tick(time.time())
    page.goto(camera_app.url)
    page.wait_for_selector(".cityeye-cluster:not(.unknown)")
    assert page.locator(".cityeye-cluster.stale").count() == 0

    # The roll-up stops: its last document ages past three periods. Same version, so no bitmaps travel.
    raw = get_bytes(camera_app.redis, KEY_CAMERA_STATUS)
    assert raw is not None
    doc = json.loads(raw)
    doc["at"] = time.time() - 600
    camera_app.redis.set(KEY_CAMERA_STATUS, json.dumps(doc))
    page.locator(".cityeye-cluster.stale").first.wait_for()
    assert page.locator("#cameras-rates-age.stale").inner_text().startswith("数据陈旧")
    assert "10 分钟前" in page.locator("#cameras-rates-age").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "camera_layer_stale.png"))

    camera_app.rollup.camera_tick(time.time())
    page.wait_for_function("() => document.querySelectorAll('.cityeye-cluster.stale').length === 0")
    assert page.locator("#cameras-rates-age").inner_text().startswith("更新于")
    assert errors == []
    context.close()
