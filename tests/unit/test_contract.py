"""parse() on recorded payloads: every accepted shape and every rejection reason."""

from __future__ import annotations

import paho.mqtt.client as mqtt
import pytest

from feeds.contract import (
    BrokerCounter,
    CameraStatus,
    Ignored,
    Limits,
    Readings,
    Reason,
    Rejected,
    encode_camera_status,
    encode_readings,
    owned_signature_ok,
    parse,
    parse_broker_counter,
    parse_timestamp,
    sign_owned,
    subscription_filters,
)

NOW = 1_795_300_000.0
ROUTES = {("weather", "420624", "AWS07"): {"precipitation_1h": "RAIN", "temperature": "TEMP"}}
STATION = "cityeye/v1/weather/420624/AWS07"
CAMERA = "cityeye/v1/video/420624/42062400081326000123"
CAMERA_OK = b'{"ts": %d, "status": "online", "kind": "fixed", "lat": 32.0, "lon": 112.1}' % NOW


def rejection(topic: str, payload: bytes) -> Reason | None:
    """Why parse() rejects the message; None when it does not."""
    parsed = parse(topic, payload, ROUTES, NOW)
    return parsed.reason if isinstance(parsed, Rejected) else None


def test_json_readings_map_fields_to_signs() -> None:
    parsed = parse(STATION, encode_readings(NOW - 5, {"precipitation_1h": 32.5, "temperature": 21}), ROUTES, NOW)
    assert isinstance(parsed, Readings)
    got = {(r.sign_id, r.value, r.source_ts) for r in parsed.readings}
    assert got == {("RAIN", 32.5, NOW - 5), ("TEMP", 21.0, NOW - 5)}


def test_iso_timestamp_without_offset_is_xiangyang_local_time() -> None:
    assert parse_timestamp("2026-05-24T14:05:00") == parse_timestamp("2026-05-24T06:05:00+00:00")
    assert parse_timestamp("2026-05-24T14:05:00Z") == parse_timestamp("2026-05-24T22:05:00+08:00")


def test_senml_pack_resolves_base_name_and_time() -> None:
    payload = (
        b'[{"bn":"urn:dev:xy:AWS07:","bt":%.1f,"n":"precipitation_1h","u":"mm","v":3.5},'
        b'{"n":"temperature","u":"Cel","v":20.5,"t":-60}]' % (NOW - 10)
    )
    parsed = parse(STATION, payload, ROUTES, NOW)
    assert isinstance(parsed, Readings)
    got = {(r.sign_id, r.value, r.source_ts) for r in parsed.readings}
    assert got == {("RAIN", 3.5, NOW - 10), ("TEMP", 20.5, NOW - 70)}


def test_senml_relative_time_is_relative_to_now() -> None:
    parsed = parse(STATION, b'[{"n":"temperature","v":1,"t":-30}]', ROUTES, NOW)
    assert isinstance(parsed, Readings) and parsed.readings[0].source_ts == NOW - 30


def test_camera_status() -> None:
    parsed = parse(CAMERA, encode_camera_status(NOW, "fault", "mobile", 31.74, 111.84), ROUTES, NOW)
    assert parsed == CameraStatus("420624", "42062400081326000123", NOW, "fault", "mobile", 31.74, 111.84)


KEY = b"k" * 32


def test_city_eyes_own_signed_messages_on_owned_topics_are_ignored_not_rejected() -> None:
    status, alert = "cityeye/v1/status/worker/x", "cityeye/v1/alerts/a1"
    signed = sign_owned(KEY, status, b'{"state":"online"}')
    assert isinstance(parse(status, signed, ROUTES, NOW, owner_key=KEY), Ignored)
    assert isinstance(parse(alert, sign_owned(KEY, alert, b'{"id":"a1"}'), ROUTES, NOW, owner_key=KEY), Ignored)
    # A deleted retained alert state cannot be signed: the alert engine, not the worker, judges it.
    assert isinstance(parse(alert, b"", ROUTES, NOW, owner_key=KEY), Ignored)


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("cityeye/v1/status/worker/x", b'{"state":"offline"}'),
        ("cityeye/v1/status/worker/x", b""),
        ("cityeye/v1/status/alerts/cityeye-alerts-1", b'{"state":"offline"}'),
        ("cityeye/v1/alerts/a1", b'{"id":"a1","status":"resolved"}'),
        ("cityeye/v1/alerts/a1", b'{"id":"a1","sig":"' + b"0" * 64 + b'"}'),
        ("cityeye/v1/alerts", b"{}"),
        ("cityeye/v1/status", b"\xff"),
        # Signed, but for another topic (replayed from one worker onto another) or with another key.
        ("cityeye/v1/status/worker/y", sign_owned(KEY, "cityeye/v1/status/worker/x", b'{"state":"offline"}')),
        ("cityeye/v1/status/worker/x", sign_owned(b"other", "cityeye/v1/status/worker/x", b'{"state":"offline"}')),
    ],
)
def test_anything_else_on_an_owned_topic_is_forbidden(topic: str, payload: bytes) -> None:
    parsed = parse(topic, payload, ROUTES, NOW, owner_key=KEY)
    assert isinstance(parsed, Rejected) and parsed.reason is Reason.FORBIDDEN_TOPIC, parsed


def test_without_the_key_nothing_on_an_owned_topic_is_taken() -> None:
    signed = sign_owned(KEY, "cityeye/v1/status/worker/x", b'{"state":"online"}')
    assert rejection("cityeye/v1/status/worker/x", signed) is Reason.FORBIDDEN_TOPIC


def test_a_signature_covers_topic_and_every_byte_and_reads_as_one_more_json_key() -> None:
    import json

    topic = "cityeye/v1/alerts/a1"
    for document in (b"{}", b'{"id":"a1","level":"red"}'):
        signed = sign_owned(KEY, topic, document)
        assert owned_signature_ok(KEY, topic, signed)
        assert {k: v for k, v in json.loads(signed).items() if k != "sig"} == json.loads(document)
        assert not owned_signature_ok(KEY, topic + "x", signed)
        assert not owned_signature_ok(b"", topic, signed)
        for i in range(len(signed)):
            tampered = signed[:i] + bytes([signed[i] ^ 1]) + signed[i + 1 :]
            assert not owned_signature_ok(KEY, topic, tampered)
    with pytest.raises(ValueError):
        sign_owned(KEY, topic, b"")


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (STATION, b"x" * 70_000, Reason.OVERSIZED),
        (STATION, b'{"ts": 1, "readings": ', Reason.MALFORMED_JSON),
        (STATION, b"", Reason.EMPTY),
        (STATION, b'{"ts": %d, "readings": {}}' % NOW, Reason.EMPTY),
        (STATION, b"[]", Reason.EMPTY),
        ("cityeye/v1/weather/420624", b"{}", Reason.UNKNOWN_TOPIC),
        ("cityeye/v1/wether/420624/AWS07", b"{}", Reason.UNKNOWN_TOPIC),
        ("cityeye/v1/weather/42062/AWS07", b"{}", Reason.UNKNOWN_TOPIC),
        ("cityeye/v1/weather/420624/AWS99", b'{"ts": 1, "readings": {"temperature": 1}}', Reason.UNKNOWN_TOPIC),
        ("other/v1/weather/420624/AWS07", b"{}", Reason.UNKNOWN_TOPIC),
        ("cityeye/v1/video/420624/12345", b"{}", Reason.UNKNOWN_TOPIC),
        ("cityeye/v1/video/420602/42062400081326000123", b"{}", Reason.UNKNOWN_TOPIC),
        # Cameras from outside the city, and digits that are not ASCII (full-width, Arabic-Indic), trailing newlines.
        ("cityeye/v1/video/999999/99999900081326000123", CAMERA_OK, Reason.UNKNOWN_TOPIC),
        ("cityeye/v1/video/420100/42010000081326000123", CAMERA_OK, Reason.UNKNOWN_TOPIC),
        ("cityeye/v1/video/４２０６０２/４２０６０２00081326000123", CAMERA_OK, Reason.UNKNOWN_TOPIC),
        ("cityeye/v1/video/420602/420602000813260001٢٣", CAMERA_OK, Reason.UNKNOWN_TOPIC),
        ("cityeye/v1/video/420602/42060200081326000123\n", CAMERA_OK, Reason.UNKNOWN_TOPIC),
        ("cityeye/v1/video/420602\n/42060200081326000123", CAMERA_OK, Reason.UNKNOWN_TOPIC),
        ("cityeye/v1/weather/４２０６２４/AWS07", encode_readings(NOW, {"temperature": 1}), Reason.UNKNOWN_TOPIC),
        (STATION, b'{"ts": %d, "readings": {"humidity": 40}}' % NOW, Reason.UNKNOWN_FIELD),
        (STATION, b'{"ts": %d, "readings": {"temperature": "21"}}' % NOW, Reason.WRONG_TYPE),
        (STATION, b'{"ts": %d, "readings": {"temperature": true}}' % NOW, Reason.WRONG_TYPE),
        (STATION, b'{"ts": %d, "readings": {"temperature": 1}, "extra": 1}' % NOW, Reason.WRONG_TYPE),
        (STATION, b'{"readings": {"temperature": 1}}', Reason.WRONG_TYPE),
        (STATION, b'[{"n": "temperature", "vs": "warm"}]', Reason.WRONG_TYPE),
        (STATION, b'[{"n": "temperature"}]', Reason.WRONG_TYPE),
        (STATION, b'[{"n": "temperature", "v": 1, "vs": "1"}]', Reason.WRONG_TYPE),
        (STATION, b'[{"n": "temperature", "v": 1, "vb": false}]', Reason.WRONG_TYPE),
        (STATION, b'[{"n": "temperature", "v": 1, "vd": ""}]', Reason.WRONG_TYPE),
        (STATION, b'[{"n": "temperature", "vs": "1", "vd": "AA"}]', Reason.WRONG_TYPE),
        (STATION, b'[{"n": "precipitation_1h", "v": 1}, {"n": "temperature", "v": 2, "vs": "2"}]', Reason.WRONG_TYPE),
        (STATION, b'{"ts": %d, "readings": {"temperature": NaN}}' % NOW, Reason.NOT_FINITE),
        (STATION, b'{"ts": %d, "readings": {"temperature": Infinity}}' % NOW, Reason.NOT_FINITE),
        (STATION, b'{"ts": %d, "readings": {"temperature": 1e999}}' % NOW, Reason.NOT_FINITE),
        (STATION, b'{"ts": %d, "readings": {"temperature": 1}}' % (NOW * 1000), Reason.ABSURD_TIMESTAMP),
        (STATION, b'{"ts": %d, "readings": {"temperature": 1}}' % (NOW + 3600), Reason.ABSURD_TIMESTAMP),
        (STATION, b'{"ts": 0, "readings": {"temperature": 1}}', Reason.ABSURD_TIMESTAMP),
        (STATION, b'{"ts": "yesterday", "readings": {"temperature": 1}}', Reason.ABSURD_TIMESTAMP),
        (CAMERA, b'{"ts": %d, "status": "sleeping", "kind": "fixed", "lat": 1, "lon": 1}' % NOW, Reason.WRONG_TYPE),
        (CAMERA, b'{"ts": %d, "status": "online", "kind": "fixed", "lat": 91, "lon": 1}' % NOW, Reason.WRONG_TYPE),
        (STATION, b'{"ts": %d, "readings": {"temperature\xed\xa0\x80": 1}}' % NOW, Reason.INVALID_UTF8),
        (STATION, b'[{"n": "temperature", "u": "\xc9\xe3\xca\xcf\xb6\xc8", "v": 1}]', Reason.INVALID_UTF8),
        (CAMERA, b'{"ts": %d, "status": "on\xfflne", "kind": "fixed", "lat": 1, "lon": 1}' % NOW, Reason.INVALID_UTF8),
        (STATION, b'[{"n": "temperature", "v": 1, "x": ' + b"[" * 33 + b"]" * 33 + b"}]", Reason.TOO_DEEP),
        (STATION, b'{"ts": %d, "readings": {"t": %s}}' % (NOW, b'{"a":' * 40 + b"1" + b"}" * 40), Reason.TOO_DEEP),
    ],
)
def test_bad_input_is_rejected_with_its_reason(topic: str, payload: bytes, reason: Reason) -> None:
    parsed = parse(topic, payload, ROUTES, NOW, Limits(max_payload_bytes=65_536))
    assert isinstance(parsed, Rejected), parsed
    assert parsed.reason is reason, parsed.detail
    assert parsed.detail


def test_nesting_within_the_limit_is_decoded_not_refused() -> None:
    payload = b'[{"n": "temperature", "v": 1, "x": ' + b"[" * 30 + b"]" * 30 + b', "s": 0}]'
    assert isinstance(parse(STATION, payload, ROUTES, NOW), Readings)
    # Brackets inside strings count, so a long run there is refused: no accepted payload has one.
    many = b'{"ts": %d, "readings": {"temperature": 1}, "note": "%s"}' % (NOW, b"[" * 40)
    assert rejection(STATION, many) is Reason.TOO_DEEP


def test_every_district_and_the_city_are_accepted_adcodes_and_the_catalogue_uses_no_other() -> None:
    from feeds.contract import CITY_ADCODES
    from geo.admin import CITY_ADCODE, DISTRICTS
    from signs.catalogue import catalogue

    assert CITY_ADCODES == {CITY_ADCODE, *DISTRICTS}
    for adcode in DISTRICTS:
        device = adcode + "00081326000123"
        assert isinstance(parse(f"cityeye/v1/video/{adcode}/{device}", CAMERA_OK, ROUTES, NOW), CameraStatus)
    assert {adcode for _, adcode, _ in catalogue().routes} <= CITY_ADCODES


def test_millisecond_timestamps_get_a_hint() -> None:
    parsed = parse(STATION, b'{"ts": %d, "readings": {"temperature": 1}}' % (NOW * 1000), ROUTES, NOW)
    assert isinstance(parsed, Rejected) and "milliseconds" in parsed.detail


def test_subscriptions_cover_everything_or_each_feed_and_share_when_asked() -> None:
    from feeds.contract import FEEDS

    assert subscription_filters(FEEDS, "ingest") == ["$share/ingest/cityeye/v1/#"]
    assert subscription_filters(("weather", "video"), "") == ["cityeye/v1/weather/#", "cityeye/v1/video/#"]


@pytest.mark.parametrize(
    ("topic", "payload", "expected"),
    [
        ("$SYS/broker/publish/messages/dropped", b"15", BrokerCounter("", "dropped", "15")),
        ("$SYS/broker/version", b"mosquitto version 2.0.11", BrokerCounter("", "version", "mosquitto version 2.0.11")),
        ("$SYS/broker/uptime", b"724 seconds", BrokerCounter("", "uptime", "724 seconds")),
        ("$SYS/brokers/emqx@10.0.0.5/metrics/delivery/dropped", b"3", BrokerCounter("emqx@10.0.0.5", "dropped", "3")),
        ("$SYS/broker/publish/messages/dropped", b"15.0", None),
        ("$SYS/broker/publish/messages/dropped", "１５".encode(), None),
        ("$SYS/broker/publish/messages/dropped", b"", None),
        ("$SYS/broker/publish/messages/received", b"15", None),
        ("cityeye/v1/status/worker/x", b"15", None),
    ],
)
def test_broker_counters_from_sys_topics(topic: str, payload: bytes, expected: BrokerCounter | None) -> None:
    assert parse_broker_counter(topic, payload) == expected


def test_every_broker_counter_topic_is_subscribed() -> None:
    from feeds.contract import SYS_FILTERS

    topics = ("$SYS/broker/publish/messages/dropped", "$SYS/brokers/n1/metrics/delivery/dropped", "$SYS/broker/uptime")
    for topic in topics:
        assert any(mqtt.topic_matches_sub(f, topic) for f in SYS_FILTERS), topic
