"""MQTT event reports: what is accepted, and each refusal's reason; channels and the retry backoff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dispatch.contract import STATE_NAMESPACE, Intake, encode_report, intake_topic, parse_report, state_topic
from dispatch.library import library
from dispatch.model import Unit
from dispatch.notify import Channels, ChannelsError, backoff_s, load_channels
from feeds.contract import OWNED_NAMESPACES, Ignored, Limits, Reason, Rejected, parse, sign_owned

NOW = 1_791_520_380.0
LIB = library()
TOPIC = intake_topic("420625", "TOWER-0321")


def _parse(payload: bytes, topic: str = TOPIC) -> Intake | Rejected:
    return parse_report(topic, payload, LIB, NOW, Limits())


def test_a_detection_becomes_a_report() -> None:
    parsed = _parse(encode_report(NOW - 5, "camera", "0700101", lat=32.27, lon=111.63, confidence=0.9, ref="CAM1"))
    assert isinstance(parsed, Intake) and parsed.source_ts == NOW - 5
    report = parsed.report
    assert (report.type_code, report.source.value, report.source_ref, report.reporter) == (
        "0700101", "camera", "CAM1", "TOWER-0321",
    )  # fmt: skip
    assert report.location.district == "420625" and report.confidence == 0.9
    city_wide = _parse(encode_report(NOW, "hotline", "1100101", township="420606001"), intake_topic("420600", "HL"))
    assert isinstance(city_wide, Intake) and city_wide.report.location.district == ""


@pytest.mark.parametrize(
    ("payload", "reason", "detail"),
    [
        (encode_report(NOW, "camera", "9999999", lat=32.2, lon=111.6), Reason.WRONG_TYPE, "not an event type"),
        (encode_report(NOW, "camera", "0700101"), Reason.WRONG_TYPE, "needs lat and lon, or a township"),
        (encode_report(NOW, "camera", "0700101", lat=32.2), Reason.WRONG_TYPE, "lat and lon come together"),
        (encode_report(NOW, "camera", "0700101", township="420606001"), Reason.WRONG_TYPE, "not in the topic's"),
        (encode_report(NOW, "camera", "0700101", township="4206", lat=1, lon=1), Reason.WRONG_TYPE, "registry"),
        (encode_report(NOW, "camera", "0700101", lat=32, lon=111, confidence=2), Reason.WRONG_TYPE, "0..1"),
        (encode_report(NOW, "drone", "0700101", lat=32, lon=111), Reason.WRONG_TYPE, "kind"),
        (encode_report(NOW, "camera", "0700101", lat=32, lon=111, snapshot_url="ftp://x"), Reason.WRONG_TYPE, "URL"),
        (encode_report(NOW, "camera", "0700101", lat=32, lon=111, extra=1), Reason.WRONG_TYPE, "unknown field"),
        (encode_report(NOW + 3600, "camera", "0700101", lat=32, lon=111), Reason.ABSURD_TIMESTAMP, "future"),
        (b'{"ts": 1, "kind": "camera", "type": "0700101", "lat": NaN, "lon": 1}', Reason.NOT_FINITE, "NaN"),
        (b"{not json", Reason.MALFORMED_JSON, ""),
        (b"", Reason.EMPTY, "empty"),
    ],
)
def test_refusals_say_why(payload: bytes, reason: Reason, detail: str) -> None:
    parsed = _parse(payload)
    assert isinstance(parsed, Rejected) and parsed.reason is reason and detail in parsed.detail


def test_topics_outside_the_city_are_refused() -> None:
    payload = encode_report(NOW, "camera", "0700101", lat=32, lon=111)
    for topic in (intake_topic("110000", "X"), intake_topic("420625", "bad/id"), "cityeye/v1/events/420625"):
        parsed = _parse(payload, topic)
        assert isinstance(parsed, Rejected) and parsed.reason is Reason.UNKNOWN_TOPIC


def test_event_states_are_on_an_owned_namespace() -> None:
    assert STATE_NAMESPACE in OWNED_NAMESPACES


def test_a_feed_worker_leaves_a_deleted_event_state_alone_and_refuses_an_unsigned_one() -> None:
    """Retention deletes a removed event's retained state with an empty payload, which cannot be signed."""
    topic, key = state_topic("E20261201123300abcdef"), b"k"
    assert isinstance(parse(topic, b"", {}, NOW, owner_key=key), Ignored)
    assert isinstance(parse(topic, sign_owned(key, topic, b'{"id":"E1"}'), {}, NOW, owner_key=key), Ignored)
    forged = parse(topic, b'{"id":"E1"}', {}, NOW, owner_key=key)
    assert isinstance(forged, Rejected) and forged.reason is Reason.FORBIDDEN_TOPIC


def test_channels_most_specific_first_and_checked(tmp_path: Path) -> None:
    channels = Channels({"D17": ("json://a/1",), "D17@420625": ("json://a/2",)})
    assert channels.for_unit(Unit("D17", "420625101")) == ("json://a/2",)
    assert channels.for_unit(Unit("D17", "420606001")) == ("json://a/1",)
    assert channels.for_unit(Unit("D02")) == ()
    assert load_channels(None).urls == {}
    path = tmp_path / "channels.json"
    path.write_text(json.dumps({"D02@42": ["json://a/1"]}))
    with pytest.raises(ChannelsError, match="is not a unit"):
        load_channels(path)
    path.write_text(json.dumps({"D02": ["nosuchscheme://a"]}))
    with pytest.raises(ChannelsError, match="does not accept"):
        load_channels(path)


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff_s(n, 5, 60) for n in (1, 2, 3, 4, 5)] == [5, 10, 20, 40, 60]
