"""The alert engine on real servers: MQTT publish -> feed worker -> readings stream -> engine -> alerts in Redis
and retained on MQTT; two engines, an engine killed mid-stream, officers' transitions, and the tick's rules with
an injected clock."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest
import redis

from alerts import store
from alerts.engine import ENGINE_PREFIX, AlertEngine
from alerts.escalation import Stage
from alerts.model import TOPIC_ALERTS, AlertStatus, Event, RuleKind, SilenceScope, alert_topic
from alerts.rules import value_rule
from config import Settings
from feeds.contract import encode_readings, topic
from feeds.mqtt import broker_address, new_client
from services.embedded import EmbeddedService
from signs.catalogue import catalogue
from signs.keys import KEY_LATEST, KEY_READINGS, Latest, alert_engine_key, pack_landed, worker_key
from signs.model import Direction, Level, MqttSource, Sign, level_of
from tests.alerting import stored_alert
from tests.processes import ChildProcess, run_cli, wait_for, wait_worker_ready

pytestmark = pytest.mark.integration
MIN, HOUR = 60.0, 3_600.0


def _breachable(count: int) -> list[Sign]:
    """MQTT-sourced threshold signs with a red bound."""
    signs = [
        s
        for s in catalogue().signs.values()
        if isinstance(s.source, MqttSource) and value_rule(s) is RuleKind.THRESHOLD and s.thresholds[3] is not None
    ]
    assert len(signs) >= count
    return signs[:count]


def _red_value(sign: Sign) -> float:
    """A value well into red, whichever way the sign goes."""
    red = sign.thresholds[3]
    assert red is not None
    value = red + abs(red) * 0.5 + 1.0 if sign.direction is Direction.HIGH_IS_BAD else red - abs(red) * 0.5 - 1.0
    assert level_of(value, sign.thresholds, sign.direction) is Level.RED
    return value


class AlertEngines:
    """`python -m alerts run --name N` children of one test, stopped at its end."""

    def __init__(self, env: dict[str, str], client: redis.Redis) -> None:
        self.env, self.client = env, client
        self.started: list[ChildProcess] = []

    def start(self, name: str, **settings: str) -> ChildProcess:
        env = {**self.env, **settings}
        argv = [sys.executable, "-m", "alerts", "run", "--name", name]
        engine = ChildProcess(argv, env, f"{env['MQTT_CLIENT_PREFIX']}-alerts-{name}")
        self.started.append(engine)
        wait_for(
            lambda: self.client.get(alert_engine_key(f"{ENGINE_PREFIX}-{name}")), 20, f"alert engine {name} to start"
        )
        return engine

    def stop_all(self) -> None:
        for engine in self.started:
            engine.stop()


@pytest.fixture
def engines(worker_env: dict[str, str], redis_client: redis.Redis) -> Iterator[AlertEngines]:
    started = AlertEngines(worker_env, redis_client)
    yield started
    started.stop_all()


class RetainedWatcher:
    """Follows cityeye/v1/alerts/#: the newest payload per topic, retained ones included."""

    def __init__(self, mqtt_url: str) -> None:
        self.payloads: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        host, port = broker_address(mqtt_url)
        self._client = new_client(f"test-alert-watch-{time.monotonic_ns()}", mqtt_url)
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_connect = lambda c, *_: c.subscribe(f"{TOPIC_ALERTS}/#", qos=1)
        self._client.connect(host, port)
        self._client.loop_start()
        assert self._subscribed.wait(10)

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.payloads[message.topic] = bytes(message.payload)

    def state(self, alert_id: str) -> dict | None:
        with self._lock:
            payload = self.payloads.get(alert_topic(alert_id))
        return json.loads(payload) if payload else None

    def saw_cleared(self, alert_id: str) -> bool:
        with self._lock:
            return self.payloads.get(alert_topic(alert_id)) == b""

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


@pytest.fixture
def watcher(mqtt_service: EmbeddedService) -> Iterator[RetainedWatcher]:
    follower = RetainedWatcher(mqtt_service.url)
    yield follower
    follower.close()


def _raised_alerts(client: redis.Redis) -> list[str]:
    return [t.alert_id for t in store.read_audit(client, count=100_000) if t.event is Event.RAISED]


# End to end ---------------------------------------------------------------------------------------------------


def test_a_reading_over_a_threshold_published_on_mqtt_raises_an_alert(
    feed_processes, worker_env, redis_client, publisher, engines, watcher
) -> None:
    feed_processes(["worker", "--name", "1"], worker_env, f"{worker_env['MQTT_CLIENT_PREFIX']}-worker")
    wait_worker_ready(redis_client, worker_env["MQTT_URL"], f"{worker_env['MQTT_CLIENT_PREFIX']}-1")
    engines.start("1")
    [sign] = _breachable(1)
    assert isinstance(sign.source, MqttSource)
    source = sign.source
    ts = time.time() - 1
    publisher.publish_all(
        [(topic(source.feed, source.adcode, source.source_id), encode_readings(ts, {source.field: _red_value(sign)}))]
    )

    [alert] = wait_for(lambda: store.list_active(redis_client), what="the alert in Redis")
    assert (alert.sign_id, alert.rule, alert.level, alert.status) == (
        sign.id,
        RuleKind.THRESHOLD,
        Level.RED,
        AlertStatus.RAISED,
    )
    assert alert.value == _red_value(sign) and alert.since == pytest.approx(ts)
    assert alert.threshold == sign.thresholds[3] and alert.district == source.adcode
    published = wait_for(lambda: watcher.state(alert.id), what="the retained alert state on MQTT")
    assert (published["status"], published["level"], published["sign_id"]) == ("raised", "red", sign.id)


def test_two_engines_one_active_never_raise_twice(engines, redis_client) -> None:
    for name in ("1", "2"):
        # One entry per read: a standby reading anything would show in its count.
        engines.start(name, ALERT_READ_COUNT="1")
    signs = _breachable(100)
    start = time.time() - 60
    with redis_client.pipeline(transaction=False) as pipe:
        for i in range(20):
            # Every entry holds every sign, so both engines keep writing the same rule states.
            pipe.xadd(KEY_READINGS, {"r": pack_landed((s.id, start + i, _red_value(s) + i) for s in signs)})
        pipe.execute()

    # Heartbeats (every 2 s) count the entries each engine acknowledged.
    wait_for(lambda: sum(_entries_per_engine(redis_client)) == 20, 30, "every entry handled")
    # The holder of the "alerts" lease reads the stream; the other stands by (test_failover_lease.py: it takes over).
    assert sorted(_entries_per_engine(redis_client)) == [0, 20], "the standby engine read entries too"
    raised = _raised_alerts(redis_client)
    assert len(raised) == len(set(raised)) == len(signs)
    assert sorted(a.sign_id for a in store.list_active(redis_client)) == sorted(s.id for s in signs)


def _entries_per_engine(client: redis.Redis) -> list[int]:
    beats = [client.get(alert_engine_key(f"{ENGINE_PREFIX}-{name}")) for name in ("1", "2")]
    return [json.loads(beat)["entries"] if beat else 0 for beat in beats]


def _fill_one_entry_per_sign(client: redis.Redis, signs: list[Sign]) -> None:
    start = time.time() - 60
    with client.pipeline(transaction=False) as pipe:
        for sign in signs:
            pipe.xadd(KEY_READINGS, {"r": pack_landed([(sign.id, start, _red_value(sign))])})
        pipe.execute()


@pytest.mark.parametrize("restart_as", ["1", "2"], ids=["same-name-takes-back", "other-engine-claims"])
def test_an_engine_killed_mid_stream_loses_no_alert(engines, redis_client, restart_as: str) -> None:
    settings = {"ALERT_READ_COUNT": "1", "ALERT_CLAIM_IDLE_S": "1"}
    first = engines.start("1", **settings)
    signs = _breachable(400)
    _fill_one_entry_per_sign(redis_client, signs)
    wait_for(lambda: len(store.list_active(redis_client)) > 20, 20, "the engine to be mid-stream")
    first.kill()
    assert len(store.list_active(redis_client)) < len(signs), "the kill came too late to prove anything"

    engines.start(restart_as, **settings)
    wait_for(lambda: len(store.list_active(redis_client)) == len(signs), 60, "every alert after the restart")
    wait_for(lambda: redis_client.xpending(KEY_READINGS, "alerts")["pending"] == 0, 20, "nothing left pending")
    raised = _raised_alerts(redis_client)
    assert len(raised) == len(set(raised)) == len(signs)


def test_officer_transitions_land_in_the_audit_stream_and_on_mqtt(engines, redis_client, watcher, worker_env) -> None:
    engines.start("1")
    [sign] = _breachable(1)
    redis_client.xadd(KEY_READINGS, {"r": pack_landed([(sign.id, time.time() - 1, _red_value(sign))])})
    [alert] = wait_for(lambda: store.list_active(redis_client), what="the alert")
    wait_for(lambda: watcher.state(alert.id), what="the raised state on MQTT")

    acked = run_cli("alerts", "ack", alert.id, "--user", "wang", "--note", "crew sent", "--json", env=worker_env)
    assert acked.returncode == 0, acked.stderr
    assert json.loads(acked.stdout)["status"] == "acknowledged"
    published = wait_for(
        lambda: (s := watcher.state(alert.id)) and s["status"] == "acknowledged" and s, what="ack on MQTT"
    )
    assert published["acknowledged"]["by"] == "wang" and published["acknowledged"]["note"] == "crew sent"

    refused = run_cli("alerts", "ack", alert.id, "--user", "li", env=worker_env)
    assert refused.returncode == 4 and "refused" in refused.stderr

    store.resolve(redis_client, alert.id, "wang", "drain cleared")
    wait_for(lambda: watcher.saw_cleared(alert.id), what="the retained state removed once closed")
    late = RetainedWatcher(worker_env["MQTT_URL"])
    try:
        time.sleep(0.5)  # a retained message arrives right after subscribing; there must be none
        assert late.state(alert.id) is None
    finally:
        late.close()

    audit = [t for t in store.read_audit(redis_client) if t.alert_id == alert.id]
    assert [(t.event, t.by, t.note) for t in audit] == [
        (Event.RAISED, "engine", ""),
        (Event.ACKNOWLEDGED, "wang", "crew sent"),
        (Event.RESOLVED, "wang", "drain cleared"),
    ]
    assert [t.event for t in store.history(redis_client, alert.id)] == [t.event for t in audit]
    assert store.list_active(redis_client) == []


# The tick's rules, in-process with an injected clock ----------------------------------------------------------


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clocked(redis_service: EmbeddedService, redis_client: redis.Redis) -> tuple[Callable[..., AlertEngine], FakeClock]:
    clock = FakeClock(time.time())

    def make(**overrides: object) -> AlertEngine:
        settings = Settings(redis_url=redis_service.url, **overrides)  # type: ignore[arg-type]
        engine = AlertEngine(settings, client=redis_client, clock=clock)
        engine.join_group()
        return engine

    return make, clock


def _land(client: redis.Redis, engine: AlertEngine, sign: Sign, value: float, ts: float) -> None:
    """What a feed worker does for one reading (latest value and stream entry), then one engine read."""
    client.hset(KEY_LATEST, sign.id, f"{ts!r}|{Latest(value, ts, ts).encode_rest()}")
    client.xadd(KEY_READINGS, {"r": pack_landed([(sign.id, ts, value)])})
    engine.read_new(100)


def test_an_unacknowledged_alert_escalates_at_30_minutes(clocked, redis_client) -> None:
    make, clock = clocked
    engine = make()
    [sign] = _breachable(1)
    _land(redis_client, engine, sign, _red_value(sign), clock.now)
    [alert] = store.list_active(redis_client)
    clock.now = alert.raised_at + 29 * MIN
    engine.tick()
    assert stored_alert(redis_client, alert.id).escalation == Stage.NONE
    clock.now = alert.raised_at + 30 * MIN
    engine.tick()
    escalated = stored_alert(redis_client, alert.id)
    assert escalated.escalation == Stage.RESPONSE
    assert store.history(redis_client, alert.id)[-1].note == "response overdue"


def test_silenced_alerts_are_recorded_and_shown_but_not_escalated(clocked, redis_client) -> None:
    make, clock = clocked
    engine = make()
    [sign] = _breachable(1)
    assert isinstance(sign.source, MqttSource)
    district = sign.source.adcode
    hush = store.silence(
        redis_client, SilenceScope.DISTRICT, district, clock.now + HOUR, "pump maintenance", "li", now=clock.now
    )
    _land(redis_client, engine, sign, _red_value(sign), clock.now)
    [alert] = store.list_active(redis_client)
    assert alert.silence is not None and alert.silence.id == hush.id

    clock.now += 45 * MIN
    engine.tick()
    assert stored_alert(redis_client, alert.id).escalation == Stage.NONE
    clock.now += 16 * MIN  # the silence has ended: expired by the tick, then escalated
    engine.tick()
    after = stored_alert(redis_client, alert.id)
    assert after.silence is None and after.escalation == Stage.RESPONSE
    events = [t.event for t in store.read_audit(redis_client)]
    assert events.index(Event.SILENCE_EXPIRED) < events.index(Event.UNSILENCED) < events.index(Event.ESCALATED)
    assert store.list_silences(redis_client, now=clock.now) == []


def test_a_silence_marks_alerts_already_open_and_can_be_lifted(clocked, redis_client) -> None:
    make, clock = clocked
    engine = make()
    [sign] = _breachable(1)
    _land(redis_client, engine, sign, _red_value(sign), clock.now)
    hush = store.silence(redis_client, "sign", sign.id, clock.now + HOUR, "sensor recalibration", "li", now=clock.now)
    [alert] = store.list_active(redis_client)
    assert alert.silence is not None and alert.silence.reason == "sensor recalibration"
    store.lift_silence(redis_client, hush.id, "li", now=clock.now + MIN)
    assert stored_alert(redis_client, alert.id).silence is None
    with pytest.raises(store.SilenceNotFound):
        store.lift_silence(redis_client, hush.id, "li")
    with pytest.raises(ValueError):
        store.silence(redis_client, "district", "999999", clock.now + HOUR, "x", "li", now=clock.now)


def _feed_worker_alive(client: redis.Redis) -> None:
    client.set(worker_key("cityeye-feed-test"), "{}", ex=600)


def test_a_silent_sensor_raises_no_data_and_clears_when_heard(clocked, redis_client) -> None:
    make, clock = clocked
    engine = make(alert_nodata_cadences=3.0)
    _feed_worker_alive(redis_client)
    [sign] = _breachable(1)
    _land(redis_client, engine, sign, 1.0, clock.now)
    engine.tick()  # the ingest is seen up from now
    clock.now += 3 * sign.cadence_s + 1
    engine.tick()
    [silent] = store.list_active(redis_client)
    assert (silent.rule, silent.sign_id, silent.level, silent.threshold) == (
        RuleKind.NO_DATA,
        sign.id,
        Level.BLUE,
        None,
    )
    engine.tick()
    assert len(store.list_active(redis_client)) == 1  # one alert while it stays silent

    _land(redis_client, engine, sign, 1.0, clock.now)
    engine.tick()
    assert stored_alert(redis_client, silent.id).status is AlertStatus.CLEARED  # open until acknowledged


def test_an_ingest_outage_is_not_a_no_data_alert_per_sensor(clocked, redis_client) -> None:
    make, clock = clocked
    engine = make(alert_nodata_cadences=3.0)
    [sign] = _breachable(1)
    _land(redis_client, engine, sign, 1.0, clock.now)
    clock.now += 10 * sign.cadence_s
    engine.tick()  # no feed worker alive: the wall's banner says so, no alert per sensor
    assert store.list_active(redis_client) == []
    _feed_worker_alive(redis_client)
    engine.tick()  # the workers are back: every sensor gets its full limit from now
    assert store.list_active(redis_client) == []
    clock.now += 3 * sign.cadence_s + 1
    engine.tick()
    assert [a.rule for a in store.list_active(redis_client)] == [RuleKind.NO_DATA]


def test_a_cleared_alert_stays_visible_until_acknowledged(clocked, redis_client) -> None:
    make, clock = clocked
    engine = make(alert_clear_after_s=0.0)
    [sign] = _breachable(1)
    _land(redis_client, engine, sign, _red_value(sign), clock.now - 10)
    _land(redis_client, engine, sign, 0.0, clock.now)
    [alert] = store.list_active(redis_client)
    assert alert.status is AlertStatus.CLEARED
    store.acknowledge(redis_client, alert.id, "wang", "saw it after the fact")
    assert store.list_active(redis_client) == []
    assert store.list_recent(redis_client)[0].status is AlertStatus.CLOSED


def test_resolving_while_the_condition_holds_does_not_raise_again_until_it_rises(clocked, redis_client) -> None:
    make, clock = clocked
    engine = make()
    [sign] = _breachable(1)
    yellow, red = sign.thresholds[1], sign.thresholds[3]
    assert yellow is not None and red is not None
    _land(redis_client, engine, sign, yellow, clock.now - 20)
    [alert] = store.list_active(redis_client)
    store.resolve(redis_client, alert.id, "wang", "known, crews on site")
    _land(redis_client, engine, sign, yellow, clock.now - 10)
    assert store.list_active(redis_client) == []
    _land(redis_client, engine, sign, red, clock.now)
    [again] = store.list_active(redis_client)
    assert again.id != alert.id and again.level is Level.RED
