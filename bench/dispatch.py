"""Event hub benchmark: intake and dispatch throughput (MQTT and Open311), intake -> inbox latency at 10 times the
simulated city's rate, and the inbox's data under 20 signed-in handlers, against the whole system.

Run by hand:  .venv/bin/python bench/dispatch.py [--mqtt 2000] [--open311 400] [--latency-events 40] [--users 20]

Starts `python -m services run` (embedded Redis and Mosquitto, the dispatcher, the simulated city and departments,
gunicorn with its default workers) with its own RUN_DIR and WEB_PORT, then measures:

  1. events per second through intake and automatic dispatch: N reports published over MQTT with QoS 1 and the
     client's in-flight window (pipelined), against the naive way (each report's PUBACK awaited before the next);
     N Open311 POST requests.json from 8 keep-alive clients at once, against one request at a time on a new
     connection each. Counted until the dispatcher has dispatched the last (its audit entries);
  2. intake -> inbox: grid reports for the housing bureau published at 10 times the simulated city's mean rate
     (feeds/simulator/events.py, about 1,800 a day), each timed from its publication until it is in the bureau's
     handler's inbox (GET /api/v1/events as that handler, polled every 20 ms): p50, p95;
  3. the inbox's data under N handlers (half 市住建局, half 市城管执法委), each signed in with its own session and
     asking GET /api/v1/events back to back for S seconds, with every event of stages 1 and 2 still open: p50, p95.

Targets (issue 12): intake -> inbox p95 under 1 s; inbox p95 under 500 ms. The reports of this benchmark name a
reporter of their own, so the simulated departments leave them alone.
"""

from __future__ import annotations

import argparse
import random
import secrets
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis  # noqa: E402
import requests  # noqa: E402

from auth.model import Role  # noqa: E402
from auth.store import create_open311_key, save_user  # noqa: E402
from bench.system import BenchError, percentile, read_env_file, running_system, verdict  # noqa: E402
from dispatch.contract import encode_report, intake_topic  # noqa: E402
from feeds.mqtt import broker_address, new_client  # noqa: E402
from feeds.simulator.events import city_rate_per_day  # noqa: E402
from signs.keys import KEY_EVENTS_AUDIT, KEY_EVENTS_OPEN  # noqa: E402

LATENCY_TARGET_S = 1.0
INBOX_TARGET_S = 0.5
START_TIMEOUT_S = 240.0
HTTP_TIMEOUT_S = 30.0
PASSWORD = "bench-" + secrets.token_urlsafe(12)
# A point in 樊城 (a central district): a branch there goes to the city's housing bureau, D02.
BRANCH = {"lat": 32.0581, "lon": 112.1402, "township": "420606003"}


class Audit:
    """Follows the events' audit: which reporter's events were reported, and when each was dispatched."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        newest: Any = client.xrevrange(KEY_EVENTS_AUDIT, count=1)
        self._cursor = newest[0][0] if newest else b"0-0"
        self.reporter_of: dict[str, str] = {}
        self.dispatched: dict[str, float] = {}  # event id -> audit time

    def poll(self) -> None:
        while True:
            reply: Any = self._redis.xread({KEY_EVENTS_AUDIT: self._cursor}, count=5000)
            if not reply:
                return
            for entry_id, fields in reply[0][1]:
                self._cursor = entry_id
                event_id, action = fields[b"event_id"].decode(), fields[b"action"]
                if action == b"reported":
                    self.reporter_of[event_id] = fields[b"by"].decode()
                elif action == b"dispatched":
                    self.dispatched.setdefault(event_id, float(fields[b"at"]))

    def dispatched_of(self, reporter: str) -> int:
        return sum(1 for e in self.dispatched if self.reporter_of.get(e) == reporter)

    def wait(self, reporter: str, count: int, timeout_s: float) -> float:
        """Wall time when the `count`-th event of the reporter was dispatched."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            self.poll()
            if self.dispatched_of(reporter) >= count:
                return max(t for e, t in self.dispatched.items() if self.reporter_of.get(e) == reporter)
            time.sleep(0.05)
        raise BenchError(f"only {self.dispatched_of(reporter)} of {count} reports by {reporter} dispatched")


def _mqtt_client(url: str, name: str) -> Any:
    client = new_client(f"bench-dispatch-{name}-{secrets.token_hex(3)}", url)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(*broker_address(url))
    client.loop_start()
    return client


def _hotline(reporter: str, i: int) -> bytes:
    return encode_report(time.time(), "hotline", "1100101", township="420606003", ref=f"{reporter}-{i}",
                         reporter=reporter, description="bench")  # fmt: skip


def mqtt_rate(mqtt_url: str, audit: Audit, count: int, pipelined: bool) -> float:
    reporter = f"bench-mqtt-{'pipe' if pipelined else 'naive'}-{secrets.token_hex(3)}"
    client = _mqtt_client(mqtt_url, reporter[-6:])
    topic = intake_topic("420606", "bench-12345")
    began = time.time()
    infos = []
    for i in range(count):
        info = client.publish(topic, _hotline(reporter, i), qos=1)
        if pipelined:
            infos.append(info)
        else:
            info.wait_for_publish(HTTP_TIMEOUT_S)
    for info in infos:
        info.wait_for_publish(HTTP_TIMEOUT_S)
    done = audit.wait(reporter, count, 300)
    client.loop_stop()
    client.disconnect()
    return count / (done - began)


def open311_rate(url: str, key: str, audit: Audit, count: int, pipelined: bool) -> float:
    reporter = f"bench311{'pipe' if pipelined else 'naive'}{secrets.token_hex(3)}"
    local = threading.local()

    def post(i: int) -> None:
        if pipelined:
            session = getattr(local, "session", None) or requests.Session()
            local.session = session
            poster: Any = session
        else:
            poster = requests  # a new connection each time
        form = {"api_key": key, "service_code": "0500101", "lat": "32.0581", "long": "112.1402",
                "description": f"bench {i}", "first_name": reporter}  # fmt: skip
        response = poster.post(f"{url}/open311/v2/requests.json", data=form, timeout=HTTP_TIMEOUT_S)
        if response.status_code >= 300:
            raise BenchError(f"Open311 POST: HTTP {response.status_code} {response.text[:300]}")

    began = time.time()
    with ThreadPoolExecutor(8 if pipelined else 1) as pool:
        list(pool.map(post, range(count)))
    audit.poll()
    reporters = {r for r in audit.reporter_of.values() if reporter in r}
    if len(reporters) != 1:
        raise BenchError(f"Open311 reports not found in the audit by {reporter!r}: {sorted(reporters)[:3]}")
    done = audit.wait(reporters.pop(), count, 300)
    return count / (done - began)


def signed_in(url: str, username: str) -> requests.Session:
    session = requests.Session()
    response = session.post(f"{url}/login", data={"username": username, "password": PASSWORD},
                            headers={"Origin": url}, allow_redirects=False, timeout=HTTP_TIMEOUT_S)  # fmt: skip
    if response.status_code != 302:
        raise BenchError(f"{username} could not sign in: HTTP {response.status_code}")
    return session


def inbox_refs(session: requests.Session, url: str) -> set[str]:
    response = session.get(f"{url}/api/v1/events", timeout=HTTP_TIMEOUT_S)
    response.raise_for_status()
    return {e["source_ref"] for e in response.json()}


def latency(url: str, mqtt_url: str, handler: requests.Session, count: int, rate_per_s: float) -> list[float]:
    """Seconds from publication to the event in the handler's inbox, for `count` Poisson arrivals."""
    client = _mqtt_client(mqtt_url, "latency")
    published: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            refs = inbox_refs(handler, url)
            now = time.time()
            for ref in refs & published.keys():
                seen.setdefault(ref, now)
            stop.wait(0.02)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    rng = random.Random(420600)
    tag = secrets.token_hex(3)
    for i in range(count):
        time.sleep(rng.expovariate(rate_per_s))
        ref = f"bench-latency-{tag}-{i}"
        payload = encode_report(time.time(), "grid", "0500101", ref=ref, reporter="bench-latency",
                                description="bench", **BRANCH)  # fmt: skip
        published[ref] = time.time()
        client.publish(intake_topic("420606", "bench-grid"), payload, qos=1)
    deadline = time.time() + 30
    while len(seen) < count and time.time() < deadline:
        time.sleep(0.05)
    stop.set()
    poller.join(5)
    client.loop_stop()
    client.disconnect()
    if len(seen) < count:
        raise BenchError(f"only {len(seen)} of {count} reports reached the inbox")
    return [seen[ref] - published[ref] for ref in published]


def inbox_load(url: str, sessions: list[requests.Session], seconds: float) -> tuple[list[float], int]:
    times: list[float] = []
    lock = threading.Lock()
    sizes = []
    end = time.time() + seconds

    def user(session: requests.Session) -> None:
        while time.time() < end:
            began = time.perf_counter()
            response = session.get(f"{url}/api/v1/events", timeout=HTTP_TIMEOUT_S)
            took = time.perf_counter() - began
            response.raise_for_status()
            with lock:
                times.append(took)
                sizes.append(len(response.json()))

    with ThreadPoolExecutor(len(sessions)) as pool:
        list(pool.map(user, sessions))
    return times, max(sizes) if sizes else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mqtt", type=int, default=2000, help="reports for the pipelined MQTT run")
    parser.add_argument("--mqtt-naive", type=int, default=300)
    parser.add_argument("--open311", type=int, default=400)
    parser.add_argument("--open311-naive", type=int, default=150)
    parser.add_argument("--latency-events", type=int, default=40)
    parser.add_argument("--rate-multiple", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    print("Starting `python -m services run`...", flush=True)
    with running_system("dispatch", START_TIMEOUT_S) as system:
        client = redis.Redis.from_url(system.redis_url)
        mqtt_url = read_env_file(system.run_dir / "env")["SIM_MQTT_URL"]  # a field system's account
        for i in range(args.users):
            department = "D02" if i % 2 == 0 else "D01"
            save_user(client, f"bench{i:02d}", Role.HANDLER, PASSWORD, department=department, by="bench")
        key = create_open311_key(client, "bench", by="bench")
        time.sleep(5)  # the dispatcher connected and subscribed
        audit = Audit(client)

        print("\n1. Intake and dispatch, events per second")
        pipe = mqtt_rate(mqtt_url, audit, args.mqtt, pipelined=True)
        naive = mqtt_rate(mqtt_url, audit, args.mqtt_naive, pipelined=False)
        print(f"   MQTT     {args.mqtt} pipelined: {pipe:7.1f}/s   {args.mqtt_naive} one PUBACK at a time: "
              f"{naive:7.1f}/s   ratio {pipe / naive:.1f}x")  # fmt: skip
        pipe = open311_rate(system.url, key, audit, args.open311, pipelined=True)
        naive = open311_rate(system.url, key, audit, args.open311_naive, pipelined=False)
        print(f"   Open311  {args.open311} from 8 keep-alive clients: {pipe:7.1f}/s   {args.open311_naive} one at a "
              f"time, new connection each: {naive:7.1f}/s   ratio {pipe / naive:.1f}x")  # fmt: skip

        sessions = [signed_in(system.url, f"bench{i:02d}") for i in range(args.users)]
        rate = args.rate_multiple * city_rate_per_day(time.gmtime().tm_mon) / 86_400
        minutes = args.latency_events / rate / 60
        print(f"\n2. Intake -> inbox at {args.rate_multiple:g}x the simulated city ({rate:.3f} reports/s, "
              f"{args.latency_events} reports, about {minutes:.1f} min)", flush=True)  # fmt: skip
        waits = latency(system.url, mqtt_url, sessions[0], args.latency_events, rate)
        p50, p95 = percentile(waits, 0.5), percentile(waits, 0.95)
        print(f"   p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {max(waits) * 1000:.0f} ms "
              f"(target p95 < {LATENCY_TARGET_S:g} s: {verdict(p95 < LATENCY_TARGET_S)})")  # fmt: skip

        open_now = client.zcard(KEY_EVENTS_OPEN)
        print(f"\n3. Inbox data, {args.users} handlers back to back for {args.seconds:g} s ({open_now} open events)")
        times, listed = inbox_load(system.url, sessions, args.seconds)
        p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
        print(f"   {len(times)} requests ({len(times) / args.seconds:.1f}/s), up to {listed} events each: "
              f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms "
              f"(target p95 < {INBOX_TARGET_S * 1000:g} ms: {verdict(p95 < INBOX_TARGET_S)})")  # fmt: skip
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
