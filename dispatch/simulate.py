"""`python -m dispatch simulate`: simulated departments and a simulated centre working the simulator's events.

For every event the simulator reported (its reporter starts with feeds.simulator.events.SIMULATED_PREFIX) and the
hub dispatched, a plan: the lead unit signs for it, notes progress, handles it (with a note, and a generated photo
where the type needs one) and the centre verifies and closes it, with realistic delays drawn from the event's id
(most within the type's limits, LATE_SHARE of the response and of the handling late, so that escalation is seen;
RETURN_SHARE returned once as not theirs and dispatched again by the centre). The stories' events follow their
scripts (feeds/simulator/events.py STORY_EVENTS). Delays are simulated time, played at the event's own time scale
(its limits against its type's: DISPATCH_TIME_SCALE, which `make run SPEED=` sets to the simulator's speed).

Every step goes through dispatch.hub like a person's, as `simulated:{unit}` (the centre: `simulated:CTR`), with
notes that say （模拟）: the audit, the duty log and the wall show what was simulated. Events filed by people
(Open311, officers, alerts) are never touched, and a plan is dropped as soon as someone else acts on its event.
"""

from __future__ import annotations

import heapq
import json
import logging
import signal
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Any, cast

import redis

from config import Settings
from dispatch import hub
from dispatch.evidence import EvidenceError, evidence_for_handle, store_photo
from dispatch.library import CENTRE, Library, library
from dispatch.lifecycle import ALLOWED_FROM, LifecycleError
from dispatch.model import Event, Status
from dispatch.store import UnknownEvent, get_event, list_open
from feeds.simulator.events import SIMULATED_PREFIX, STORY_SCRIPTS, ScriptStep
from feeds.simulator.noise import hash01, text_key
from signs.keys import KEY_EVENTS_AUDIT, event_history_key
from signs.store import open_redis

log = logging.getLogger("cityeye.dispatch.simulate")

ACTOR_PREFIX = "simulated:"
CENTRE_ACTOR = f"{ACTOR_PREFIX}{CENTRE}"
LATE_SHARE = 0.05  # of the responses, and of the handlings, that run past their limit (events-reference.md §7.2)
RETURN_SHARE = 0.03  # returned once (退单) before signing for
MINUTE = 60.0
_AUDIT_BLOCK_MS = 200
_LOG_EVERY_S = 30.0


@dataclass(frozen=True, slots=True, order=True)
class PlannedStep:
    at: float  # wall-clock time it is due
    event_id: str
    action: str  # sign_for, progress, handle, close, return, dispatch (the centre again, after a return)
    note: str
    by: str


def is_simulated(event: Event) -> bool:
    return event.reporter.startswith(SIMULATED_PREFIX)


def time_scale(event: Event, library: Library) -> float:
    """How many times shorter the event's limits are than its type's: its simulated time runs that much faster."""
    return library.types[event.type_code].limits.response_s / event.limits.response_s


def _between(low: float, high: float, roll: float) -> float:
    return low + (high - low) * roll


def plan_for(event: Event, library: Library) -> list[PlannedStep]:
    """The steps the simulated departments and centre take on a dispatched event, due times on the wall clock;
    nothing for an event that is not the simulator's or not dispatched."""
    if not is_simulated(event) or event.status is not Status.DISPATCHED or event.dispatched_at is None:
        return []
    scale = time_scale(event, library)
    unit_actor = f"{ACTOR_PREFIX}{event.unit}"
    script = STORY_SCRIPTS.get(event.source_ref)
    if script is not None:
        return [_scripted(event, step, scale, unit_actor) for step in script]
    key = text_key(event.id)
    event_type = library.types[event.type_code]
    limits = event_type.limits  # simulated seconds; the wall clock runs `scale` times faster
    start = event.dispatched_at

    def at(sim_s: float) -> float:
        return start + sim_s / scale

    if event.returns == 0 and hash01(key, 1) < RETURN_SHARE:
        returned = limits.response_s * _between(0.1, 0.5, hash01(key, 2))
        again = returned + _between(3, 15, hash01(key, 3)) * MINUTE
        return [
            PlannedStep(at(returned), event.id, "return", "（模拟）经核实不属本单位职责范围，申请退单", unit_actor),
            PlannedStep(at(again), event.id, "dispatch", "（模拟）市城运中心核实后重新派单", CENTRE_ACTOR),
        ]
    late_response = hash01(key, 4) < LATE_SHARE
    signed = limits.response_s * (
        _between(1.2, 2.5, hash01(key, 5)) if late_response else _between(0.08, 0.85, hash01(key, 5))
    )
    late_handling = hash01(key, 6) < LATE_SHARE
    handled = limits.handling_s * (
        _between(1.1, 2.0, hash01(key, 7)) if late_handling else _between(0.3, 0.9, hash01(key, 7))
    )
    handled = max(handled, signed + 5 * MINUTE)
    closed = handled + _between(5, 90, hash01(key, 8)) * MINUTE
    steps = [PlannedStep(at(signed), event.id, "sign_for", "（模拟）已签收，安排人员处置", unit_actor)]
    if handled - signed > 20 * MINUTE:
        progressed = signed + (handled - signed) * _between(0.2, 0.5, hash01(key, 9))
        steps.append(PlannedStep(at(progressed), event.id, "progress", "（模拟）处置人员已到场处置", unit_actor))
    steps += [
        PlannedStep(at(handled), event.id, "handle", f"（模拟）已处置完毕：{event_type.closure}", unit_actor),
        PlannedStep(at(closed), event.id, "close", "（模拟）市城运中心核查属实，予以结案", CENTRE_ACTOR),
    ]
    return steps


def _scripted(event: Event, step: ScriptStep, scale: float, unit_actor: str) -> PlannedStep:
    by = CENTRE_ACTOR if step.action == "close" else unit_actor
    return PlannedStep(event.reported_at + step.after_s / scale, event.id, step.action, step.note, by)


def sample_photo(seed: int, width: int = 64, height: int = 48) -> bytes:
    """A small generated PNG standing for a handler's photo of the result: sky, ground and a stripe, coloured by
    the seed (a few hundred bytes)."""
    tint = int(hash01(seed, 1) * 120)
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # no filter
        for x in range(width):
            if abs(x - y - width // 4) < 3:
                pixel = (230, 200, 40)
            elif y < height // 3:
                pixel = (110 + tint // 2, 160, 220)
            else:
                pixel = (60 + tint // 3, 120 + tint // 2, 60)
            rows += bytes(pixel)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


class HandlerSimulator:
    """Follows the events' audit, plans each simulated event once dispatched, takes the steps when they are due."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self._redis = client
        self._settings = settings
        self._library = library()
        self._heap: list[PlannedStep] = []
        self._plans: dict[str, tuple[PlannedStep, ...]] = {}  # event id -> its plan (a replaced plan's steps go stale)
        self.stop_event = threading.Event()
        self.counts = {"planned": 0, "steps": 0, "skipped": 0, "dropped": 0}

    def _plan(self, event: Event) -> None:
        steps = tuple(plan_for(event, self._library))
        if not steps:
            return
        self._plans[event.id] = steps
        for step in steps:
            heapq.heappush(self._heap, step)
        self.counts["planned"] += 1

    def catch_up(self) -> str:
        """Plan the open simulated events that wait for a step (after a restart); returns the audit id to follow
        from."""
        newest = cast(list[Any], self._redis.xrevrange(KEY_EVENTS_AUDIT, count=1))
        cursor = newest[0][0].decode() if newest else "0-0"
        for event in list_open(self._redis):
            if is_simulated(event):
                self._replan(event)
        return cursor

    def _replan(self, event: Event) -> None:
        """A plan from wherever the event is: its remaining steps from its state on (due ones at once)."""
        if event.status is Status.DISPATCHED:
            self._plan(event)
            return
        if event.dispatched_at is None:
            return
        steps = plan_for(event.with_changes(status=Status.DISPATCHED), self._library)
        order = [s.action for s in steps]
        if event.status is Status.IN_PROGRESS and "handle" in order:
            steps = steps[order.index("handle") :]
        elif event.status is Status.SIGNED_FOR and "sign_for" in order:
            steps = steps[order.index("sign_for") + 1 :]
        elif event.status is Status.HANDLED and "close" in order:
            steps = steps[order.index("close") :]
        elif event.status is Status.RETURNED and "dispatch" in order:
            steps = steps[order.index("dispatch") :]
        else:
            return
        self._plans[event.id] = tuple(steps)
        for step in steps:
            heapq.heappush(self._heap, step)

    def follow(self, cursor: str, block_ms: int = _AUDIT_BLOCK_MS) -> str:
        """Plan the simulated events dispatched since `cursor`; returns the new cursor."""
        wait = max(0, min(block_ms, int((self._heap[0].at - time.time()) * 1000))) if self._heap else block_ms
        reply: Any = self._redis.xread({KEY_EVENTS_AUDIT: cursor}, count=500, block=wait or None)
        if not reply:
            return cursor
        for entry_id, fields in reply[0][1]:
            cursor = entry_id.decode()
            if fields.get(b"action") != b"dispatched":
                continue
            event = get_event(self._redis, fields[b"event_id"].decode())
            if event is not None and is_simulated(event) and event.status is Status.DISPATCHED:
                self._plan(event)
        return cursor

    def _taken_over(self, event_id: str) -> bool:
        """Someone who is not simulated acted on the event last (a person signed for it, an officer stepped in)."""
        raw = cast(list[bytes], self._redis.lrange(event_history_key(event_id), -1, -1))
        if not raw:
            return True
        by = json.loads(raw[0]).get("by", "")
        return not (by.startswith(ACTOR_PREFIX) or by == hub.HUB or by.startswith(SIMULATED_PREFIX))

    def take_due(self, now: float) -> int:
        done = 0
        while self._heap and self._heap[0].at <= now:
            step = heapq.heappop(self._heap)
            if step not in self._plans.get(step.event_id, ()):
                continue  # from a plan replaced since (dispatched again)
            done += self._take(step)
        return done

    def _drop(self, event_id: str) -> None:
        self._plans.pop(event_id, None)
        self.counts["dropped"] += 1

    def _take(self, step: PlannedStep) -> int:
        event = get_event(self._redis, step.event_id)
        if event is None or not event.status.is_open:
            self._plans.pop(step.event_id, None)
            return 0
        if event.status not in ALLOWED_FROM[step.action]:  # moved on without this step
            self.counts["skipped"] += 1
            return 0
        if self._taken_over(event.id):
            self._drop(event.id)
            return 0
        now = time.time()
        lib = self._library
        try:
            if step.action == "dispatch":
                department = lib.types[event.type_code].departments[0]
                hub.dispatch_by_hand(self._redis, event.id, lib, department, step.by, step.note, now)
            elif step.action == "handle":
                hub.act(self._redis, event.id, "handle", lib, step.by, now, note=step.note,
                        evidence=self._evidence(event))  # fmt: skip
            else:
                hub.act(self._redis, event.id, step.action, lib, step.by, now, note=step.note)
        except (LifecycleError, UnknownEvent, EvidenceError) as error:
            log.info("%s %s: %s", step.action, event.id, error)
            self._drop(event.id)
            return 0
        if step.action == "close":
            self._plans.pop(event.id, None)
        self.counts["steps"] += 1
        return 1

    def _evidence(self, event: Event) -> tuple[str, ...]:
        """A generated photo of the result, uploaded like a handler's, where the type needs one."""
        if not self._library.types[event.type_code].evidence.needs_media:
            return ()
        settings = self._settings
        store_photo(
            self._redis, event.id, sample_photo(text_key(event.id)), max_bytes=settings.evidence_photo_max_bytes,
            per_event=settings.evidence_photos_per_event, keep_s=settings.evidence_retention_days * 86_400,
        )  # fmt: skip
        return evidence_for_handle(self._redis, event.id, ())

    def run(self) -> None:
        cursor = self.catch_up()
        log.info("simulated departments: %d open simulated events planned", len(self._plans))
        next_log = time.time() + _LOG_EVERY_S
        while not self.stop_event.is_set():
            try:
                cursor = self.follow(cursor)
                self.take_due(time.time())
            except redis.RedisError as error:
                log.error("Redis failed, retrying: %s", error)
                self.stop_event.wait(1.0)
            if time.time() >= next_log:
                log.info("simulated departments: %s, %d steps pending", self.counts, len(self._heap))
                next_log += _LOG_EVERY_S


def run_handlers(settings: Settings) -> None:
    simulator = HandlerSimulator(open_redis(settings.redis_url, timeout_s=10), settings)

    def _stop(_signum: int, _frame: object) -> None:
        simulator.stop_event.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    simulator.run()
