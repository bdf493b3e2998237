"""City Eye over TLS with passwords on both hops: a real mosquitto (mqtts, password file, City Eye's ACL) and a real
redis-server (tls-port, requirepass), both with a certificate for 127.0.0.1 from a CA this module makes. A feed worker
in ENVIRONMENT=production ingests a field system's reading end to end; wrong passwords and unknown CAs are refused
with errors that say why and carry no secret; production refuses plain transports."""

from __future__ import annotations

import datetime
import ipaddress
import json
import secrets
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from config import PROJECT_ROOT, Settings, settings
from feeds.contract import encode_readings, topic
from feeds.mqtt import broker, broker_address, connack, new_client
from services.embedded import CITYEYE_ACCOUNT, EmbeddedService, ServerTls, start_broker, start_redis
from signs.catalogue import catalogue
from signs.model import MqttSource
from signs.store import open_redis, read_latest
from tests.processes import FeedProcess, feed_env, wait_for, wait_worker_ready
from views.health import broker_check

pytestmark = pytest.mark.integration
FIELD_ACCOUNT = "field-weather"
SIGN_ID = "XY.S.M13.S45.stn:AWS07"  # 太平店自动站 1小时降水量, published by the weather feed


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    encoding, key_format = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    return key.private_bytes(encoding, key_format, serialization.NoEncryption())


CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=False, encipher_only=False, decipher_only=False,
)


def make_ca(directory: Path) -> ServerTls:
    """A test CA and a server certificate for 127.0.0.1 (an IP address SAN, which clients verify) signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder().subject_name(_name("City Eye test CA")).issuer_name(_name("City Eye test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca_cert.subject)
        .public_key(server_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    directory.mkdir(parents=True, exist_ok=True)
    files = ServerTls(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(_pem_key(server_key))
    files.key_file.chmod(0o600)
    return files


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> ServerTls:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def accounts() -> dict[str, str]:
    return {CITYEYE_ACCOUNT: secrets.token_urlsafe(24), FIELD_ACCOUNT: secrets.token_urlsafe(24)}


@pytest.fixture(scope="module")
def secure_redis(tmp_path_factory: pytest.TempPathFactory, tls_files: ServerTls) -> Iterator[EmbeddedService]:
    service = start_redis(tmp_path_factory.mktemp("rediss"), password=secrets.token_urlsafe(24), tls=tls_files)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def secure_broker(
    tmp_path_factory: pytest.TempPathFactory, tls_files: ServerTls, accounts: dict[str, str]
) -> Iterator[EmbeddedService]:
    service = start_broker(tmp_path_factory.mktemp("mqtts"), accounts=accounts, tls=tls_files)
    if service.kind != "mosquitto":
        service.stop()
        pytest.skip("TLS and accounts need mosquitto (amqtt, the fallback, has neither)")
    yield service
    service.stop()


@pytest.fixture
def trusting(monkeypatch: pytest.MonkeyPatch, tls_files: ServerTls) -> Iterator[Settings]:
    """This test process trusts the test CA on both hops, as a deployment's REDIS_CA_FILE/MQTT_CA_FILE would."""
    monkeypatch.setenv("MQTT_CA_FILE", str(tls_files.ca_file))
    monkeypatch.setenv("REDIS_CA_FILE", str(tls_files.ca_file))
    settings.cache_clear()
    yield settings()
    monkeypatch.undo()
    settings.cache_clear()


def _wrong_password(url: str) -> str:
    scheme, rest = url.split("://", 1)
    userinfo, where = rest.rsplit("@", 1)
    return f"{scheme}://{userinfo.split(':', 1)[0]}:wrong-{secrets.token_hex(8)}@{where}"


def _publish(url: str, cfg: Settings, topic_name: str, payload: bytes) -> None:
    client = new_client(f"t-field-{time.monotonic_ns()}", url, cfg=cfg)
    client.connect(*broker_address(url))
    client.loop_start()
    try:
        client.publish(topic_name, payload, qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()


def test_a_production_worker_ingests_over_mqtts_into_rediss(
    secure_redis: EmbeddedService, secure_broker: EmbeddedService, trusting: Settings, tls_files: ServerTls
) -> None:
    assert secure_redis.url.startswith("rediss://:") and secure_broker.url.startswith("mqtts://cityeye:")
    store = open_redis(secure_redis.url)
    store.flushall()
    env = feed_env(
        secure_redis.url, secure_broker.url, ENVIRONMENT="production", ALLOW_INSECURE_TRANSPORT="0",
        MQTT_CA_FILE=str(tls_files.ca_file), REDIS_CA_FILE=str(tls_files.ca_file),
        MQTT_CLIENT_PREFIX="t-secure", MQTT_SHARED_GROUP="",
    )  # fmt: skip
    worker = FeedProcess(["worker", "--name", "1"], env, "secure-worker")
    try:
        wait_worker_ready(store, secure_broker.url, "t-secure-1")
        source = catalogue().signs[SIGN_ID].source
        assert isinstance(source, MqttSource)
        measured = time.time() - 1
        _publish(
            secure_broker.account_urls[FIELD_ACCOUNT], trusting,
            topic(source.feed, source.adcode, source.source_id), encode_readings(measured, {source.field: 12.5}),
        )  # fmt: skip
        latest = wait_for(lambda: read_latest(store, SIGN_ID), 10, "the reading in Redis over TLS")
        assert (latest.value, round(latest.source_ts, 3)) == (12.5, round(measured, 3))
    finally:
        worker.stop()
    log = worker.log()
    for secret in (secure_redis.url.split("@")[0].rsplit(":", 1)[1], secure_broker.url.split("@")[0].rsplit(":", 1)[1]):
        assert secret not in log


def test_wrong_passwords_are_refused_saying_why_without_the_secret(
    secure_redis: EmbeddedService, secure_broker: EmbeddedService, trusting: Settings, tls_files: ServerTls,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong_mqtt = _wrong_password(secure_broker.url)
    refusal = connack(broker(wrong_mqtt, trusting))
    assert refusal is not None and "user name or password" in refusal
    assert connack(broker(secure_broker.url, trusting)) is None

    # /healthz's broker check says the same, and shows no URL.
    monkeypatch.setenv("MQTT_URL", wrong_mqtt)
    settings.cache_clear()
    check = broker_check()
    assert check["ok"] is False and "user name or password" in check["error"]
    assert wrong_mqtt.split("@")[0].rsplit(":", 1)[1] not in json.dumps(check) and "@" not in json.dumps(check)

    wrong_redis = _wrong_password(secure_redis.url.replace("rediss://:", "rediss://default:"))
    with pytest.raises(redis.AuthenticationError) as refused:
        open_redis(wrong_redis).ping()
    assert wrong_redis.split("@")[0].rsplit(":", 1)[1] not in str(refused.value)
    assert "password" in str(refused.value)

    # A worker given the wrong broker password says so in its log, and never the password.
    env = feed_env(
        secure_redis.url, wrong_mqtt, MQTT_CA_FILE=str(tls_files.ca_file), REDIS_CA_FILE=str(tls_files.ca_file),
        MQTT_CLIENT_PREFIX="t-secure-wrong", MQTT_SHARED_GROUP="",
    )  # fmt: skip
    worker = FeedProcess(["worker", "--name", "1"], env, "secure-worker-wrong-password")
    try:
        wait_for(lambda: "refused" in worker.log(), 15, "the worker's log of the refusal")
    finally:
        worker.stop()
    assert "not authorized" in worker.log().lower()  # paho's words for CONNACK 5
    assert wrong_mqtt.split("@")[0].rsplit(":", 1)[1] not in worker.log()


def test_a_server_certificate_from_an_unknown_ca_is_refused(
    secure_redis: EmbeddedService, secure_broker: EmbeddedService
) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        connack(broker(secure_broker.url, Settings()))
    with pytest.raises(redis.ConnectionError) as refused:
        open_redis(secure_redis.url, timeout_s=2).ping()
    assert "certificate verify failed" in str(refused.value)


def test_production_refuses_to_start_on_plain_transports(secure_redis: EmbeddedService) -> None:
    password = secure_redis.url.split("@")[0].rsplit(":", 1)[1]
    plain_redis = f"redis://:{password}@127.0.0.1:1/0"
    env = feed_env(plain_redis, "mqtt://cityeye:hunter2-secret@127.0.0.1:1", ENVIRONMENT="production",
                   ALLOW_INSECURE_TRANSPORT="0")  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "feeds", "worker", "--name", "1"],
        env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "ENVIRONMENT=production refuses insecure transports" in done.stderr
    assert "MQTT_URL mqtt://cityeye:***@127.0.0.1:1 is not mqtts://" in done.stderr
    assert "hunter2-secret" not in done.stderr + done.stdout and password not in done.stderr + done.stdout
