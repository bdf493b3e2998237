"""What a district leader may read (auth.scope), over HTTP with real sign-ins against the whole web app and a
real Redis: every sign's value city-wide, but district detail (the district page and exports, alerts and their
history, silences, the duty log) of their own district only. Officers, a leader without a district and walls
read the whole city."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from alerts.model import Alert
from auth.store import create_wall_token
from geo.admin import CITY_ADCODE
from layouts import alerts as alerts_ids
from layouts import district as district_ids
from layouts import dutylog as dutylog_ids
from tests.alerting import AlertRaiser, red_sign
from tests.web import ORIGIN, create_accounts, run_callback, signed_in

pytestmark = pytest.mark.integration

NANZHANG, XIANGCHENG = "420624", "420602"  # the leader's district, and another one
ROUTER = ".._pages_content.children"


@dataclass
class City:
    own: Alert  # in 南漳县
    other: Alert  # in 襄城区
    citywide: Alert
    web: Flask


@pytest.fixture
def city(web_server: Flask, redis_client: redis.Redis, redis_service) -> City:
    """Three open alerts and the officers' work on them: acknowledged with notes, silences on both districts."""
    create_accounts(redis_client)
    raiser = AlertRaiser(redis_service.url, redis_client)
    own, other, citywide = (raiser.raise_red(red_sign(a)) for a in (NANZHANG, XIANGCHENG, CITY_ADCODE))
    officer = signed_in(web_server.test_client(), "duty1")
    for alert in (own, other, citywide):
        ack = officer.post(
            f"/api/v1/alerts/{alert.id}/acknowledge", json={"note": f"crew to {alert.district}"}, headers=ORIGIN
        )
        assert ack.status_code == 200
    for target in (NANZHANG, XIANGCHENG):
        silence = {"scope": "district", "target": target, "minutes": 30, "reason": f"maintenance {target}"}
        assert officer.post("/api/v1/silences", json=silence, headers=ORIGIN).status_code == 201
    sign_silence = {"scope": "sign", "target": other.sign_id, "minutes": 30, "reason": "gauge swap"}
    assert officer.post("/api/v1/silences", json=sign_silence, headers=ORIGIN).status_code == 201
    return City(own, other, citywide, web_server)


def _client(city: City, username: str) -> FlaskClient:
    return signed_in(city.web.test_client(), username)


def _alert_ids(client: FlaskClient, query: str = "") -> set[str]:
    response = client.get(f"/api/v1/alerts{query}")
    assert response.status_code == 200, response.get_json()
    return {a["id"] for a in response.get_json()["alerts"]}


def _page(client: FlaskClient, path: str, search: str = "") -> str:
    """The page's layout as Dash's router renders it."""
    return run_callback(client, ROUTER, {"_pages_location.pathname": path, "_pages_location.search": search})


def test_a_leader_reads_only_their_districts_alerts(city: City) -> None:
    leader = _client(city, "nanzhang")
    assert _alert_ids(leader) == {city.own.id}
    assert _alert_ids(leader, "?recent=100") == {city.own.id}
    assert _alert_ids(leader, f"?district={NANZHANG}") == {city.own.id}
    for query in (f"?district={XIANGCHENG}", f"?district={CITY_ADCODE}"):
        response = leader.get(f"/api/v1/alerts{query}")
        assert response.status_code == 403 and XIANGCHENG[:4] in response.get_json()["error"]

    detail = leader.get(f"/api/v1/alerts/{city.own.id}")
    assert detail.status_code == 200 and "acknowledged" in [h["event"] for h in detail.get_json()["history"]]
    for alert in (city.other, city.citywide):
        refused = leader.get(f"/api/v1/alerts/{alert.id}")
        assert refused.status_code == 403 and "outside" in refused.get_json()["error"]

    silences = leader.get("/api/v1/silences").get_json()["silences"]
    assert [(s["scope"], s["target"]) for s in silences] == [("district", NANZHANG)]


def test_a_leader_gets_their_own_district_export_and_a_403_for_anothers(city: City) -> None:
    leader = _client(city, "nanzhang")
    for fmt in ("csv", "xlsx"):
        assert leader.get(f"/export/district/{NANZHANG}.{fmt}").status_code == 200
        refused = leader.get(f"/export/district/{XIANGCHENG}.{fmt}?lang=en")
        assert refused.status_code == 403 and "not allowed" in refused.get_json()["error"]
    # Every sign's value stays readable city-wide: the sign itself, its history, lists and the snapshot.
    assert leader.get(f"/api/v1/signs/{city.other.sign_id}").status_code == 200
    assert leader.get(f"/export/sign/{city.other.sign_id}.csv?range=1h").status_code == 200
    assert leader.get(f"/export/module/M01.xlsx?dist={XIANGCHENG}").status_code == 200
    assert leader.get(f"/api/v1/snapshot?district={XIANGCHENG}").get_json()["count"] > 0


def test_a_leaders_duty_log_holds_only_their_districts_entries(city: City) -> None:
    leader = _client(city, "nanzhang")
    log = leader.get("/api/v1/duty-log").get_json()
    assert {t["district"] for t in log["transitions"]} == {NANZHANG}
    assert {t["alert_id"] for t in log["transitions"] if t["alert_id"]} == {city.own.id}
    assert [a["id"] for a in log["open_at_handover"]] == [city.own.id]
    assert log["counts"]["raised"] == 1 and log["counts"]["acknowledged"] == 1 and log["counts"]["silence-added"] == 1
    # What was done in 南漳 only: its acknowledgement, its silence, and that silence reaching its alert.
    actions = {p["username"]: p["actions"] for p in log["on_duty"]}["duty1"]
    assert actions == sum(1 for t in log["transitions"] if t["by"] == "duty1") == 3

    exported = leader.get("/api/v1/duty-log?format=csv&lang=en")
    rows = list(csv.reader(io.StringIO(exported.data.decode("utf-8-sig"))))
    districts = {row[6] for row in rows[1:] if row[1] in ("alert", "open at handover")}
    assert districts == {"Nanzhang County"}
    assert not any(city.other.id in row or city.citywide.id in row for row in rows)


def test_an_officer_a_leader_without_a_district_and_a_wall_read_the_whole_city(
    city: City, redis_client: redis.Redis
) -> None:
    everything = {city.own.id, city.other.id, city.citywide.id}
    token = create_wall_token(redis_client, "main-wall", by="test")
    wall = city.web.test_client()
    assert _alert_ids(wall, f"?token={token}") == everything
    for username in ("duty1", "cityleader", "admin1"):
        reader = _client(city, username)
        assert _alert_ids(reader) == everything, username
        assert reader.get(f"/api/v1/alerts/{city.other.id}").status_code == 200
        assert reader.get(f"/export/district/{XIANGCHENG}.csv").status_code == 200
        assert len(reader.get("/api/v1/silences").get_json()["silences"]) == 3
        log = reader.get("/api/v1/duty-log").get_json()
        assert {t["district"] for t in log["transitions"]} >= {NANZHANG, XIANGCHENG, CITY_ADCODE}


def test_the_pages_say_what_a_leader_may_not_read(city: City) -> None:
    """The same rule on the pages: another district's page says so, its callback reads nothing, and the alerts
    and duty-log pages list the leader's district only."""
    leader = _client(city, "nanzhang")
    refused = _page(leader, f"/district/{XIANGCHENG}")
    assert "襄城区的区县详情只对本区县开放" in refused and district_ids.GRID not in refused
    assert f"/district/{NANZHANG}" in refused  # the way to their own
    own = _page(leader, f"/district/{NANZHANG}")
    assert district_ids.GRID in own and "只对本区县开放" not in own
    tick = {f"{district_ids.STATE}.data": f"/district/{XIANGCHENG}", f"{district_ids.TICK}.n_intervals": 1}
    assert json.loads(run_callback(leader, f"..{district_ids.GRID}", tick))["response"] == {}  # nothing read or sent
    tick[f"{district_ids.STATE}.data"] = f"/district/{NANZHANG}"
    assert "rowData" in run_callback(leader, f"..{district_ids.GRID}", tick)

    assert "只显示南漳县的告警与静默" in _page(leader, "/alerts")
    state = {f"{alerts_ids.TICK}.n_intervals": 1, f"{alerts_ids.ACTED}.data": 0}
    listed = run_callback(leader, f"..{alerts_ids.COUNTS}", {**state, f"{alerts_ids.STATE}.data": "/alerts?recent=100"})
    assert city.own.id in listed and city.other.id not in listed and city.citywide.id not in listed
    assert "maintenance 420624" in listed and "maintenance 420602" not in listed and "gauge swap" not in listed
    detail = run_callback(
        leader, f"..{alerts_ids.COUNTS}", {**state, f"{alerts_ids.STATE}.data": f"/alerts?alert={city.other.id}"}
    )
    assert "该告警不属于南漳县" in detail and "crew to 420602" not in detail

    duty = run_callback(leader, dutylog_ids.BODY, {f"{dutylog_ids.STATE}.data": {"from": "", "to": "", "lang": "zh"}})
    assert "crew to 420624" in duty and "crew to 420602" not in duty and "襄城区" not in duty
    assert "只显示南漳县的告警与处置记录" in _page(leader, "/duty-log")

    officer = _client(city, "duty1")
    everything = run_callback(
        officer, f"..{alerts_ids.COUNTS}", {**state, f"{alerts_ids.STATE}.data": "/alerts?recent=100"}
    )
    assert all(a.id in everything for a in (city.own, city.other, city.citywide))
    assert json.loads(everything)  # an answer, not an error page
