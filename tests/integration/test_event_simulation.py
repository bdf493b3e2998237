"""The simulated city drives the event hub, through the real processes (simulator, dispatcher, simulated departments)
on a real broker and Redis, 600 times faster than life: the fallen-branch story's report at 12:33 is dispatched to
the housing bureau, signed for, handled with a photo and closed by 14:39 without running late; the ordinary
arrivals around it become dispatched events that the simulated departments move through their lifecycle, a few late
enough to escalate; every step audited as simulated."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import cast

import pytest
import redis

from dispatch.model import Event, Status
from dispatch.simulate import ACTOR_PREFIX, CENTRE_ACTOR
from dispatch.store import get_events, history
from feeds.simulator.events import FALLEN_BRANCH, SIMULATED_PREFIX
from services.embedded import EmbeddedService
from signs.citytime import CITY_TZ, city_time
from signs.keys import KEY_EVENTS_ALL
from tests.dispatching import start_dispatcher
from tests.processes import ChildProcess, FeedProcess, feed_env, wait_for

pytestmark = pytest.mark.integration

SPEED = 600.0
START = datetime(2025, 10, 9, 12, 30, tzinfo=CITY_TZ)


def _events(client: redis.Redis) -> list[Event]:
    ids = cast(list[bytes], client.zrange(KEY_EVENTS_ALL, 0, -1))
    return get_events(client, [raw.decode() for raw in ids])


def test_the_simulated_city_drives_the_hub(
    redis_client: redis.Redis, redis_service: EmbeddedService, mqtt_service: EmbeddedService
) -> None:
    scale = {"DISPATCH_TIME_SCALE": str(SPEED)}
    dispatcher = start_dispatcher(redis_service.url, mqtt_service.url, "sim-hub", **scale)
    env = feed_env(redis_service.url, mqtt_service.url, **scale)
    departments = ChildProcess([sys.executable, "-m", "dispatch", "simulate"], env, "sim-departments")
    simulator: FeedProcess | None = None
    try:
        wait_for(lambda: redis_client.keys("ce:{events}:dispatcher:*"), 30, "the dispatcher up")
        simulator = FeedProcess(
            ["simulate", "--no-cameras", "--scenario", "fallen-branch", "--start", START.isoformat(),
             "--speed", str(SPEED), "--duration", "15"],
            env, "sim-city",
        )  # fmt: skip

        def branch() -> Event | None:
            found = [e for e in _events(redis_client) if e.source_ref == FALLEN_BRANCH.ref]
            return found[0] if found and found[0].status is Status.CLOSED else None

        event = wait_for(branch, 28, "the fallen branch closed")
        assert simulator.process is not None
        simulator.process.wait(15)
    finally:
        if simulator is not None:
            simulator.stop()
        departments.stop()
        dispatcher.stop()

    # The story: 市住建局 (the city's unit: 樊城 is a central district), in its limits, closed at 14:39.
    assert str(event.unit) == "D02" and event.location.district == "420606" and event.overdue == ()
    assert event.reporter == FALLEN_BRANCH.reporter and event.evidence
    steps = history(redis_client, event.id)
    assert [s["action"] for s in steps] == ["reported", "dispatched", "signed_for", "progress", "handled", "closed"]
    assert steps[2]["by"] == f"{ACTOR_PREFIX}D02" and steps[-1]["by"] == CENTRE_ACTOR
    assert event.closed_at is not None and event.handled_at is not None
    minutes = (event.closed_at - event.reported_at) * SPEED / 60
    closed_local = city_time(START.timestamp() + 3 * 60 + minutes * 60)
    assert closed_local.strftime("%H:%M") in ("14:38", "14:39", "14:40")

    # The ordinary city around it: many reports of every channel, dispatched and worked by simulated departments.
    simulated = [e for e in _events(redis_client) if e.reporter.startswith(SIMULATED_PREFIX)]
    assert len(simulated) > 60
    assert {e.source.value for e in simulated} >= {"grid", "hotline", "camera"}
    assert all(e.status is not Status.REPORTED for e in simulated if e.reported_at < event.reported_at + 10)
    statuses = {e.status for e in simulated}
    assert {Status.CLOSED, Status.SIGNED_FOR} <= statuses or {Status.CLOSED, Status.IN_PROGRESS} <= statuses
    assert any(e.escalations for e in simulated), "a few run late and escalate"
    actors = {s["by"] for e in simulated[:40] for s in history(redis_client, e.id)[2:]}
    assert actors and all(a.startswith(ACTOR_PREFIX) or a == "hub" for a in actors)
    assert "Traceback" not in departments.log() and "Traceback" not in dispatcher.log()
