"""The M15 signs from the hub with a real Redis and a real dispatcher: events filed and handled move them, a rate over
no decided event stays no data, and history and the alert engine's stream get only the values that are OK."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from dispatch.hub import act, file_report
from dispatch.library import library
from dispatch.model import Location, Report, Source, Status
from dispatch.store import get_event
from services.embedded import EmbeddedService
from signs.keys import KEY_READINGS, Quality, unpack_landed
from signs.replies import stream_range
from signs.store import read_history, read_latest
from tests.dispatching import start_dispatcher
from tests.processes import ChildProcess, wait_for

pytestmark = pytest.mark.integration

BRANCH = "0500101"  # 树枝横出/断枝 (item 05001), 30 min / 2 h / 24 h, a photo required
FANCHENG = "XY.S.M15.S53.dist:420606"
BRANCHES_TODAY = "XY.S.M15.S53.item:0502"  # the catalogue's 树枝断落 counts the library's 05001
LANDSCAPING_RESPONSE = "XY.S.M15.S54.cat:05"
CITY_RESPONSE = "XY.S.M15.S54"
FANCHENG_ON_TIME = "XY.S.M15.S55.dist:420606"


@pytest.fixture
def hub(redis_service: EmbeddedService, mqtt_service: EmbeddedService) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_service.url)
    client.flushall()
    dispatcher: ChildProcess = start_dispatcher(
        redis_service.url, mqtt_service.url, "hub-signs", DISPATCH_SIGNS_MIN_S="0.2", DISPATCH_SIGNS_REFRESH_S="30"
    )
    try:
        yield client
    finally:
        dispatcher.stop()
        client.close()


def _value(client: redis.Redis, sign_id: str) -> tuple[float, Quality] | None:
    latest = read_latest(client, sign_id)
    return (latest.value, latest.quality) if latest else None


def _branch(client: redis.Redis, at: float) -> str:
    report = Report(BRANCH, Location(32.04, 112.14, "檀溪路小区北门"), "树枝横出", Source.GRID, "grid-07")
    return file_report(client, report, library(), "420606", at).id


def test_events_filed_and_handled_move_the_signs(hub: redis.Redis) -> None:
    # Before any event: nothing today is a count of zero; no rate has anything to measure.
    wait_for(lambda: _value(hub, FANCHENG) == (0.0, Quality.OK), 20, "events today 0 in 樊城区")
    assert _value(hub, CITY_RESPONSE) == (0.0, Quality.NO_DATA)
    assert _value(hub, "XY.S.M15.S53.item:1208") == (0.0, Quality.NO_DATA)  # no library type: no data, not 0

    first, second = _branch(hub, time.time()), _branch(hub, time.time())
    wait_for(lambda: _value(hub, FANCHENG) == (2.0, Quality.OK), 20, "two events today in 樊城区")
    assert _value(hub, BRANCHES_TODAY) == (2.0, Quality.OK)
    wait_for(lambda: all(get_event(hub, i).status is Status.DISPATCHED for i in (first, second)), 10, "dispatched")  # type: ignore[union-attr]
    assert _value(hub, LANDSCAPING_RESPONSE) == (0.0, Quality.NO_DATA)  # both clocks still running

    lib = library()
    act(hub, first, "sign_for", lib, "zhujian", time.time())
    wait_for(lambda: _value(hub, LANDSCAPING_RESPONSE) == (100.0, Quality.OK), 20, "the response rate at 100 %")
    assert _value(hub, CITY_RESPONSE) == (100.0, Quality.OK)
    assert _value(hub, FANCHENG_ON_TIME) == (0.0, Quality.NO_DATA)

    act(hub, first, "handle", lib, "zhujian", time.time(), note="已修剪", evidence=("https://photos.example/1.jpg",))
    act(hub, first, "close", lib, "duty", time.time())
    wait_for(lambda: _value(hub, FANCHENG_ON_TIME) == (100.0, Quality.OK), 20, "on time and fed back at 100 %")
    assert _value(hub, FANCHENG) == (2.0, Quality.OK)  # closing one does not uncount it

    # Only OK values reach history and the alert engine.
    assert len(read_history(hub, FANCHENG, time.time() - 600)) >= 1
    landed = {sign for _, fields in stream_range(hub, KEY_READINGS) for sign, _, _ in unpack_landed(fields[b"r"])}
    assert FANCHENG in landed and LANDSCAPING_RESPONSE in landed
    assert "XY.S.M15.S53.item:1208" not in landed and FANCHENG_ON_TIME in landed
