"""The publisher: sign groups (one MQTT message each) at their cadence and camera heartbeats over their period, on
one paho client and one scheduler loop, with readings stamped by the wall clock or the simulated one; and the story
clock that says what simulated time those stamps stand for (a signed, retained status on MQTT, and KEY_STORY_CLOCK in
Redis for every judge of hour-of-week bounds: signs.storyclock)."""

from __future__ import annotations

import heapq
import json
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import redis

from feeds.contract import FEED_VIDEO, SIMULATOR_STATUS_TOPIC, encode_camera_status, encode_readings, sign_owned, topic
from feeds.simulator.cameras import CAMERA_SILENT, CAMERA_STATUS_NAMES, CameraFleet, camera_statuses
from feeds.simulator.clock import SimClock
from feeds.simulator.noise import hash01, text_key
from feeds.simulator.scenarios import NO_SCENARIO, ScenarioState
from feeds.simulator.values import prepare, value_at
from signs.citytime import TimeFormat, city_text
from signs.model import Catalogue, Sign
from signs.storyclock import STORY_CLOCK_REFRESH_S, StoryClock, clear_story_clock, write_story_clock

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

    from feeds.simulator.events import EventPublisher

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 0.5  # a group is never published more often than this, whatever the speed
LOG_EVERY_S = 10.0
QOS_READINGS, QOS_CAMERAS = 1, 0


# Groups of signs = one MQTT message each ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Group:
    feed: str
    adcode: str
    source_id: str
    topic: str
    cadence_s: float
    fields: tuple[tuple[str, Sign], ...]


def sign_groups(catalogue: Catalogue) -> list[Group]:
    """One group per (feed, adcode, source_id): all its fields travel in one message at the fastest cadence."""
    groups = []
    for (feed, adcode, source_id), fields in sorted(catalogue.routes.items()):
        if feed == FEED_VIDEO:
            continue
        signs = tuple((name, catalogue.signs[sign_id]) for name, sign_id in sorted(fields.items()))
        cadence = min(sign.cadence_s for _, sign in signs)
        groups.append(Group(feed, adcode, source_id, topic(feed, adcode, source_id), cadence, signs))
    return groups


STARTUP_SPREAD_S = 5.0


def publish_interval(cadence_s: float, speed: float) -> float:
    """Real seconds between two messages of a group at a simulated speed-up."""
    return max(MIN_INTERVAL_S, cadence_s / max(speed, 1e-9))


def group_payload(group: Group, t_sim: float, ts: float, state: ScenarioState = NO_SCENARIO) -> bytes:
    return encode_readings(ts, {name: value_at(sign, t_sim, state) for name, sign in group.fields})


def publish_all_once(
    client: mqtt.Client,
    catalogue: Catalogue,
    now: float,
    state: ScenarioState = NO_SCENARIO,
    t_sim: float | None = None,
) -> int:
    """Publish one message per sourced group (QoS 1), stamped `now`; returns how many were queued."""
    prepare(catalogue)
    sent = 0
    for group in sign_groups(catalogue):
        payload = group_payload(group, now if t_sim is None else t_sim, now, state)
        sent += client.publish(group.topic, payload, QOS_READINGS).rc == 0
    return sent


def story_clock_of(clock: SimClock, state: ScenarioState, stamp_simulated: bool) -> StoryClock:
    """What the simulator's readings stand for: its story (if any) told from `clock`, stamped as they are."""
    return StoryClock(state.name or "", clock.sim_start, clock.real_start, clock.speed,
                      "simulated" if stamp_simulated else "real")  # fmt: skip


class StoryAnnouncer:
    """Tells City Eye that the data is simulated, and on which clock. On MQTT, a retained status signed like every
    City Eye status (cityeye/v1/status/simulator: "online" with the story clock's fields, "offline" when it stops,
    and as its last will when it dies); in Redis, KEY_STORY_CLOCK, rewritten every STORY_CLOCK_REFRESH_S so that it
    expires soon after a simulator that died, and deleted when it stops. Make it before the client connects (the
    will is part of the connection)."""

    def __init__(self, client: mqtt.Client, signing_key: bytes, store: redis.Redis | None) -> None:
        self._client, self._key, self._store = client, signing_key, store
        self._clock: StoryClock | None = None
        self._written = -math.inf
        client.will_set(SIMULATOR_STATUS_TOPIC, self._status("offline"), qos=1, retain=True)

    def _status(self, state: str, clock: StoryClock | None = None) -> bytes:
        doc = {"state": state, **(json.loads(clock.encode()) if clock is not None else {})}
        return sign_owned(self._key, SIMULATOR_STATUS_TOPIC, json.dumps(doc, separators=(",", ":")).encode())

    def start(self, clock: StoryClock) -> None:
        self._clock = clock
        self._client.publish(SIMULATOR_STATUS_TOPIC, self._status("online", clock), qos=1, retain=True)
        self.refresh(time.time())

    def refresh(self, now: float) -> None:
        if self._clock is None or self._store is None or now - self._written < STORY_CLOCK_REFRESH_S:
            return
        try:
            write_story_clock(self._store, self._clock)
            self._written = now
        except redis.RedisError as error:  # the data still flows; its hours are judged by the wall clock meanwhile
            log.warning("could not store the story clock in Redis: %s", error)

    def stop(self) -> None:
        if self._clock is not None and self._store is not None:
            try:
                clear_story_clock(self._store, self._clock)
            except redis.RedisError as error:
                log.warning("could not clear the story clock in Redis (it expires by itself): %s", error)
        info = self._client.publish(SIMULATOR_STATUS_TOPIC, self._status("offline"), qos=1, retain=True)
        if info.rc == 0:
            info.wait_for_publish(5.0)


@dataclass
class Counters:
    readings: int = 0
    cameras: int = 0
    silenced: int = 0
    dropped: int = 0
    events: int = 0


class Simulator:
    """One paho client, one scheduler loop: sign groups from a heap, cameras spread over their period."""

    def __init__(
        self,
        client: mqtt.Client,
        catalogue: Catalogue,
        clock: SimClock,
        state: ScenarioState = NO_SCENARIO,
        fleet: CameraFleet | None = None,
        heartbeat_s: float = 60.0,
        seed: int = 420600,
        stamp_simulated: bool = False,
        announcer: StoryAnnouncer | None = None,
    ) -> None:
        self.client = client
        self.announcer = announcer
        self.stamp_simulated = stamp_simulated
        self.clock = clock
        self.state = state
        self.events: EventPublisher | None = None  # the event hub's arrivals (feeds/simulator/events.py)
        self.fleet = fleet
        self.heartbeat_s = heartbeat_s
        self.counters = Counters()
        self.stop = threading.Event()
        self._rng = np.random.default_rng(seed)
        prepare(catalogue)
        self.groups = sign_groups(catalogue)
        now = clock.real_start
        self._heap: list[tuple[float, int]] = []
        for index, group in enumerate(self.groups):
            # Every source reports its current state on start-up, as field systems do when they (re)connect;
            # spreading the start-up over a few seconds and each cadence over its period keeps publishing smooth.
            spread = min(STARTUP_SPREAD_S, publish_interval(group.cadence_s, clock.speed))
            first = now + spread * hash01(text_key(group.topic), seed)
            self._heap.append((first, index))
        heapq.heapify(self._heap)
        self._camera_order = np.argsort(fleet.phase, kind="stable") if fleet is not None else None
        self._camera_sent = 0  # heartbeats due so far since the camera origin (monotone)
        self._camera_origin: float | None = None
        self._status_epoch: int | None = None
        self._status: np.ndarray | None = None

    def _camera_status_now(self, t_sim: float) -> np.ndarray:
        # Statuses change on a simulated-minute grid (and the outage switch); recompute on change only.
        epoch = math.floor(t_sim / 60.0)
        if epoch != self._status_epoch or self._status is None:
            assert self.fleet is not None
            self._status = camera_statuses(self.fleet, t_sim, self.state)
            self._status_epoch = epoch
        return self._status

    def _publish_readings(self, real_now: float) -> None:
        # Every value of this tick is the city at t_sim, and so is stamped at the moment t_sim stands for, never a
        # later wall-clock reading: on a busy machine a day's count computed before midnight would otherwise carry a
        # stamp after it, and be judged against the new day's bounds.
        t_sim = self.clock.sim(real_now)
        stamp = t_sim if self.stamp_simulated else real_now
        publish = self.client.publish
        heap = self._heap
        while heap and heap[0][0] <= real_now:
            due, index = heapq.heappop(heap)
            group = self.groups[index]
            info = publish(group.topic, group_payload(group, t_sim, stamp, self.state), QOS_READINGS)
            if info.rc == 0:
                self.counters.readings += 1
            else:
                self.counters.dropped += 1
            interval = publish_interval(group.cadence_s, self.clock.speed)
            following = due + interval
            if following < real_now - interval:  # fell far behind (suspend, stall): do not burst
                following = real_now + interval * hash01(index, int(real_now))
            heapq.heappush(heap, (following, index))

    def _publish_cameras(self, real_now: float) -> None:
        fleet, order = self.fleet, self._camera_order
        if fleet is None or order is None or not len(fleet):
            return
        n = len(fleet)
        origin = self._camera_origin if self._camera_origin is not None else self.clock.real_start
        due_total = int((real_now - origin) / self.heartbeat_s * n)
        if due_total - self._camera_sent > n:  # more than a whole period behind: skip, never storm
            self._camera_sent = due_total - n // 20
        if due_total <= self._camera_sent:
            return
        positions = np.arange(self._camera_sent, due_total) % n
        self._camera_sent = due_total
        indices = order[positions]
        status = self._camera_status_now(self.clock.sim(real_now))
        fleet.jitter(indices, self._rng)
        ts = real_now  # the statuses are those of this moment (see _publish_readings)
        publish, topics = self.client.publish, fleet.topics
        # Plain Python values for the encoder (msgspec does not take numpy scalars), one conversion per tick.
        codes = status[indices].tolist()
        kinds = np.where(fleet.mobile[indices], "mobile", "fixed").tolist()
        lats = np.round(fleet.lat[indices], 6).tolist()
        lons = np.round(fleet.lon[indices], 6).tolist()
        names = CAMERA_STATUS_NAMES
        sent = silenced = dropped = 0
        for i, code, kind, lat, lon in zip(indices.tolist(), codes, kinds, lats, lons, strict=True):
            if code == CAMERA_SILENT:
                silenced += 1
                continue
            if publish(topics[i], encode_camera_status(ts, names[code], kind, lat, lon), QOS_CAMERAS).rc == 0:
                sent += 1
            else:
                dropped += 1
        self.counters.cameras += sent
        self.counters.silenced += silenced
        self.counters.dropped += dropped

    def run(self, duration_s: float | None = None, tick_s: float = 0.02) -> None:
        """Publish until stopped or for `duration_s` real seconds, the story clock announced all the while."""
        announcer = self.announcer
        if announcer is not None:
            announcer.start(story_clock_of(self.clock, self.state, self.stamp_simulated))
        try:
            self._loop(duration_s, tick_s)
        finally:
            if announcer is not None:
                announcer.stop()

    def _loop(self, duration_s: float | None, tick_s: float) -> None:
        real_start = time.time()
        self._camera_origin = real_start  # setup time (catalogue, inventory) must not become a burst
        next_log = real_start + LOG_EVERY_S
        last = (real_start, 0, 0)
        while not self.stop.is_set():
            now = time.time()
            if duration_s is not None and now - real_start >= duration_s:
                break
            if self.stamp_simulated and self.clock.sim(now) > now:
                log.error("simulated time has caught up with the wall clock: readings would come from the future")
                break
            self._publish_readings(now)
            self._publish_cameras(now)
            if self.events is not None:
                stamp = self.clock.sim(now) if self.stamp_simulated else now
                self.counters.events += self.events.publish_due(self.client, self.clock.sim(now), stamp)
            if self.announcer is not None:
                self.announcer.refresh(now)
            if now >= next_log:
                readings, cameras = self.counters.readings, self.counters.cameras
                span = now - last[0]
                log.info(
                    "sim %s | readings %.1f msg/s, cameras %.0f msg/s | total %d readings, %d cameras, %d silenced, "
                    "%d dropped",
                    city_text(self.clock.sim(now), TimeFormat.MINUTE),
                    (readings - last[1]) / span,
                    (cameras - last[2]) / span,
                    readings,
                    cameras,
                    self.counters.silenced,
                    self.counters.dropped,
                )
                last = (now, readings, cameras)
                next_log += LOG_EVERY_S
            wake = now + tick_s
            if self._heap:
                wake = min(wake, self._heap[0][0])
            self.stop.wait(max(0.0, wake - time.time()))
