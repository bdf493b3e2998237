"""Transport settings: broker URLs and credentials, the production guard, redaction, the shipped ACL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from config import PROJECT_ROOT, SECRET_MIN_LENGTH, InsecureTransport, Settings, insecure_transport, redact_url
from feeds.contract import FEEDS, OWNED_NAMESPACES, SIMULATOR_STATUS_TOPIC, TOPIC_ROOT
from feeds.mqtt import broker, new_client
from services.embedded import CITYEYE_ACCOUNT, MOSQUITTO_ACL, SIMULATOR_ACCOUNT, mosquitto_password_hash

SECURE: dict[str, Any] = {"mqtt_url": "mqtts://cityeye:pw@broker.example:8883", "redis_url": "rediss://cityeye:pw@redis.example:6380/0"}


def test_mqtts_url_gives_tls_credentials_and_default_port() -> None:
    found = broker("mqtts://field%2Dweather:p%40ss%3Aword@10.0.0.5", Settings())
    assert (found.host, found.port, found.tls) == ("10.0.0.5", 8883, True)
    assert (found.username, found.password) == ("field-weather", "p@ss:word")
    plain = broker("mqtt://10.0.0.5", Settings())
    assert (plain.port, plain.tls, plain.username, plain.password) == (1883, False, None, None)


def test_credentials_and_files_from_the_environment_when_the_url_has_none(tmp_path: Path) -> None:
    cfg = Settings(
        mqtt_username="cityeye", mqtt_password="from-env", mqtt_ca_file=tmp_path / "ca.pem",
        mqtt_cert_file=tmp_path / "client.pem", mqtt_key_file=tmp_path / "client.key",
    )  # fmt: skip
    found = broker("mqtts://broker:8883", cfg)
    assert (found.username, found.password) == ("cityeye", "from-env")
    assert (found.ca_file, found.cert_file, found.key_file) == (tmp_path / "ca.pem", tmp_path / "client.pem",
                                                                tmp_path / "client.key")  # fmt: skip
    assert broker("mqtts://other:pw2@broker:8883", cfg).username == "other"


def test_a_url_that_is_not_mqtt_is_refused_without_its_password() -> None:
    with pytest.raises(ValueError) as refused:
        broker("http://cityeye:topsecret@broker:80", Settings())
    assert "topsecret" not in str(refused.value)


def test_new_client_carries_the_credentials() -> None:
    client = new_client("t-transport", "mqtt://cityeye:pw@127.0.0.1:1", cfg=Settings())
    assert client.username == "cityeye" and client.password == "pw"


def test_redaction_keeps_who_and_where_and_drops_the_password() -> None:
    assert redact_url("rediss://cityeye:s3cr%40t@redis.example:6380/0") == "rediss://cityeye:***@redis.example:6380/0"
    assert redact_url("redis://:s3cret@127.0.0.1:6390/0") == "redis://:***@127.0.0.1:6390/0"
    assert redact_url("mqtt://127.0.0.1:1883") == "mqtt://127.0.0.1:1883"
    cfg = Settings(redis_url="redis://:s3cret@h/0", mqtt_url="mqtt://u:s3cret@h", mqtt_password="s3cret")
    assert "s3cret" not in repr(cfg)


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        ({"mqtt_url": "mqtt://cityeye:pw@broker.example:1883"}, "MQTT_URL"),
        ({"redis_url": "rediss://redis.example:6380/0"}, "REDIS_URL"),
        ({"redis_url": "redis://cityeye@redis.example:6379/0"}, "REDIS_URL"),
    ],
)
def test_production_refuses_insecure_transports(override: dict[str, Any], complaint: str) -> None:
    with pytest.raises(InsecureTransport) as refused:
        Settings(environment="production", **{**SECURE, **override})
    assert complaint in str(refused.value) and "ALLOW_INSECURE_TRANSPORT" in str(refused.value)
    assert ":pw@" not in str(refused.value)
    assert Settings(environment="production", allow_insecure_transport=True, **{**SECURE, **override})
    assert Settings(environment="development", **{**SECURE, **override})


def test_production_accepts_tls_and_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(environment="production", **SECURE).environment == "production"
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("MQTT_URL", "mqtt://broker:1883")
    with pytest.raises(InsecureTransport):
        Settings()


def test_a_client_key_needs_its_certificate(tmp_path: Path) -> None:
    with pytest.raises(InsecureTransport):
        Settings(mqtt_key_file=tmp_path / "client.key")


def _acl() -> dict[str, list[tuple[str, str]]]:
    grants: dict[str, list[tuple[str, str]]] = {}
    user = None
    for line in MOSQUITTO_ACL.read_text().splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "user":
            user = words[1]
            grants[user] = []
        else:
            assert words[0] == "topic" and user is not None, line
            grants[user].append((words[1], words[2]))
    return grants


def test_the_acl_gives_each_field_system_its_own_feed_only() -> None:
    grants = _acl()
    for feed in FEEDS:
        writes = [topic for access, topic in grants[f"field-{feed}"] if access in ("write", "readwrite")]
        assert writes == [f"{TOPIC_ROOT}/{feed}/#"]
    assert sorted(t for a, t in grants[SIMULATOR_ACCOUNT] if a == "write") == sorted(
        [*(f"{TOPIC_ROOT}/{feed}/#" for feed in FEEDS), SIMULATOR_STATUS_TOPIC]
    )


def test_the_acl_lets_only_city_eye_publish_where_it_owns_and_never_readings() -> None:
    grants = _acl()
    owned = {f"{TOPIC_ROOT}/{namespace}/#" for namespace in OWNED_NAMESPACES}
    assert {t for a, t in grants[CITYEYE_ACCOUNT] if a == "write"} == owned
    assert ("read", f"{TOPIC_ROOT}/#") in grants[CITYEYE_ACCOUNT]
    for user, user_grants in grants.items():
        if user == CITYEYE_ACCOUNT:
            continue
        for access, topic in user_grants:
            if access != "read":
                assert topic.split("/")[2] not in OWNED_NAMESPACES or topic == SIMULATOR_STATUS_TOPIC, (user, topic)


def test_password_hash_is_mosquittos_format() -> None:
    kind, iterations, salt, digest = mosquitto_password_hash("pw").split("$")[1:]
    assert (kind, iterations) == ("7", "101") and len(salt) == 16 and len(digest) == 88
    assert mosquitto_password_hash("pw") != mosquitto_password_hash("pw")  # salted


def test_the_example_production_environment_is_accepted_by_production(tmp_path: Path) -> None:
    example = PROJECT_ROOT / "deploy" / "cityeye.env.example"
    values: dict[str, Any] = {}
    for line in example.read_text().splitlines():
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key.lower()] = re.sub(r"<[^>]*>", "x" * SECRET_MIN_LENGTH, value)
    assert set(values) <= set(Settings.model_fields), set(values) - set(Settings.model_fields)
    values["run_dir"] = tmp_path
    cfg = Settings(**values)
    assert cfg.environment == "production" and not cfg.allow_insecure_transport
    assert broker(cfg.mqtt_url, cfg).tls and insecure_transport(cfg) == []
