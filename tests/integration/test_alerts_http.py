"""The officers' alerts API over HTTP against a real Redis (Flask's test client, no browser): who may act, what
is refused and how, and that the audit records the signed-in user whatever the request says."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable

import pytest
import redis
from flask import Flask, g
from flask.testing import FlaskClient

import api.alerts
import auth.web
from alerts import store
from alerts.model import Alert, Event
from api.alerts import alerts_blueprint
from auth.model import Role
from auth.store import create_wall_token, save_user
from auth.web import init_auth
from callbacks.alerts import Action, alert_action, lift_action, run_action
from config import Settings
from layouts import alerts as ids
from signs.catalogue import catalogue
from tests.alerting import AlertRaiser, red_sign, stored_alert
from tests.web import ORIGIN, PASSWORD, dash_prop, signed_in

pytestmark = pytest.mark.integration


@pytest.fixture
def raise_alert(redis_client: redis.Redis, redis_service) -> Callable[[], Alert]:
    """An alert raised by the real engine from one red reading."""
    raiser = AlertRaiser(redis_service.url, redis_client)
    return lambda: raiser.raise_red(red_sign())


@pytest.fixture
def web(redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Callable[..., FlaskClient]:
    """The real sign-in and request guard with the real alerts API, in production mode: every request needs a
    session or a wall token."""

    def make() -> FlaskClient:
        cfg = Settings(run_dir=tmp_path, environment="production", web_secret_key="k" * 32)
        monkeypatch.setattr(auth.web, "shared_redis", lambda: redis_client)
        monkeypatch.setattr(auth.web, "settings", lambda: cfg)
        monkeypatch.setattr(api.alerts, "shared_redis", lambda: redis_client)
        app = Flask(__name__)
        init_auth(app, cfg)
        app.register_blueprint(alerts_blueprint)
        return app.test_client()

    save_user(redis_client, "duty1", Role.OFFICER, PASSWORD, display_name="值班员一", by="test")
    save_user(redis_client, "leader1", Role.LEADER, PASSWORD, district="420624", by="test")
    return make


def test_an_officer_acknowledges_and_resolves_and_the_audit_names_them(
    web, raise_alert, redis_client: redis.Redis
) -> None:
    alert = raise_alert()
    officer = signed_in(web(), "duty1")
    listed = officer.get("/api/v1/alerts?level=red&status=raised").get_json()
    assert alert.id in [a["id"] for a in listed["alerts"]]

    # The body's "by" is ignored: the actor is whoever is signed in.
    response = officer.post(
        f"/api/v1/alerts/{alert.id}/acknowledge", json={"note": "crew sent", "by": "somebody else"}, headers=ORIGIN
    )
    assert response.status_code == 200
    assert response.get_json()["acknowledged"]["by"] == "duty1"
    again = officer.post(f"/api/v1/alerts/{alert.id}/acknowledge", json={"note": "twice"}, headers=ORIGIN)
    assert again.status_code == 409 and "error" in again.get_json()

    no_note = officer.post(f"/api/v1/alerts/{alert.id}/resolve", data={"note": "  "}, headers=ORIGIN)
    assert no_note.status_code == 400 and "note" in no_note.get_json()["error"]
    resolved = officer.post(f"/api/v1/alerts/{alert.id}/resolve", data={"note": "drain cleared"}, headers=ORIGIN)
    assert resolved.status_code == 200 and resolved.get_json()["status"] == "resolved"

    shown = officer.get(f"/api/v1/alerts/{alert.id}").get_json()
    assert [(h["event"], h["by"], h["note"]) for h in shown["history"]][1:] == [
        ("acknowledged", "duty1", "crew sent"),
        ("resolved", "duty1", "drain cleared"),
    ]
    audit = [(t.event, t.by) for t in store.read_audit(redis_client) if t.alert_id == alert.id]
    assert (Event.ACKNOWLEDGED, "duty1") in audit and (Event.RESOLVED, "duty1") in audit
    assert officer.post("/api/v1/alerts/no-such-alert/acknowledge", json={}, headers=ORIGIN).status_code == 404


def test_an_officer_silences_a_district_within_bounds_and_lifts_it(web, raise_alert, redis_client: redis.Redis) -> None:
    alert = raise_alert()
    officer = signed_in(web(), "duty1")
    body = {"scope": "district", "target": alert.district, "minutes": 30, "reason": "pump station maintenance"}
    assert officer.post("/api/v1/silences", json={**body, "minutes": 1}, headers=ORIGIN).status_code == 400
    assert officer.post("/api/v1/silences", json={**body, "minutes": 2000}, headers=ORIGIN).status_code == 400
    assert officer.post("/api/v1/silences", json={**body, "reason": ""}, headers=ORIGIN).status_code == 400
    assert officer.post("/api/v1/silences", json={**body, "scope": "city"}, headers=ORIGIN).status_code == 400
    created = officer.post("/api/v1/silences", json=body, headers=ORIGIN)
    assert created.status_code == 201
    silence = created.get_json()
    assert silence["by"] == "duty1" and 29 * 60 < silence["until"] - time.time() <= 30 * 60
    # Silenced alerts are still listed, marked as silenced.
    listed = officer.get("/api/v1/alerts").get_json()["alerts"]
    assert next(a for a in listed if a["id"] == alert.id)["silence"]["id"] == silence["id"]

    assert officer.post(f"/api/v1/silences/{silence['id']}/lift", headers=ORIGIN).status_code == 200
    assert officer.post(f"/api/v1/silences/{silence['id']}/lift", headers=ORIGIN).status_code == 404
    assert stored_alert(redis_client, alert.id).silence is None


def test_leaders_walls_and_strangers_may_not_act(web, raise_alert, redis_client: redis.Redis) -> None:
    alert = raise_alert()
    leader = signed_in(web(), "leader1")
    assert leader.get("/api/v1/alerts").status_code == 200  # reading is allowed
    refused = leader.post(f"/api/v1/alerts/{alert.id}/acknowledge", json={"note": "x"}, headers=ORIGIN)
    assert refused.status_code == 403 and "not allowed" in refused.get_json()["error"]
    assert (
        leader.post(
            "/api/v1/silences",
            json={"scope": "sign", "target": alert.sign_id, "minutes": 30, "reason": "x"},
            headers=ORIGIN,
        ).status_code
        == 403
    )

    wall = web()
    token = create_wall_token(redis_client, "main-wall", by="test")
    assert wall.get(f"/api/v1/alerts?token={token}").status_code == 200
    assert wall.post(f"/api/v1/alerts/{alert.id}/acknowledge", json={}, headers=ORIGIN).status_code == 403

    stranger = web().post(f"/api/v1/alerts/{alert.id}/acknowledge", json={}, headers=ORIGIN)
    assert stranger.status_code == 401 and stranger.get_json()["error"]
    assert stored_alert(redis_client, alert.id).acknowledged is None


def test_a_cross_origin_or_replayed_post_is_refused_even_for_an_officer(
    web, raise_alert, redis_client: redis.Redis
) -> None:
    alert = raise_alert()
    officer = signed_in(web(), "duty1")
    forged = officer.post(f"/api/v1/alerts/{alert.id}/acknowledge", json={}, headers={"Origin": "http://evil.example"})
    assert forged.status_code == 403 and "cross-origin" in forged.get_json()["error"]
    assert officer.post(f"/api/v1/alerts/{alert.id}/acknowledge", json={}).status_code == 403  # no Origin at all
    assert stored_alert(redis_client, alert.id).acknowledged is None


def test_the_pages_actions_authorise_on_the_server(
    raise_alert, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alerts page's Dash actions refuse a leader however the request was made, and act as the officer."""
    import callbacks.alerts

    alert = raise_alert()
    monkeypatch.setattr(callbacks.alerts, "shared_redis", lambda: redis_client)
    leader = save_user(redis_client, "leader2", Role.LEADER, PASSWORD, by="test")
    officer = save_user(redis_client, "duty2", Role.OFFICER, PASSWORD, by="test")
    form = {"ack_note": "seen", "resolve_note": "", "scope": "sign", "minutes": 30, "reason": "maintenance"}

    def outcome(action: Action) -> str:
        """How the action went, as the page says it: the class of the message run_action answers."""
        return str(dash_prop(run_action(action, "en"), "className"))

    app = Flask(__name__)
    with app.test_request_context():
        g.user = leader
        assert outcome(alert_action(ids.ACK_BUTTON, alert.id, form, "en")) == "error"
        assert stored_alert(redis_client, alert.id).acknowledged is None
        g.user = officer
        assert outcome(alert_action(ids.ACK_BUTTON, alert.id, form, "en")) == "ok"
        assert outcome(alert_action(ids.RESOLVE_BUTTON, alert.id, form, "en")) == "error"  # no note
        assert outcome(alert_action(ids.SILENCE_BUTTON, alert.id, form, "en")) == "ok"
        [silence] = store.list_silences(redis_client)
        assert silence.by == "duty2" and silence.target == alert.sign_id
        assert outcome(lift_action(silence.id, "en")) == "ok"
    acknowledged = stored_alert(redis_client, alert.id).acknowledged
    assert acknowledged is not None and acknowledged.by == "duty2"


def test_the_duty_log_tells_the_story_and_exports_csv_with_a_bom(web, raise_alert) -> None:
    alert = raise_alert()
    officer = signed_in(web(), "duty1")
    officer.post(f"/api/v1/alerts/{alert.id}/acknowledge", json={"note": "crew sent"}, headers=ORIGIN)
    log = officer.get("/api/v1/duty-log").get_json()
    assert log["counts"]["raised"] == 1 and log["counts"]["acknowledged"] == 1
    assert [p["username"] for p in log["on_duty"]] == ["duty1"]
    assert log["on_duty"][0]["display_name"] == "值班员一" and log["on_duty"][0]["actions"] == 1
    assert [a["id"] for a in log["open_at_handover"]] == [alert.id]

    exported = officer.get("/api/v1/duty-log?format=csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert exported.data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(exported.data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["时间", "类别", "事件"]
    assert any(row[2] == "确认" and row[3] == "duty1" and row[9] == "crew sent" for row in rows)
    assert officer.get("/api/v1/duty-log?from=2026-05-24T20:00&to=2026-05-24T08:00").status_code == 400
    assert officer.get("/api/v1/duty-log?format=pdf").status_code == 400


# Incidents ------------------------------------------------------------------------------------------------------

POWER_NANZHANG = ("XY.T.M05.T18.dist:420624", "XY.T.M05.T19.dist:420624")  # one incident: 南漳's power grid
POWER_XIANGCHENG = "XY.T.M05.T18.dist:420602"


@pytest.fixture
def power_incidents(redis_client: redis.Redis, redis_service) -> tuple[str, str]:
    """(南漳's power incident of two alerts, 襄城's of one), raised by the real engine."""
    raiser = AlertRaiser(redis_service.url, redis_client)
    signs = catalogue().signs
    nanzhang = [raiser.raise_red(signs[s]) for s in POWER_NANZHANG]
    xiangcheng = raiser.raise_red(signs[POWER_XIANGCHENG])
    assert nanzhang[0].incident and nanzhang[0].incident == nanzhang[1].incident != xiangcheng.incident
    return nanzhang[0].incident, xiangcheng.incident


def test_an_officer_acknowledges_assigns_and_resolves_a_whole_incident_with_one_note(
    web, power_incidents, redis_client: redis.Redis
) -> None:
    incident_id, _ = power_incidents
    save_user(redis_client, "duty2", Role.OFFICER, PASSWORD, by="test")
    officer = signed_in(web(), "duty1")
    listed = officer.get("/api/v1/incidents?lang=en").get_json()
    mine = next(i for i in listed["incidents"] if i["id"] == incident_id)
    assert mine["title"] == "Nanzhang County · Power · 2 alerts" and mine["count"] == 2 and mine["status"] == "raised"

    acked = officer.post(f"/api/v1/incidents/{incident_id}/acknowledge", json={"note": "grid crew"}, headers=ORIGIN)
    assert acked.status_code == 200 and acked.get_json()["status"] == "acknowledged"
    again = officer.post(f"/api/v1/incidents/{incident_id}/acknowledge", json={}, headers=ORIGIN)
    assert again.status_code == 409

    nobody = officer.post(f"/api/v1/incidents/{incident_id}/assign", json={"to": "leader1"}, headers=ORIGIN)
    assert nobody.status_code == 400  # a leader is not an officer who may be handed alerts
    mine = officer.post(f"/api/v1/incidents/{incident_id}/assign", json={}, headers=ORIGIN)  # themselves
    assert mine.status_code == 200 and mine.get_json()["assignee"]["to"] == "duty1"
    handed = officer.post(
        f"/api/v1/incidents/{incident_id}/assign", json={"to": "duty2", "note": "shift"}, headers=ORIGIN
    )
    assert handed.status_code == 200 and handed.get_json()["assignee"] == {
        "to": "duty2", "by": "duty1", "at": pytest.approx(time.time(), abs=30), "note": "shift"
    }  # fmt: skip

    resolved = officer.post(f"/api/v1/incidents/{incident_id}/resolve", data={"note": "power back"}, headers=ORIGIN)
    assert resolved.status_code == 200 and resolved.get_json()["status"] == "resolved"
    shown = officer.get(f"/api/v1/incidents/{incident_id}").get_json()
    assert [e["event"] for e in shown["timeline"]] == [
        "opened",
        "joined",
        "acknowledged",
        "assigned",
        "assigned",
        "resolved",
    ]
    members = {a["id"] for a in shown["alerts"]}
    audit = [
        (t.alert_id, t.event, t.by, t.note, t.assignee) for t in store.read_audit(redis_client) if t.alert_id in members
    ]
    for member in members:  # each member's own audit entry of each act on the incident
        assert (member, Event.ACKNOWLEDGED, "duty1", "grid crew", "") in audit
        assert (member, Event.ASSIGNED, "duty1", "shift", "duty2") in audit
        assert (member, Event.RESOLVED, "duty1", "power back", "duty2") in audit
    assert officer.post("/api/v1/incidents/inc-nothing/acknowledge", json={}, headers=ORIGIN).status_code == 404


def test_an_officer_assigns_one_alert_and_the_assignee_is_shown(
    web, power_incidents, redis_client: redis.Redis
) -> None:
    incident_id, _ = power_incidents
    incident = store.get_incident(redis_client, incident_id)
    assert incident is not None
    alert_id = incident.incident.members[0]
    officer = signed_in(web(), "duty1")
    response = officer.post(f"/api/v1/alerts/{alert_id}/assign", json={"note": "mine"}, headers=ORIGIN)
    assert response.status_code == 200 and response.get_json()["assignee"]["to"] == "duty1"
    assert officer.post(f"/api/v1/alerts/{alert_id}/assign", json={}, headers=ORIGIN).status_code == 409  # already
    timeline = officer.get(f"/api/v1/incidents/{incident_id}").get_json()["timeline"]
    assert (timeline[-1]["event"], timeline[-1]["alert_id"], timeline[-1]["detail"]) == ("assigned", alert_id, "duty1")


def test_incidents_follow_the_leaders_scope_and_only_officers_act(web, power_incidents, redis_client) -> None:
    nanzhang, xiangcheng = power_incidents
    leader = signed_in(web(), "leader1")  # 南漳's leader
    listed = leader.get("/api/v1/incidents").get_json()["incidents"]
    assert [i["id"] for i in listed] == [nanzhang]
    assert leader.get(f"/api/v1/incidents/{xiangcheng}").status_code == 403
    assert leader.get("/api/v1/incidents?district=420602").status_code == 403
    assert leader.post(f"/api/v1/incidents/{nanzhang}/acknowledge", json={}, headers=ORIGIN).status_code == 403

    wall = web()
    token = create_wall_token(redis_client, "main-wall", by="test")
    assert wall.get(f"/api/v1/incidents?token={token}").status_code == 200
    assert wall.post(f"/api/v1/incidents/{nanzhang}/assign", json={}, headers=ORIGIN).status_code == 403
    assert web().post(f"/api/v1/incidents/{nanzhang}/acknowledge", json={}, headers=ORIGIN).status_code == 401
    assert web().get("/api/v1/incidents").status_code == 401
    officer = signed_in(web(), "duty1")
    cross = officer.post(
        f"/api/v1/incidents/{nanzhang}/acknowledge", json={}, headers={"Origin": "http://evil.example"}
    )
    assert cross.status_code == 403
    view = store.get_incident(redis_client, nanzhang)
    assert view is not None and all(a.acknowledged is None for a in view.members)


def test_every_incident_and_assignment_action_is_refused_to_who_may_not_act(
    web, power_incidents, redis_client: redis.Redis
) -> None:
    incident_id, _ = power_incidents
    incident = store.get_incident(redis_client, incident_id)
    assert incident is not None
    alert_id = incident.incident.members[0]
    actions = [
        f"/api/v1/incidents/{incident_id}/acknowledge",
        f"/api/v1/incidents/{incident_id}/resolve",
        f"/api/v1/incidents/{incident_id}/assign",
        f"/api/v1/alerts/{alert_id}/assign",
    ]
    leader = signed_in(web(), "leader1")  # 南漳's own leader: reads the incident, may not act on it
    token = create_wall_token(redis_client, "refusal-wall", by="test")
    wall = web()
    assert wall.get(f"/api/v1/incidents?token={token}").status_code == 200
    for path in actions:
        body = {"note": "not mine to do"}
        assert leader.post(path, json=body, headers=ORIGIN).status_code == 403, path
        assert wall.post(path, json=body, headers=ORIGIN).status_code == 403, path
        assert web().post(path, json=body, headers=ORIGIN).status_code == 401, path
    after = store.get_incident(redis_client, incident_id)
    assert after is not None and after.incident.assignee is None and after.status.value == "raised"
