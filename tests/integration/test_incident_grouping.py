"""Incidents on the real pipeline: MQTT publish -> feed worker -> readings stream -> alert engine (a child
process) -> alerts grouped into incidents in Redis; one acknowledgement of the incident acknowledges every
member, each with its own audit entry."""

from __future__ import annotations

import sys
import time
from collections import defaultdict

import pytest
import redis

from alerts import store
from alerts.engine import ENGINE_PREFIX
from alerts.model import AlertStatus, Event
from feeds.contract import encode_readings, topic
from signs.catalogue import catalogue
from signs.keys import alert_engine_key
from signs.model import MqttSource
from tests.processes import ChildProcess, wait_for, wait_worker_ready

pytestmark = pytest.mark.integration

NANZHANG = "420624"
SIGNALS = {"XY.S.M13.S48.sig:rainstorm": 4.0, "XY.S.M13.S48.dist:420624": 4.0}  # a red rainstorm signal
# 南漳's rain gauges, its 3-hour rain, a reservoir station (no district of its own) and the district's count of
# reservoirs over their flood limit, all into red; and a power outage there, which is not the rain's.
STORM = {
    "XY.S.M13.S45.stn:AWS13": 90.0,
    "XY.S.M13.S45.stn:AWS14": 85.0,
    "XY.S.M13.S45.stn:AWS15": 80.0,
    "XY.S.M13.S45.rain3h:420624": 130.0,
    "XY.T.M08.T27.res:R01": 165.0,
    "XY.T.M08.T27.dist:420624": 10.0,
}
OUTAGE = {"XY.T.M05.T18.dist:420624": 60_000.0}


def _messages(values: dict[str, float], ts: float) -> list[tuple[str, bytes]]:
    """One SenML pack per source, as the city's systems publish them."""
    fields: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
    for sign_id, value in values.items():
        source = catalogue().signs[sign_id].source
        assert isinstance(source, MqttSource)
        fields[(source.feed, source.adcode, source.source_id)][source.field] = value
    return [(topic(*where), encode_readings(ts, readings)) for where, readings in fields.items()]


def _open_by_sign(client: redis.Redis) -> dict[str, str]:
    return {a.sign_id: a.incident for a in store.list_active(client)}


def test_a_rainstorms_alerts_in_nanzhang_form_one_incident_acknowledged_at_once(
    feed_processes, worker_env, redis_client, publisher
) -> None:
    feed_processes(["worker", "--name", "1"], worker_env, f"{worker_env['MQTT_CLIENT_PREFIX']}-worker")
    wait_worker_ready(redis_client, worker_env["MQTT_URL"], f"{worker_env['MQTT_CLIENT_PREFIX']}-1")
    argv = [sys.executable, "-m", "alerts", "run", "--name", "1"]
    engine = ChildProcess(argv, worker_env, f"{worker_env['MQTT_CLIENT_PREFIX']}-alerts-1")
    try:
        wait_for(lambda: redis_client.get(alert_engine_key(f"{ENGINE_PREFIX}-1")), 20, "the alert engine")
        publisher.publish_all(_messages(SIGNALS, time.time() - 2))
        wait_for(lambda: set(SIGNALS) <= set(_open_by_sign(redis_client)), what="the rainstorm signal's alerts")
        publisher.publish_all(_messages(STORM | OUTAGE, time.time() - 1))
        wanted = set(SIGNALS) | set(STORM) | set(OUTAGE)

        def every_alert() -> dict[str, str] | None:
            by_sign = _open_by_sign(redis_client)
            return by_sign if wanted <= set(by_sign) else None

        by_sign = wait_for(every_alert, what="every alert")
    finally:
        engine.stop()

    # The signal issued for the city groups in the city; 南漳's own signal, rain and reservoirs in one incident.
    storm_incident = by_sign["XY.S.M13.S48.dist:420624"]
    assert {by_sign[s] for s in STORM} == {storm_incident}
    assert by_sign["XY.S.M13.S48.sig:rainstorm"] != storm_incident
    assert by_sign["XY.T.M05.T18.dist:420624"] not in ("", storm_incident)
    incident = store.get_incident(redis_client, storm_incident)
    assert incident is not None
    assert (incident.district, incident.incident.cause, incident.count) == (
        NANZHANG,
        "signal:rainstorm",
        1 + len(STORM),
    )
    assert incident.title("zh") == f"南漳县 · 暴雨 · {1 + len(STORM)} 条告警"
    assert incident.status is AlertStatus.RAISED and incident.level.en == "red"
    listed = store.list_incidents(redis_client, district=NANZHANG)
    assert storm_incident in [i.id for i in listed] and len(listed) == 2  # the rain's and the power cut's

    done = store.acknowledge_incident(redis_client, storm_incident, "duty1", "crews sent to 南漳")
    assert done.status is AlertStatus.ACKNOWLEDGED
    members = store.get_alerts(redis_client, list(incident.incident.members))
    assert all(a.acknowledged is not None and a.acknowledged.by == "duty1" for a in members)
    acks = [t for t in store.read_audit(redis_client) if t.event is Event.ACKNOWLEDGED]
    # One audit entry per member, each naming the incident and carrying the one note; nothing else acknowledged.
    assert sorted(t.alert_id for t in acks) == sorted(incident.incident.members)
    assert {(t.by, t.note, t.incident_id) for t in acks} == {("duty1", "crews sent to 南漳", storm_incident)}
    outage = store.get_alert(redis_client, next(a.id for a in store.list_active(redis_client) if a.sign_id in OUTAGE))
    assert outage is not None and outage.acknowledged is None
    with pytest.raises(ValueError):  # nothing left to acknowledge: refused, not a second round of entries
        store.acknowledge_incident(redis_client, storm_incident, "duty1", "again")
    timeline = [e.event.value for e in store.incident_timeline(redis_client, storm_incident)]
    assert timeline == ["opened"] + ["joined"] * len(STORM) + ["acknowledged"]
