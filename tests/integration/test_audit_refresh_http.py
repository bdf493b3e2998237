"""The pages that follow an audit stream (/alerts, /events, /inbox) over Dash's callback route, against the whole
web app on a real Redis: a poll sends nothing while the newest audit entry is the one the page drew, the page
redraws when the stream has moved or the user has acted, and a Redis that stops answering is said where the list
stands, the rest of the page left as it was."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

import callbacks.audit_refresh
from layouts import alerts as alert_ids
from layouts import events as event_ids
from services.embedded import free_port
from tests.web import DISPATCH_PATH, ORIGIN, callback_request, create_accounts, signed_in

pytestmark = pytest.mark.integration

PAGES = [
    pytest.param(alert_ids, "/alerts?lang=en", id="alerts"),
    pytest.param(event_ids, {"page": event_ids.EVENTS, "href": "/events?lang=en"}, id="events"),
    pytest.param(event_ids, {"page": event_ids.INBOX, "href": "/inbox?lang=en"}, id="inbox"),
]


def refresh(client: FlaskClient, ids: ModuleType, state: object, held_audit: object, trigger: str) -> dict[str, Any]:
    """What the page's refresh sent, by component id: nothing when it changed nothing."""
    values = {f"{ids.STATE}.data": state, f"{ids.AUDIT_SEEN}.data": held_audit}
    body = {**callback_request(f"..{ids.COUNTS}.children", values), "changedPropIds": [trigger]}
    response = client.post(DISPATCH_PATH, json=body, headers=ORIGIN)
    assert response.status_code in (200, 204), response.get_data(as_text=True)[:300]
    return {} if response.status_code == 204 else response.get_json()["response"]


@pytest.mark.parametrize(("ids", "state"), PAGES)
def test_a_page_redraws_only_when_its_audit_moved_or_its_user_acted(
    web_server: Flask, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch, ids: ModuleType, state: object
) -> None:
    create_accounts(redis_client)
    officer = signed_in(web_server.test_client(), "duty1")
    tick, acted = f"{ids.TICK}.n_intervals", f"{ids.ACTED}.data"

    first = refresh(officer, ids, state, None, tick)
    assert {ids.COUNTS, ids.LIST, ids.DETAIL, ids.AUDIT_SEEN} <= set(first)
    seen = first[ids.AUDIT_SEEN]["data"]
    assert isinstance(seen, str)
    assert refresh(officer, ids, state, seen, tick) == {}
    moved = refresh(officer, ids, state, "0-0", tick)  # what the page holds is older than the newest entry
    assert moved[ids.AUDIT_SEEN]["data"] == seen and ids.LIST in moved
    assert ids.LIST in refresh(officer, ids, state, seen, acted)
    assert ids.LIST in refresh(officer, ids, state, {"not": "an id"}, tick)  # junk held is nothing drawn yet

    nobody_listens = redis.Redis(port=free_port(), socket_connect_timeout=1)
    monkeypatch.setattr(callbacks.audit_refresh, "shared_redis", lambda: nobody_listens)
    failed = refresh(officer, ids, state, seen, tick)
    assert set(failed) == {ids.LIST}
    assert "Redis:" in json.dumps(failed[ids.LIST]) and '"error"' in json.dumps(failed[ids.LIST])
