"""A simulated hour of a normal working day through the real processes (simulator -> broker -> feed worker -> Redis
-> roll-up -> alert engine): every alert raised is explained by an incident the simulator injected, none is red, and
the injected incident of that hour raises its alert. The shortened bench/alert_truth.py, with the same scoring.

The camera fleet stays out (--no-cameras): camera signs warm up for a real heartbeat period (60 s), longer than
this test runs, so they could raise nothing here; the bench covers them over whole days.
"""

from __future__ import annotations

import time

import pytest

from bench.alert_truth import ground_truth, past_days, raised_on_the_simulated_clock, replay, score
from config import Settings
from feeds import simulator as sim
from services.embedded import EmbeddedService
from signs.catalogue import catalogue
from signs.model import BoundsKind, Level
from tests.processes import LOG_DIR

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SPEED = 150.0  # a simulated hour in 24 real seconds


def _hour_with_an_incident(day: float) -> tuple[float, sim.Incident]:
    """The first hour of the day holding a whole incident on a sign reporting at least every 5 minutes."""
    cat = catalogue()
    for incident in sim.incidents_between(cat, day, day + 86_400.0):
        sign = cat.signs[incident.sign_id]
        if (
            sign.cadence_s <= 300
            and sign.bounds is not BoundsKind.FIRST_OCCURRENCE
            and incident.end - incident.start <= 2_400
        ):
            return incident.start - 600.0, incident
    raise AssertionError("the simulated day has no incident to test with")


def test_a_normal_simulated_hour_raises_only_what_was_injected(
    redis_service: EmbeddedService, mqtt_service: EmbeddedService
) -> None:
    cat = catalogue()
    weekday, _ = past_days(time.time())
    start, incident = _hour_with_an_incident(weekday)
    run = replay(redis_service.url, mqtt_service.url, start, 1.0, SPEED, None, LOG_DIR, cameras=False,
                 tag="alert-truth")  # fmt: skip
    assert run.evaluated > 1_000, "the pipeline carried no readings to the alert engine"
    raised, left_out = raised_on_the_simulated_clock(cat, run, Settings(), start + 3_600.0)
    assert left_out == []
    result = score(cat, raised, ground_truth(cat, run.state, start, start + 3_600.0, None))
    unexplained = [r.alert.sign_id for r in raised if result.explained[r.alert.id] is None]
    assert unexplained == [], f"alerts no injected incident explains: {unexplained}"
    assert all(r.alert.peak_level < Level.RED for r in raised)
    assert len(raised) <= 30
    hit = next(found for cause, found in result.recalled.items() if cause.sign_id == incident.sign_id)
    assert hit is not None, f"the injected incident on {incident.sign_id} raised no alert"
    assert hit.alert.level == incident.level or hit.alert.peak_level == incident.level
