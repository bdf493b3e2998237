"""The first start's week of history, through the real command line into a real Redis: six hours of it here."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import redis

from feeds.simulator.values import prepare, values_at
from services.embedded import EmbeddedService
from signs.catalogue import catalogue
from signs.keys import KEY_HISTORY_BACKFILL, KEY_LATEST, KEY_READINGS
from signs.model import Derivation, DeriveOp, HubSource, MqttSource, derive_value
from signs.store import read_history

pytestmark = pytest.mark.integration

WINDOW_S = 6 * 3_600.0


def _simulate_with_backfill(redis_service: EmbeddedService, mqtt_service: EmbeddedService) -> str:
    env = {**os.environ, "REDIS_URL": redis_service.url, "MQTT_URL": mqtt_service.url}
    done = subprocess.run(
        [sys.executable, "-m", "feeds", "simulate", "--backfill", "6h", "--no-cameras", "--duration", "0.5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_a_backfill_fills_every_signs_history_once(
    redis_client: redis.Redis, redis_service: EmbeddedService, mqtt_service: EmbeddedService
) -> None:
    log = _simulate_with_backfill(redis_service, mqtt_service)
    assert "history backfilled" in log
    marker = json.loads(redis_client.get(KEY_HISTORY_BACKFILL) or b"{}")
    start, end = marker["start"], marker["end"]
    assert end - start == WINDOW_S
    cat = catalogue()
    prepare(cat)

    # A sensor: one point per cadence over the window, the value model's values at those moments (speed 1: the
    # stamps are the simulated times).
    sensor = next(s for s in cat.signs.values() if isinstance(s.source, MqttSource) and s.cadence_s == 60.0)
    points = read_history(redis_client, sensor.id, start, end)
    assert len(points) == WINDOW_S / 60.0
    assert np.all(np.diff(points["ts"]) == 60.0) and points["ts"][0] >= start and points["ts"][-1] < end
    assert points["value"].tolist() == values_at(sensor, points["ts"]).tolist()

    # Every sign the roll-up derives from sensors has history, and a district/city aggregate is its derivation of
    # its inputs' points. Camera signs and the event hub's signs (computed from real events, of which the week
    # before the start has none) are not the value model's.
    derivations = {s.id: s.source for s in cat.signs.values() if isinstance(s.source, Derivation)}
    camera_ops = (DeriveOp.CAMERA_ONLINE_RATE, DeriveOp.CAMERA_ONLINE_COUNT)
    not_modelled = {i for i, d in derivations.items() if d.op in camera_ops}
    not_modelled |= {s.id for s in cat.signs.values() if isinstance(s.source, HubSource)}
    from_sensors = [i for i, d in derivations.items() if i not in not_modelled and not set(d.inputs) & not_modelled]
    assert from_sensors
    assert [i for i in from_sensors if not len(read_history(redis_client, i, start, end))] == []
    sums = [i for i in from_sensors if derivations[i].op is DeriveOp.SUM and len(derivations[i].inputs) > 3]
    aggregate = cat.signs[sums[0]]
    source = derivations[aggregate.id]
    last = read_history(redis_client, aggregate.id, start, end)[-1]
    inputs = [read_history(redis_client, i, start, float(last["ts"])) for i in source.inputs]
    assert last["ts"] == max(float(p["ts"][-1]) for p in inputs)
    assert last["value"] == derive_value(source.op, [float(p["value"][-1]) for p in inputs])

    # History only: no latest values, nothing for the alert engine to evaluate.
    assert not redis_client.exists(KEY_READINGS) and not redis_client.hlen(KEY_LATEST)

    # A second start skips it: nothing appended.
    sizes = {s.id: len(read_history(redis_client, s.id, start, end)) for s in (sensor, aggregate)}
    log = _simulate_with_backfill(redis_service, mqtt_service)
    assert "history backfill skipped" in log
    assert {s.id: len(read_history(redis_client, s.id, start, end)) for s in (sensor, aggregate)} == sizes
    assert json.loads(redis_client.get(KEY_HISTORY_BACKFILL) or b"{}") == marker
