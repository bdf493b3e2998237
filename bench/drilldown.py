"""Drill-down benchmark: a sign's 7-day history and the district page under 20 users, against the whole system.

Run by hand:  .venv/bin/python bench/drilldown.py [--users 20] [--seconds 30] [--samples 30]

Starts `python -m services run` (embedded Redis and Mosquitto, feed worker, roll-up, the simulator, gunicorn with
its default workers) with its own temporary RUN_DIR on a free WEB_PORT and waits for GET /healthz. It then gives
two signs 7 days of history at their native cadence, prepended to what the simulator is writing live:
XY.D.M09.D29.dist:420602 (a district's traffic index, every 60 s: 10,080 readings) and XY.T.M07.T23 (the city's
fixed-camera online rate, every 5 s: 120,960 readings, the fastest cadence in the catalogue). It measures:

  1. the sign page's 7-day history for each: callbacks.sign.history in-process against the same Redis (read,
     downsample, alert periods, figure), and the HTTP round trip of the page's own history callback
     (POST /_dash-update-component) with the bytes it sends, raw and gzip as the browser receives them;
  2. the district page loaded by N users at once, over and over for S seconds, each load as a browser with the
     app's scripts cached makes it: the HTML, /_dash-layout, /_dash-dependencies, the pages router's callback
     (the page's layout), the page's data callback (table, alerts, summary, map levels), the camera status poll,
     and the two map geometries revalidated by ETag (304). Per load: wall time from the first request to the
     last answer. Also one cold load (every script and both geometries downloaded) for comparison.

Targets (issue 5): 7-day history under 100 ms and under 100 KB; district page p95 under 1 s.
Every child process is stopped at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import gzip
import math
import random
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import redis  # noqa: E402
import requests  # noqa: E402

from bench.system import BenchError, System, percentile, running_system, verdict  # noqa: E402
from callbacks.sign import history  # noqa: E402
from geo.admin import DISTRICTS  # noqa: E402
from layouts import district as district_ids  # noqa: E402
from layouts import sign as sign_ids  # noqa: E402
from signs.catalogue import catalogue  # noqa: E402
from signs.keys import HISTORY_POINT, history_day, history_key  # noqa: E402
from signs.model import Direction, Sign  # noqa: E402
from signs.replies import get_bytes  # noqa: E402
from signs.urlstate import DistrictView, SignView  # noqa: E402

HISTORY_SIGNS = ("XY.D.M09.D29.dist:420602", "XY.T.M07.T23")
HISTORY_TARGET_MS = 100.0
HISTORY_TARGET_BYTES = 100_000
PAGE_TARGET_S = 1.0
HTTP_TIMEOUT_S = 30.0
START_TIMEOUT_S = 180.0
RETENTION_S = 8 * 86_400
# Prepend synthetic history to a day key atomically, so the live points the sink appends meanwhile survive.
PREPEND_LUA = (
    "redis.call('SET', KEYS[1], ARGV[1] .. (redis.call('GET', KEYS[1]) or '')); "
    "return redis.call('EXPIRE', KEYS[1], ARGV[2])"
)


def synthetic_values(sign: Sign, ts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A daily cycle with noise that reaches past the sign's first threshold for a few hours a day."""
    bounds = [b for b in sign.thresholds if b is not None]
    first = bounds[0] if bounds else 100.0
    second = bounds[1] if len(bounds) > 1 else first * 1.1
    span = abs(second - first) or abs(first) * 0.1 or 1.0
    daily = np.sin((ts % 86_400) / 86_400 * 2 * math.pi)
    noise = rng.normal(0.0, 0.15 * span, len(ts))
    if sign.direction is Direction.HIGH_IS_BAD:
        return first - 1.2 * span + 1.8 * span * daily + noise
    return first + 1.2 * span - 1.8 * span * daily + noise


def fill_history(client: redis.Redis, sign: Sign, now: float, rng: np.random.Generator) -> int:
    """Seven days at the sign's cadence up to the oldest point the system wrote itself (or now)."""
    existing = get_bytes(client, history_key(sign.id, history_day(now))) or b""
    live = np.frombuffer(existing[: len(existing) // 16 * 16], dtype=[("ts", "<f8"), ("value", "<f8")])
    until = float(live["ts"].min()) if len(live) else now
    ts = np.arange(now - 7 * 86_400, until, sign.cadence_s)
    values = synthetic_values(sign, ts, rng)
    points = np.empty(len(ts), dtype=[("ts", "<f8"), ("value", "<f8")])
    points["ts"], points["value"] = ts, values
    prepend = client.register_script(PREPEND_LUA)
    # One key per UTC day, as the sink writes them.
    day_of = (ts // 86_400).astype(np.int64)
    for day in sorted(set(day_of.tolist())):
        blob = points[day_of == day].tobytes()
        assert len(blob) % HISTORY_POINT.size == 0
        prepend(keys=[history_key(sign.id, history_day(day * 86_400.0))], args=[blob, RETENTION_S])
    return len(ts)


# Measuring -----------------------------------------------------------------------------------------------------------


def dependencies(session: requests.Session, url: str) -> list[dict[str, Any]]:
    return session.get(url + "/_dash-dependencies", timeout=HTTP_TIMEOUT_S).json()


def find_callback(deps: list[dict[str, Any]], input_id: str, input_prop: str) -> dict[str, Any]:
    for dep in deps:
        if any(i["id"] == input_id and i["property"] == input_prop for i in dep["inputs"]):
            return dep
    raise BenchError(f"no callback takes {input_id}.{input_prop}")


def _outputs(dep: dict[str, Any]) -> Any:
    spec = dep["output"]
    if spec.startswith(".."):
        parts = [p for p in spec.strip(".").split("...")]
        return [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]} for p in parts]
    out_id, prop = spec.rsplit(".", 1)
    return {"id": out_id, "property": prop}


def callback_payload(dep: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    inputs = [
        {"id": i["id"], "property": i["property"], "value": values.get(f"{i['id']}.{i['property']}")}
        for i in dep["inputs"]
    ]
    state = [
        {"id": s["id"], "property": s["property"], "value": values.get(f"{s['id']}.{s['property']}")}
        for s in dep["state"]
    ]
    return {
        "output": dep["output"],
        "outputs": _outputs(dep),
        "inputs": inputs,
        "changedPropIds": [f"{i['id']}.{i['property']}" for i in dep["inputs"][:1]],
        "state": state,
    }


def browser_session(url: str) -> requests.Session:
    """Headers a browser sends: gzip accepted, and our own Origin (the app refuses cross-origin POSTs)."""
    session = requests.Session()
    session.headers.update({"Accept-Encoding": "gzip", "Origin": url})
    return session


def post_callback(session: requests.Session, url: str, payload: dict[str, Any]) -> tuple[float, int, int, bytes]:
    """(seconds, bytes on the wire, bytes uncompressed, body) of one callback round trip."""
    started = time.perf_counter()
    response = session.post(url + "/_dash-update-component", json=payload, timeout=HTTP_TIMEOUT_S, stream=True)
    raw = response.raw.read(decode_content=False)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise BenchError(f"callback answered HTTP {response.status_code}: {raw[:300]!r}")
    body = gzip.decompress(raw) if response.headers.get("Content-Encoding") == "gzip" else raw
    return elapsed, len(raw), len(body), body


@dataclass
class HistoryFigures:
    sign_id: str
    readings: int
    points_sent: int
    inprocess_ms: list[float]
    http_ms: list[float]
    bytes_raw: int
    bytes_wire: int

    def line(self) -> str:
        return (
            f"{self.sign_id:<28} {self.readings:>8,} readings -> {self.points_sent:>4} buckets | in-process "
            f"p50 {percentile(self.inprocess_ms, 0.5):6.1f} ms p95 {percentile(self.inprocess_ms, 0.95):6.1f} ms | "
            f"HTTP p50 {percentile(self.http_ms, 0.5):6.1f} ms p95 {percentile(self.http_ms, 0.95):6.1f} ms | "
            f"{self.bytes_raw / 1000:5.1f} KB JSON, {self.bytes_wire / 1000:5.1f} KB gzip"
        )


def measure_history(system: System, client: redis.Redis, sign: Sign, readings: int, samples: int) -> HistoryFigures:
    cat = catalogue()
    view = SignView(sign.id, "7d")
    inprocess = []
    for _ in range(samples):
        started = time.perf_counter()
        outputs = history(client, cat, view, time.time())
        inprocess.append((time.perf_counter() - started) * 1000)
    figure = outputs[0]
    points_sent = len(figure["data"][2]["y"])
    session = browser_session(system.url)
    session.get(system.url + view.href(), timeout=HTTP_TIMEOUT_S)
    dep = next(d for d in dependencies(session, system.url) if f"{sign_ids.GRAPH}.figure" in d["output"])
    payload = callback_payload(dep, {f"{sign_ids.STATE}.data": view.href()})
    http, wire, raw = [], 0, 0
    for _ in range(samples):
        seconds, wire, raw, body = post_callback(session, system.url, payload)
        http.append(seconds * 1000)
    if sign_ids.GRAPH not in body.decode():
        raise BenchError("the history callback did not answer with the figure")
    return HistoryFigures(sign.id, readings, points_sent, inprocess, http, raw, wire)


@dataclass
class PageLoads:
    seconds: list[float]
    errors: list[str]
    requests_per_load: int


def district_page_load(
    session: requests.Session,
    url: str,
    adcode: str,
    router: dict[str, Any],
    data: dict[str, Any],
    cameras: dict[str, Any],
    etags: dict[str, str],
) -> tuple[float, int]:
    """One page load with the app's scripts cached: the requests a browser makes, in its order."""
    view = DistrictView(adcode)
    started = time.perf_counter()
    count = 0

    def get(path: str, headers: dict[str, str] | None = None) -> requests.Response:
        nonlocal count
        count += 1
        response = session.get(url + path, headers=headers, timeout=HTTP_TIMEOUT_S)
        if response.status_code not in (200, 304):
            raise BenchError(f"GET {path}: HTTP {response.status_code}")
        return response

    get(view.href())
    get("/_dash-layout")
    get("/_dash-dependencies")
    count += 1
    post_callback(
        session,
        url,
        callback_payload(router, {"_pages_location.pathname": f"/district/{adcode}", "_pages_location.search": ""}),
    )
    for path, etag in etags.items():
        get(path, {"If-None-Match": f'"{etag}"'})
    count += 2
    post_callback(session, url, callback_payload(data, {f"{district_ids.STATE}.data": view.href()}))
    post_callback(session, url, callback_payload(cameras, {}))
    return time.perf_counter() - started, count


def run_users(system: System, users: int, seconds: float) -> PageLoads:
    probe = browser_session(system.url)
    deps = dependencies(probe, system.url)
    router = next(d for d in deps if "_pages_content" in d["output"])
    data = find_callback(deps, district_ids.STATE, "data")
    cameras = next(d for d in deps if "cameras-status.data" in d["output"])
    etags = {}
    for path in ("/geo/districts.json", "/geo/cameras.pbf"):
        response = probe.get(system.url + path, timeout=HTTP_TIMEOUT_S)
        etags[path] = (response.headers.get("ETag") or "").strip('"')
    loads: list[float] = []
    errors: list[str] = []
    per_load = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    adcodes = list(DISTRICTS)

    def user(index: int) -> None:
        session = browser_session(system.url)
        rng = random.Random(index)
        time.sleep(rng.random())  # users do not arrive on the same millisecond
        while time.monotonic() < stop_at:
            try:
                elapsed, count = district_page_load(
                    session, system.url, rng.choice(adcodes), router, data, cameras, etags
                )
            except (requests.RequestException, BenchError) as error:
                with lock:
                    errors.append(str(error)[:200])
                continue
            with lock:
                loads.append(elapsed)
                per_load[0] = count

    threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    return PageLoads(loads, errors, per_load[0])


def cold_load_seconds(system: System) -> tuple[float, int]:
    """The first visit: the HTML, every script and stylesheet it names, then the warm-load requests and both
    geometries in full. Returns (seconds, bytes on the wire)."""
    import re

    session = browser_session(system.url)
    started = time.perf_counter()
    html_page = session.get(system.url + "/district/420602", timeout=HTTP_TIMEOUT_S)
    total = len(html_page.content)
    for src in re.findall(r'(?:src|href)="(/(?:_dash-component-suites|assets)/[^"]+)"', html_page.text):
        total += len(session.get(system.url + src, timeout=HTTP_TIMEOUT_S).content)
    for path in ("/_dash-layout", "/_dash-dependencies", "/geo/districts.json", "/geo/cameras.pbf"):
        total += len(session.get(system.url + path, timeout=HTTP_TIMEOUT_S).content)
    return time.perf_counter() - started, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20, help="concurrent users loading the district page")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the users keep loading it")
    parser.add_argument("--samples", type=int, default=30, help="history measurements per sign")
    args = parser.parse_args()

    print("Starting the system (python -m services run)...", flush=True)
    with running_system("drilldown", START_TIMEOUT_S) as system:
        client = redis.Redis.from_url(system.redis_url)
        cat = catalogue()
        rng = np.random.default_rng(5)
        print(f"System up at {system.url}; filling 7 days of history at native cadence...", flush=True)
        readings = {sign_id: fill_history(client, cat.signs[sign_id], time.time(), rng) for sign_id in HISTORY_SIGNS}

        print("\n1. Sign page, 7-day history (read from Redis, min/max/mean buckets, alert periods, figure)")
        figures = [measure_history(system, client, cat.signs[s], readings[s], args.samples) for s in HISTORY_SIGNS]
        for f in figures:
            print("   " + f.line())

        print(
            f"\n2. District page, {args.users} concurrent users for {args.seconds:.0f} s "
            "(scripts cached, geometry revalidated)"
        )
        cold_s, cold_bytes = cold_load_seconds(system)
        loads = run_users(system, args.users, args.seconds)
        s = loads.seconds
        if not s:
            raise BenchError(f"no page load succeeded: {loads.errors[:3]}")
        print(
            f"   {len(s)} page loads ({loads.requests_per_load} requests each), {len(loads.errors)} errors: "
            f"p50 {percentile(s, 0.5):.3f} s  p95 {percentile(s, 0.95):.3f} s  max {max(s):.3f} s  "
            f"mean {statistics.fmean(s):.3f} s"
        )
        print(f"   one cold first visit (all scripts, both geometries): {cold_s:.2f} s, {cold_bytes / 1e6:.1f} MB")
        if loads.errors:
            print(f"   first errors: {loads.errors[:3]}")

        worst_ms = max(percentile(f.inprocess_ms, 0.95) for f in figures)
        worst_http = max(percentile(f.http_ms, 0.95) for f in figures)
        worst_bytes = max(f.bytes_raw for f in figures)
        print("\nSummary against the targets of issue 5")
        print(
            f"   {verdict(worst_ms < HISTORY_TARGET_MS)} 7-day history server time p95 {worst_ms:.1f} ms in-process, "
            f"{worst_http:.1f} ms over HTTP (target < {HISTORY_TARGET_MS:.0f} ms)"
        )
        print(
            f"   {verdict(worst_bytes < HISTORY_TARGET_BYTES)} 7-day history size {worst_bytes / 1000:.1f} KB "
            f"uncompressed (target < {HISTORY_TARGET_BYTES / 1000:.0f} KB)"
        )
        print(
            f"   {verdict(percentile(s, 0.95) < PAGE_TARGET_S)} district page p95 {percentile(s, 0.95):.3f} s "
            f"with {args.users} users (target < {PAGE_TARGET_S:.0f} s)"
        )
        client.close()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except BenchError as error:
        print(f"bench/drilldown.py: {error}", file=sys.stderr)
        sys.exit(1)
