"""parse() against whatever anyone can publish: it returns a result for every message and never raises.

A message is input from anyone who can reach the broker; one exception out of parse() would stop the feed worker,
and the broker would hand the same message to every worker after it. Property-based (hypothesis) where the space
is large, exhaustive where it is small (invalid UTF-8 at every byte position of a valid payload).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.contract import (
    CITY_ADCODES,
    FEEDS,
    CameraStatus,
    Ignored,
    Limits,
    Readings,
    Reason,
    Rejected,
    encode_camera_status,
    encode_readings,
    parse,
)
from geo.admin import DISTRICTS

NOW = 1_795_300_000.0
ROUTES = {("weather", "420624", "AWS07"): {"precipitation_1h": "RAIN", "temperature": "TEMP"}}
STATION = "cityeye/v1/weather/420624/AWS07"
CAMERA = "cityeye/v1/video/420624/42062400081326000123"
VALID = {
    STATION: [
        encode_readings(NOW - 5, {"precipitation_1h": 32.5, "temperature": 21.4}),
        b'{"ts": "2026-11-22T06:25:40+08:00", "readings": {"temperature": 21.4}}',
        b'[{"bn":"urn:dev:xy:AWS07:","bt":%.1f,"n":"temperature","u":"Cel","v":20.5}]' % (NOW - 10),
    ],
    CAMERA: [encode_camera_status(NOW, "online", "fixed", 31.74, 111.84)],
}
INVALID_UTF8 = [b"\xff", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe4\xb8"]
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(topic: str, payload: bytes) -> Readings | CameraStatus | Ignored | Rejected:
    """parse() must return one of its four results, and an internal error is a bug of ours, not the sender's."""
    parsed = parse(topic, payload, ROUTES, NOW, Limits())
    assert isinstance(parsed, Readings | CameraStatus | Ignored | Rejected), parsed
    if isinstance(parsed, Rejected):
        assert parsed.reason is not Reason.INTERNAL_ERROR, parsed.detail
        assert parsed.detail
    return parsed


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
numbers_as_text = st.sampled_from(
    [b"1e999", b"-1e999", b"1e308", b"NaN", b"-Infinity", b"Infinity", b"1" + b"0" * 400, b"-0", b"4.9e-324", b"1e-400"]
) | st.floats(allow_nan=True, allow_infinity=True).map(lambda f: repr(f).encode())
TOPIC_WORDS = ["cityeye", "v1", *FEEDS, "420624", "AWS07", "", "#", "+", "$share", "$SYS", "status", "alerts"]
odd_topics = st.one_of(
    st.text(max_size=60),
    st.lists(st.text(max_size=12), max_size=7).map("/".join),
    st.lists(st.sampled_from(TOPIC_WORDS), max_size=7).map("/".join),
    st.sampled_from(["cityeye/v1", "cityeye/v1/", "/cityeye/v1/weather/420624/AWS07", STATION + "/", STATION + "\n"]),
)


@FUZZ
@given(st.binary(max_size=600), st.sampled_from([STATION, CAMERA]))
def test_random_bytes(payload: bytes, topic: str) -> None:
    check(topic, payload)


@pytest.mark.parametrize(("topic", "payload"), [(t, p) for t, payloads in VALID.items() for p in payloads])
def test_invalid_utf8_at_every_position_of_a_valid_payload(topic: str, payload: bytes) -> None:
    assert isinstance(check(topic, payload), Readings | CameraStatus)
    for position in range(len(payload) + 1):
        for bad in INVALID_UTF8:
            check(topic, payload[:position] + bad + payload[position:])


def rejection(topic: str, payload: bytes) -> Reason | None:
    """Why check() rejected the message; None when it did not."""
    parsed = check(topic, payload)
    return parsed.reason if isinstance(parsed, Rejected) else None


def test_poison_payloads_of_the_review_are_dead_letters_with_their_reason() -> None:
    waterdepth = b'{"ts":%.6f,"readings":{"waterDepth\xed\xa0\x80":84.38}}' % NOW
    gbk_unit = '[{"n":"temperature","u":"摄氏度","v":21.5}]'.encode("gbk")
    deep = b'[{"n":"temperature","v":1,"x":' + b"[" * 1000 + b"]" * 1000 + b"}]"
    # Depth hidden from the byte scan behind "]" inside strings: msgspec's own recursion limit still answers.
    hidden = b'[{"n":"temperature","v":1,"x":' + b'["]",' * 1500 + b"1" + b"]" * 1500 + b"}]"
    assert (rejection(STATION, waterdepth), rejection(STATION, gbk_unit)) == (Reason.INVALID_UTF8,) * 2
    assert rejection(STATION, deep) is Reason.TOO_DEEP
    assert rejection(STATION, hidden) is Reason.TOO_DEEP
    assert len(waterdepth) == 59 and len(deep) < 2100


@FUZZ
@given(st.integers(min_value=0, max_value=3000), st.sampled_from([b"[", b"{"]), st.booleans())
def test_deep_nesting(depth: int, opener: bytes, in_senml: bool) -> None:
    if opener == b"[":
        nested = b"[" * depth + b"1" + b"]" * depth
    else:
        nested = b'{"a":' * depth + b"1" + b"}" * depth
    if in_senml:
        payload = b'[{"n":"temperature","v":1,"x":' + nested + b"}]"
    else:
        payload = b'{"ts":%d,"readings":{"temperature":' % NOW + nested + b"}}"
    parsed = check(STATION, payload)
    if depth > 32:
        assert isinstance(parsed, Rejected) and parsed.reason is Reason.TOO_DEEP


@FUZZ
@given(numbers_as_text, st.sampled_from(["value", "ts", "senml_v", "senml_t", "lat"]))
def test_huge_and_non_finite_numbers(number: bytes, where: str) -> None:
    payloads = {
        "value": (STATION, b'{"ts":%d,"readings":{"temperature":%s}}' % (NOW, number)),
        "ts": (STATION, b'{"ts":%s,"readings":{"temperature":1}}' % number),
        "senml_v": (STATION, b'[{"n":"temperature","v":%s}]' % number),
        "senml_t": (STATION, b'[{"n":"temperature","v":1,"bt":%s,"t":%s}]' % (number, number)),
        "lat": (CAMERA, b'{"ts":%d,"status":"online","kind":"fixed","lat":%s,"lon":1}' % (NOW, number)),
    }
    parsed = check(*payloads[where])
    if isinstance(parsed, Readings):
        assert all(abs(r.value) < float("inf") and abs(r.source_ts - NOW) < 10 * 86_400 for r in parsed.readings)


@FUZZ
@given(json_values, st.sampled_from(["ts", "readings", "value", "record", "pack", "camera_field", "whole"]))
def test_wrong_types(value: object, where: str) -> None:
    text = json.dumps(value)  # NaN and Infinity too, as some publishers send them
    templates = {
        "ts": (STATION, '{"ts":%s,"readings":{"temperature":1}}'),
        "readings": (STATION, '{"ts":1795300000,"readings":%s}'),
        "value": (STATION, '{"ts":1795300000,"readings":{"temperature":%s}}'),
        "record": (STATION, '[{"n":"temperature","v":1,"bn":%s}]'),
        "pack": (STATION, "[%s]"),
        "camera_field": (CAMERA, '{"ts":1795300000,"status":%s,"kind":"fixed","lat":1,"lon":1}'),
        "whole": (STATION, "%s"),
    }
    topic, template = templates[where]
    check(topic, (template % text).encode())


# Digits of every script (full-width ４, Arabic-Indic ٤, Devanagari ४...): int() and \d take them, the contract
# must not. Random ones, and real district codes with some digits swapped for their twin in another script.
unicode_digits = st.characters(categories=["Nd"])
SCRIPT_ZEROS = [0xFF10, 0x0660, 0x06F0, 0x0966, 0x09E6, 0x1D7CE]
twin_districts = st.tuples(
    st.sampled_from(sorted(DISTRICTS)), st.lists(st.booleans(), min_size=6, max_size=6), st.sampled_from(SCRIPT_ZEROS)
).map(lambda t: "".join(chr(t[2] + int(c)) if swap else c for c, swap in zip(t[0], t[1], strict=True)))
adcodes = st.lists(unicode_digits, min_size=6, max_size=6).map("".join) | twin_districts


@FUZZ
@given(adcodes, st.lists(unicode_digits | st.sampled_from("0123456789"), min_size=14, max_size=14))
def test_unicode_digits_in_adcodes_and_camera_ids(adcode: str, rest: list[str]) -> None:
    device = adcode + "".join(rest)
    camera = check(f"cityeye/v1/video/{adcode}/{device}", VALID[CAMERA][0])
    station = check(f"cityeye/v1/weather/{adcode}/AWS07", VALID[STATION][0])
    if not (adcode.isascii() and device.isascii()):
        assert isinstance(camera, Rejected) and camera.reason is Reason.UNKNOWN_TOPIC
        assert isinstance(station, Rejected) and station.reason is Reason.UNKNOWN_TOPIC
    if isinstance(camera, CameraStatus):
        assert camera.adcode in CITY_ADCODES and camera.device_id.isascii() and camera.device_id.isdigit()


@FUZZ
@given(odd_topics, st.sampled_from([b"", b"{}", VALID[STATION][0], VALID[CAMERA][0], b"\xff"]))
def test_odd_topics(topic: str, payload: bytes) -> None:
    parsed = check(topic, payload)
    if isinstance(parsed, Readings | CameraStatus):
        assert topic in (STATION, CAMERA)
