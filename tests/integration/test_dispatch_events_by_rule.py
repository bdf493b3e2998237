"""Events raised by rule, through the real alert engine and the real dispatcher: a waterlogging point's red alert
becomes one 道路积水 event, linked both ways and dispatched; an orange one at another point raises none; the
dispatcher reading the whole alerts audit again files nothing twice."""

from __future__ import annotations

import time

import pytest
import redis

from alerts import store as alert_store
from dispatch import lifecycle
from dispatch.alert_rules import RULE_ACTOR, load_rules
from dispatch.library import library
from dispatch.lifecycle import LifecycleError
from dispatch.model import Event, Report, Source
from dispatch.store import create, event_raised_from, get_event, list_open
from services.embedded import EmbeddedService
from signs.catalogue import catalogue
from signs.keys import KEY_EVENTS_RULES_CURSOR
from tests.alerting import AlertRaiser
from tests.dispatching import start_dispatcher
from tests.processes import wait_for

pytestmark = pytest.mark.integration

RED_POINT, ORANGE_POINT = "XY.T.M08.T28.wl:WL01", "XY.T.M08.T28.wl:WL02"


def test_a_red_waterlogging_alert_becomes_one_event_linked_both_ways(
    redis_client: redis.Redis, redis_service: EmbeddedService, mqtt_service: EmbeddedService
) -> None:
    rules = load_rules(catalogue(), library())
    assert [(r.signs, r.level.en, r.type_code) for r in rules] == [("XY.T.M08.T28.wl:*", "red", "0600101")]
    raiser = AlertRaiser(redis_service.url, redis_client)
    now = time.time()
    raiser.engine.evaluate([(RED_POINT, now, 45.0), (ORANGE_POINT, now, 30.0)])
    alerts = {a.sign_id: a for a in alert_store.list_active(redis_client)}
    assert (alerts[RED_POINT].level.en, alerts[ORANGE_POINT].level.en) == ("red", "orange")
    red = alerts[RED_POINT]

    dispatcher = start_dispatcher(redis_service.url, mqtt_service.url, "rules")
    try:
        event_id = wait_for(lambda: event_raised_from(redis_client, red.id), 30, "the red alert's event")

        def dispatched() -> Event | None:
            event = get_event(redis_client, event_id)
            return event if event is not None and event.status.value == "dispatched" else None

        event = wait_for(dispatched, 30, "the event dispatched")
        assert event.type_code == "0600101" and event.linked == (red.id,) and event.source.value == "alert"
        assert event.reporter == RULE_ACTOR and event.location.district == red.district
        assert event.unit is not None and event.unit.department == "D02"  # the type's lead, 市住建局
        # Read the whole audit again, as a dispatcher without its cursor would: nothing is filed twice.
        redis_client.delete(KEY_EVENTS_RULES_CURSOR)
        wait_for(lambda: redis_client.exists(KEY_EVENTS_RULES_CURSOR), 10, "the audit read again")
        time.sleep(0.5)
    finally:
        dispatcher.stop()
    assert "Traceback" not in dispatcher.log()
    assert [e.id for e in list_open(redis_client)] == [event_id]
    assert event_raised_from(redis_client, alerts[ORANGE_POINT].id) is None
    # Past the hub's early check, the store's own refuses a second event naming the same alert.
    lib = library()
    second, transition = lifecycle.report(
        Report("0600101", event.location, "again", Source.ALERT, red.id, "officer", linked=(red.id,)),
        lib.types["0600101"], time.time(),
    )  # fmt: skip
    with pytest.raises(LifecycleError, match=f"{red.id} is already event {event_id}"):
        create(redis_client, second, transition)
    assert get_event(redis_client, second.id) is None and event_raised_from(redis_client, red.id) == event_id
