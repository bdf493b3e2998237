"""Department handlers and the centre's officers on the event hub over HTTP, through the whole production app: a
handler sees and acts on their own unit's events only (403 for another department's, for a co-dispatched one and
for the centre's steps), a leader cannot act at all, photos are checked by their bytes and their size, and every
endpoint and callback the /inbox and /events pages use answers, including raising an event from an alert."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from alerts.model import Alert
from auth.model import Role
from auth.store import save_user
from config import settings
from dispatch.hub import auto_dispatch, file_report
from dispatch.library import library
from dispatch.model import Event, Location, Report, Source
from dispatch.simulate import sample_photo
from dispatch.store import get_event
from layouts import alerts as alert_ids
from layouts import events as ids
from services.embedded import EmbeddedService
from tests.alerting import AlertRaiser, red_sign
from tests.web import (
    DISPATCH_PATH,
    ORIGIN,
    PASSWORD,
    callback_request,
    create_accounts,
    dash_app,
    run_callback,
    signed_in,
)

pytestmark = pytest.mark.integration

FANCHENG = "420606"  # a central district: the housing bureau's city unit handles its events
BRANCH = "0500101"  # 树木倒伏/断枝: 市住建局 (D02), a photo required
DUST = "0101501"  # 工地扬尘: 市住建局 leads, 市城管执法委 (D01) co-dispatched
NOISE = "0101401"  # 施工扰民: 市城管执法委 leads, a note is enough




@dataclass
class Hub:
    server: Flask
    redis: redis.Redis
    branch: Event  # 市住建局's
    dust: Event  # 市住建局's, 市城管执法委 co-dispatched
    noise: Event  # 市城管执法委's
    alert: Alert

    def client(self, username: str | None = None) -> FlaskClient:
        client = self.server.test_client()
        return signed_in(client, username) if username else client


def _filed(client: redis.Redis, type_code: str, description: str) -> Event:
    lib = library()
    event = file_report(client, Report(type_code, Location(32.04, 112.14), description, Source.OFFICER), lib,
                        FANCHENG, 1_790_000_000.0)  # fmt: skip
    return auto_dispatch(client, event.id, lib, 1_790_000_010.0)


@pytest.fixture(scope="module")
def hub(web_server: Flask, redis_service: EmbeddedService) -> Iterator[Hub]:
    client = redis.Redis.from_url(redis_service.url)
    create_accounts(client)
    save_user(client, "zhujian", Role.HANDLER, PASSWORD, department="D02", by="test")
    save_user(client, "chengguan", Role.HANDLER, PASSWORD, department="D01", by="test")
    save_user(client, "gucheng", Role.HANDLER, PASSWORD, department="D02", district="420625", by="test")
    branch = _filed(client, BRANCH, "小区门口树枝横出")
    dust, noise = _filed(client, DUST, "工地扬尘"), _filed(client, NOISE, "夜间施工")
    alert = AlertRaiser(redis_service.url, client).raise_red(red_sign(FANCHENG))
    yield Hub(web_server, client, branch, dust, noise, alert)
    client.close()


def _post(client: FlaskClient, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    response = client.post(path, json=body or {}, headers=ORIGIN)
    return response.status_code, response.get_json(silent=True)


def test_a_handler_sees_only_their_units_events(hub: Hub) -> None:
    zhujian, chengguan, gucheng = hub.client("zhujian"), hub.client("chengguan"), hub.client("gucheng")
    assert {e["id"] for e in zhujian.get("/api/v1/events").get_json()} >= {hub.branch.id, hub.dust.id}
    assert hub.noise.id not in {e["id"] for e in zhujian.get("/api/v1/events").get_json()}
    # Co-dispatched on the dust event: seen, listed.
    assert {e["id"] for e in chengguan.get("/api/v1/events").get_json()} >= {hub.dust.id, hub.noise.id}
    # The county's housing unit sees none of the city's events, only its county's (earlier tests may have left some).
    seen_in_gucheng = gucheng.get("/api/v1/events").get_json()
    assert {e["id"] for e in seen_in_gucheng}.isdisjoint({hub.branch.id, hub.dust.id, hub.noise.id})
    assert all(e["location"]["district"] == "420625" for e in seen_in_gucheng), seen_in_gucheng
    assert zhujian.get(f"/api/v1/events/{hub.noise.id}").status_code == 403
    assert gucheng.get(f"/api/v1/events/{hub.branch.id}").status_code == 403
    assert zhujian.get(f"/api/v1/events/{hub.branch.id}").get_json()["event"]["unit"] == "D02"
    officer = hub.client("duty1")
    assert {hub.branch.id, hub.noise.id} <= {e["id"] for e in officer.get("/api/v1/events").get_json()}


def test_nobody_acts_outside_their_unit_and_a_leader_never_acts(hub: Hub) -> None:
    zhujian, chengguan, leader = hub.client("zhujian"), hub.client("chengguan"), hub.client("nanzhang")
    city_leader = hub.client("cityleader")
    assert _post(zhujian, f"/api/v1/events/{hub.noise.id}/sign_for")[0] == 403
    assert _post(chengguan, f"/api/v1/events/{hub.dust.id}/sign_for")[0] == 403  # co-dispatched: told, not lead
    assert _post(zhujian, f"/api/v1/events/{hub.branch.id}/dispatch", {"department": "D01"})[0] == 403
    assert _post(zhujian, f"/api/v1/events/{hub.branch.id}/escalate")[0] == 403
    for who in (leader, city_leader):
        for action in ("sign_for", "progress", "handle", "return", "dispatch", "close", "escalate", "rate"):
            assert _post(who, f"/api/v1/events/{hub.noise.id}/{action}", {"note": "x"})[0] == 403, action
        photo = {"photo": (io.BytesIO(sample_photo(1)), "a.png")}
        upload = who.post(f"/api/v1/events/{hub.noise.id}/evidence", data=photo, headers=ORIGIN)
        assert upload.status_code == 403
        assert _post(who, "/api/v1/events/from-alert", {"type": NOISE, "alert": hub.alert.id})[0] == 403
    assert _post(hub.client(), f"/api/v1/events/{hub.noise.id}/sign_for")[0] == 401
    for event in (hub.noise, hub.dust):
        assert get_event(hub.redis, event.id) == event  # untouched by every refusal


def test_a_handler_signs_for_documents_and_finishes_and_the_centre_closes_and_rates(hub: Hub) -> None:
    zhujian, chengguan, officer = hub.client("zhujian"), hub.client("chengguan"), hub.client("duty1")
    url = f"/api/v1/events/{hub.branch.id}"
    assert _post(zhujian, f"{url}/sign_for")[1]["status"] == "signed_for"
    assert _post(zhujian, f"{url}/progress", {"note": "已到场"})[1]["status"] == "in_progress"
    assert _post(zhujian, f"{url}/handle", {"note": "已清理"})[0] == 409  # this type needs a photo

    def upload(client: FlaskClient, data: bytes, name: str = "site.png") -> Any:
        return client.post(f"{url}/evidence", data={"photo": (io.BytesIO(data), name)}, headers=ORIGIN)

    assert upload(zhujian, b"GIF89a not accepted").status_code == 400
    assert upload(zhujian, b"<svg xmlns='http://www.w3.org/2000/svg'/>", "x.png").status_code == 400
    big = b"\xff\xd8\xff" + b"\0" * settings().evidence_photo_max_bytes
    assert upload(zhujian, big, "big.jpg").status_code in (400, 413)
    assert upload(chengguan, sample_photo(1)).status_code == 403
    stored = upload(zhujian, sample_photo(1))
    assert stored.status_code == 200, stored.get_json()
    photo = stored.get_json()["url"]
    served = zhujian.get(photo)
    assert served.status_code == 200 and served.mimetype == "image/png" and served.data == sample_photo(1)
    assert chengguan.get(photo).status_code == 403
    assert _post(zhujian, f"{url}/handle", {"note": "已清理", "evidence": ["javascript:alert(1)"]})[0] == 400
    done = _post(zhujian, f"{url}/handle", {"note": "树枝已修剪清运"})[1]
    assert done["status"] == "handled" and done["evidence"] == [photo]
    assert _post(zhujian, f"{url}/close")[0] == 403  # verification is the centre's
    assert _post(officer, f"{url}/close", {"note": "核查属实"})[1]["status"] == "closed"
    assert _post(officer, f"{url}/rate", {"score": 9})[0] == 409
    rated = _post(officer, f"{url}/rate", {"score": 4, "note": "处置及时"})[1]
    assert (rated["rating"], rated["rating_note"]) == (4, "处置及时")
    history = officer.get(url).get_json()["history"]
    assert [(h["action"], h["by"]) for h in history[2:]] == [
        ("signed_for", "zhujian"), ("progress", "zhujian"), ("handled", "zhujian"), ("closed", "duty1"),
        ("rated", "duty1"),
    ]  # fmt: skip


def test_the_pages_and_their_callbacks_answer_within_scope(hub: Hub) -> None:
    zhujian, chengguan, officer = hub.client("zhujian"), hub.client("chengguan"), hub.client("duty1")
    for client, path in ((zhujian, "/inbox"), (zhujian, "/inbox?lang=en"), (officer, "/events"),
                         (officer, "/events?status=all&department=D02&late=1&lang=en")):  # fmt: skip
        assert client.get(path).status_code == 200, path
    refresh = f"..{ids.COUNTS}.children"

    def inbox(client: FlaskClient, selected: str = "", page: str = ids.INBOX) -> str:
        href = f"/{page}" + (f"?event={selected}" if selected else "")
        return run_callback(client, refresh, {f"{ids.STATE}.data": {"page": page, "href": href}})

    mine = inbox(zhujian)
    assert hub.dust.id in mine and hub.noise.id not in mine
    assert hub.noise.id in inbox(chengguan) and hub.dust.id in inbox(chengguan)
    assert "无权查看" in inbox(zhujian, hub.noise.id)  # a link to another unit's event shows nothing of it
    assert hub.noise.id in inbox(officer, page=ids.EVENTS)

    def press(client: FlaskClient, button: str, selected: str, note: str = "", **states: object) -> str:
        values: dict[str, object] = {
            f"{button}.n_clicks": 1, f"{ids.NOTE}.value": note,
            f"{ids.STATE}.data": {"page": ids.INBOX, "href": f"/inbox?event={selected}"},
            **{f"{k}.value": v for k, v in states.items()},
        }  # fmt: skip
        return _click(client, button, values)

    assert "未执行" in press(chengguan, ids.SIGN_FOR_BUTTON, hub.dust.id)  # co-dispatched: not theirs to sign
    assert get_event(hub.redis, hub.dust.id) == hub.dust
    press(zhujian, ids.SIGN_FOR_BUTTON, hub.dust.id)
    assert get_event(hub.redis, hub.dust.id).status.value == "signed_for"  # type: ignore[union-attr]
    press(chengguan, ids.RETURN_BUTTON, hub.noise.id, "不属于本单位")
    assert get_event(hub.redis, hub.noise.id).status.value == "returned"  # type: ignore[union-attr]
    press(zhujian, ids.DISPATCH_BUTTON, hub.noise.id, **{ids.DISPATCH_TO: "D01"})
    assert get_event(hub.redis, hub.noise.id).status.value == "returned"  # type: ignore[union-attr]
    press(officer, ids.DISPATCH_BUTTON, hub.noise.id, **{ids.DISPATCH_TO: "D01"})
    assert get_event(hub.redis, hub.noise.id).status.value == "dispatched"  # type: ignore[union-attr]

    # An alert becomes an event from /alerts, and each names the other.
    alert_state = {f"{alert_ids.STATE}.data": f"/alerts?alert={hub.alert.id}"}
    assert ids.FROM_ALERT_BUTTON in run_callback(officer, f"{alert_ids.EVENT_PANEL}.children", alert_state)
    clicked = {f"{ids.FROM_ALERT_BUTTON}.n_clicks": 1, f"{ids.FROM_ALERT_TYPE}.value": NOISE, **alert_state}
    raised = _click(officer, ids.FROM_ALERT_BUTTON, clicked)
    [event] = [e for e in officer.get("/api/v1/events").get_json() if e["linked"] == [hub.alert.id]]
    assert event["id"] in raised and event["source"] == "alert"
    assert event["id"] in run_callback(officer, f"{alert_ids.EVENT_PANEL}.children", alert_state)
    again = _post(officer, "/api/v1/events/from-alert", {"type": NOISE, "alert": hub.alert.id})
    assert again[0] == 409 and event["id"] in again[1]["error"]


def _click(client: FlaskClient, button: str, values: dict[str, object]) -> str:
    """What the callback taking `button`'s clicks sent back, as the renderer asks when that button is clicked."""
    callbacks = dash_app().callback_map
    key = next(k for k, c in callbacks.items() if any(i["id"] == button for i in c["inputs"]))
    body = {**callback_request(key, values), "changedPropIds": [f"{button}.n_clicks"]}
    response = client.post(DISPATCH_PATH, json=body, headers=ORIGIN)
    assert response.status_code in (200, 204), response.get_data(as_text=True)[:300]
    return json.dumps(response.get_json(silent=True), ensure_ascii=False)
