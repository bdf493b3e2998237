"""The broker's ACL as City Eye ships it (deploy/mosquitto/acl), on a real mosquitto with accounts: a field system
publishes under its own feed and nowhere else (a fake alert state is refused by the broker); nobody connects without
an account; and what arrives on an owned topic unsigned anyway (from an account that may publish there) is
dead-lettered by the feed worker, never taken for real. make run's own services work the same way."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
import redis

from alerts.model import alert_topic
from config import Settings
from feeds.contract import Reason, encode_readings, topic
from feeds.mqtt import broker, broker_address, connack, new_client
from feeds.sink import read_deadletter_counts, read_deadletters
from services.__main__ import child_env, resolve_services, write_env_file
from services.embedded import CITYEYE_ACCOUNT, EmbeddedService, start_broker
from signs.store import open_redis
from tests.processes import feed_env, wait_for, wait_worker_ready

pytestmark = pytest.mark.integration
FIELD_ACCOUNT = "field-weather"
STATION = topic("weather", "420606", "AWS07")
NOT_AUTHORISED = 0x87  # MQTT 5 PUBACK reason codes: below 0x80 accepted (0x10: accepted, nobody subscribed)


@pytest.fixture(scope="module")
def acl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedService]:
    accounts = {CITYEYE_ACCOUNT: secrets.token_urlsafe(24), FIELD_ACCOUNT: secrets.token_urlsafe(24)}
    service = start_broker(tmp_path_factory.mktemp("mqtt-acl"), accounts=accounts)
    if service.kind != "mosquitto":
        service.stop()
        pytest.skip("accounts and ACLs need mosquitto (amqtt, the fallback, has neither)")
    yield service
    service.stop()


def _field_system(url: str) -> mqtt.Client:
    """An outside system's own MQTT 5 client (not City Eye's code), which hears the broker's PUBACK reason codes."""
    target = broker(url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-field-{time.monotonic_ns()}",
                         protocol=mqtt.MQTTv5)  # fmt: skip
    client.username_pw_set(target.username, target.password)
    client.connect(target.host, target.port)
    return client


def _puback(client: mqtt.Client, topic_name: str, payload: bytes, retain: bool = False) -> int:
    """Publish at QoS 1 and return the reason code of the broker's PUBACK."""
    codes: dict[int, int] = {}
    done = threading.Event()

    def on_publish(_c: mqtt.Client, _u: object, mid: int, reason_code: mqtt.ReasonCode, _p: object) -> None:
        codes[mid] = reason_code.value
        done.set()

    client.on_publish = on_publish
    info = client.publish(topic_name, payload, qos=1, retain=retain)
    assert done.wait(10), "no PUBACK"
    return codes[info.mid]


def _retained(url: str, topic_name: str, wait_s: float = 1.0) -> bytes | None:
    """What a follower subscribing now receives on the topic (None: nothing retained)."""
    heard: list[bytes] = []
    follower = new_client(f"t-acl-follower-{time.monotonic_ns()}", url)
    follower.on_message = lambda _c, _u, m: heard.append(bytes(m.payload))
    follower.on_connect = lambda c, *_: c.subscribe(topic_name, qos=1)
    follower.connect(*broker_address(url))
    follower.loop_start()
    time.sleep(wait_s)
    follower.loop_stop()
    follower.disconnect()
    return heard[0] if heard else None


def test_a_field_system_publishes_under_its_own_feed_only(acl_broker: EmbeddedService) -> None:
    field = _field_system(acl_broker.account_urls[FIELD_ACCOUNT])
    field.loop_start()
    try:
        assert _puback(field, STATION, encode_readings(time.time(), {"precipitation_1h": 1.0})) < 0x80
        fake_alert = alert_topic("threshold-fake-0001")
        forged = b'{"id": "threshold-fake-0001", "level": "red", "status": "raised", "open": true}'
        assert _puback(field, fake_alert, forged, retain=True) == NOT_AUTHORISED
        assert _puback(field, topic("traffic", "420602", "TOCC"), b"{}") == NOT_AUTHORISED  # another feed's
        assert _puback(field, "cityeye/v1/status/worker/cityeye-feed-1", b'{"state": "offline"}') == NOT_AUTHORISED
        assert _puback(field, "cityeye/v1/events-state/EV-1", b"{}", retain=True) == NOT_AUTHORISED
    finally:
        field.loop_stop()
        field.disconnect()
    assert _retained(acl_broker.url, fake_alert) is None


def test_nobody_connects_without_an_account(acl_broker: EmbeddedService) -> None:
    host, port = broker_address(acl_broker.url)
    anonymous = connack(broker(f"mqtt://{host}:{port}"))
    assert anonymous is not None and "not authorised" in anonymous
    assert connack(broker(acl_broker.url)) is None


def test_an_unsigned_state_on_an_owned_topic_is_dead_lettered_not_taken(
    acl_broker: EmbeddedService, redis_service: EmbeddedService, redis_client, feed_processes
) -> None:
    prefix = "t-acl"
    env = feed_env(redis_service.url, acl_broker.url, MQTT_CLIENT_PREFIX=prefix, MQTT_SHARED_GROUP="")
    feed_processes(["worker", "--name", "1"], env, "acl-worker")
    wait_worker_ready(redis_client, acl_broker.url, f"{prefix}-1")
    # City Eye's own account may publish alert states, so the broker lets this one through: the signature, which
    # it lacks, is what the workers judge by.
    unsigned = alert_topic("threshold-unsigned-0001")
    publisher = new_client(f"t-acl-owner-{time.monotonic_ns()}", acl_broker.url)
    publisher.connect(*broker_address(acl_broker.url))
    publisher.loop_start()
    try:
        publisher.publish(unsigned, b'{"id": "threshold-unsigned-0001", "level": "red"}', qos=1).wait_for_publish(10)
    finally:
        publisher.loop_stop()
        publisher.disconnect()
    wait_for(lambda: read_deadletter_counts(redis_client).get(Reason.FORBIDDEN_TOPIC.value), 10, "the dead letter")
    [record] = [r for r in read_deadletters(redis_client, count=10) if r["reason"] == Reason.FORBIDDEN_TOPIC.value]
    assert record["topic"] == unsigned



def test_make_runs_services_require_the_passwords_kept_in_the_run_directory(tmp_path) -> None:
    cfg = Settings(run_dir=tmp_path, redis_url="", mqtt_url="")  # embedded, whatever this run's environment says
    redis_service, mqtt_service = resolve_services(cfg)
    try:
        if mqtt_service.kind != "mosquitto":
            pytest.skip("amqtt, the fallback, has no accounts")
        password = (tmp_path / "redis-password").read_text()
        assert redis_service.url.startswith(f"redis://:{password}@")
        assert open_redis(redis_service.url).ping()
        with pytest.raises(redis.AuthenticationError):
            open_redis(redis_service.url.replace(f":{password}@", "")).ping()
        env = child_env(redis_service, mqtt_service, cfg)
        simulator = _field_system(env["SIM_MQTT_URL"])
        simulator.loop_start()
        try:
            assert _puback(simulator, STATION, encode_readings(time.time(), {"precipitation_1h": 1.0})) < 0x80
            assert _puback(simulator, alert_topic("threshold-fake-0002"), b"{}") == NOT_AUTHORISED
        finally:
            simulator.loop_stop()
            simulator.disconnect()
        city_eye = _field_system(env["MQTT_URL"])
        city_eye.loop_start()
        try:  # City Eye's own account never publishes a reading
            assert _puback(city_eye, STATION, encode_readings(time.time(), {"precipitation_1h": 1.0})) == NOT_AUTHORISED
        finally:
            city_eye.loop_stop()
            city_eye.disconnect()
        host, port = broker_address(mqtt_service.url)
        assert connack(broker(f"mqtt://{host}:{port}")) is not None
        write_env_file(tmp_path / "env", env)
        assert (tmp_path / "env").stat().st_mode & 0o077 == 0
        for secret in ("redis-password", "mqtt-password-cityeye", "mqtt-password-simulator"):
            assert (tmp_path / secret).stat().st_mode & 0o077 == 0
    finally:
        redis_service.stop()
        mqtt_service.stop()
