"""An outside reporting app files an event through Open311 over real HTTP; the dispatcher sends it to the right
department, whose robot (a local json:// receiver) is told; the app reads back status and agency_responsible.
Officers act on events over HTTP; a leader or an anonymous client cannot."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from werkzeug.serving import make_server

from services.embedded import EmbeddedService
from signs.keys import KEY_OPEN311_KEYS
from signs.replies import hgetall_bytes
from tests.dispatching import channels_file, receiving, start_dispatcher
from tests.processes import feed_env, run_cli, wait_for
from tests.web import ORIGIN, create_accounts, signed_in

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def base_url(web_server: Flask) -> Iterator[str]:
    """The production app behind a real HTTP server on a free port."""
    server = make_server("127.0.0.1", 0, web_server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def _call(method: str, url: str, form: dict[str, str] | None = None) -> tuple[int, Any]:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_an_open311_request_is_dispatched_notified_and_read_back(
    base_url: str,
    redis_client: redis.Redis,
    redis_service: EmbeddedService,
    mqtt_service: EmbeddedService,
    tmp_path: Path,
) -> None:
    env = feed_env(redis_service.url, mqtt_service.url)
    made = run_cli("auth", "open311-key", "fixapp", env=env)
    assert made.returncode == 0, made.stderr
    api_key = made.stdout.strip()
    assert len(api_key) >= 32 and api_key.encode() not in str(hgetall_bytes(redis_client, KEY_OPEN311_KEYS)).encode()

    status, services = _call("GET", f"{base_url}/open311/v2/services.json")
    assert status == 200 and "0500101" in {s["service_code"] for s in services}
    assert "0900101" not in {s["service_code"] for s in services}  # a fire is no Open311 service
    branch = {
        "api_key": api_key, "service_code": "0500101", "lat": "32.04", "long": "112.14",
        "description": "小区门口树枝横出，影响通行", "media_url": "http://photos.example/branch.jpg",
    }  # fmt: skip
    assert _call("POST", f"{base_url}/open311/v2/requests.json", {**branch, "api_key": "wrong"}) == (
        403, [{"code": 403, "description": "Invalid api_key received -- can't proceed with create_request."}]
    )  # fmt: skip
    status, errors = _call("POST", f"{base_url}/open311/v2/requests.json", {**branch, "service_code": "9999999"})
    assert status == 404 and errors[0]["code"] == 404
    status, errors = _call(
        "POST", f"{base_url}/open311/v2/requests.json", {"api_key": api_key, "service_code": "0500101"}
    )
    assert status == 400 and "location" in errors[0]["description"]

    with receiving() as receiver:
        dispatcher = start_dispatcher(
            redis_service.url, mqtt_service.url, "open311",
            DISPATCH_CHANNELS_FILE=str(channels_file(tmp_path, receiver, ["D02", "CTR"])),
        )  # fmt: skip
        try:
            status, created = _call("POST", f"{base_url}/open311/v2/requests.json", branch)
            assert status == 200, created
            request_id = created[0]["service_request_id"]

            def dispatched() -> dict[str, Any] | None:
                code, found = _call("GET", f"{base_url}/open311/v2/requests/{request_id}.json")
                assert code == 200
                return found[0] if found[0]["agency_responsible"] != "市城运中心" else None

            found = wait_for(dispatched, 20, "the request dispatched")
            assert found["agency_responsible"] == "市住建局" and found["status"] == "open"
            assert found["service_code"] == "0500101" and found["requested_datetime"].endswith("+08:00")
            assert found["expected_datetime"] > found["requested_datetime"] and found["lat"] == 32.04
            notified = wait_for(lambda: receiver.to("D02"), 20, "the housing bureau's robot told")
            assert request_id in notified[0]["title"] and "树枝横出" in notified[0]["title"]
            assert receiver.to("CTR") == []
        finally:
            dispatcher.stop()
    status, listed = _call("GET", f"{base_url}/open311/v2/requests.json?status=open&service_code=0500101")
    assert status == 200 and [r["service_request_id"] for r in listed] == [request_id]
    assert _call("GET", f"{base_url}/open311/v2/requests/E0.json")[0] == 404

    # In English on asking: the service, its closure standard and group, the request's status and agency.
    status, [branch_en] = _call("GET", f"{base_url}/open311/v2/requests/{request_id}.json?lang=en")
    assert status == 200 and branch_en["agency_responsible"] == "City Housing and Urban-Rural Development Bureau"
    assert branch_en["status_notes"] == "dispatched" and found["status_notes"] == "已派单"
    assert branch_en["service_name"].isascii() and branch_en["service_name"] != found["service_name"]
    status, services_en = _call("GET", f"{base_url}/open311/v2/services.json?lang=en")
    assert status == 200 and all(
        (s["service_name"] + s["description"] + s["keywords"] + s["group"]).isascii() for s in services_en
    )
    assert [s["service_code"] for s in services_en] == [s["service_code"] for s in services]
    status, errors = _call("GET", f"{base_url}/open311/v2/services.json?lang=fr")
    assert status == 400 and "lang" in errors[0]["description"]


def test_only_officers_act_on_events(web_server: Flask, redis_client: redis.Redis) -> None:
    from dispatch.hub import file_report
    from dispatch.library import library
    from dispatch.model import Location, Report, Source

    create_accounts(redis_client)
    event = file_report(redis_client, Report("0500101", Location(32.04, 112.14), "断枝", Source.OFFICER), library(),
                        "420606", 1_790_000_000.0)  # fmt: skip
    url = f"/api/v1/events/{event.id}/dispatch"
    anonymous = web_server.test_client()
    assert anonymous.post(url, json={"department": "D02"}, headers=ORIGIN).status_code == 401
    leader = signed_in(web_server.test_client(), "nanzhang")
    refused = leader.post(url, json={"department": "D02"}, headers=ORIGIN)
    assert refused.status_code == 403
    assert leader.get(f"/api/v1/events/{event.id}").status_code == 403  # 樊城's event: not 南漳's leader's to read
    officer = signed_in(web_server.test_client(), "duty1")
    assert officer.get(f"/api/v1/events/{event.id}").get_json()["event"]["status"] == "reported"  # untouched
    done = officer.post(url, json={"department": "D02", "note": "转住建"}, headers=ORIGIN)
    assert done.status_code == 200 and done.get_json()["unit"] == "D02"
    signed = officer.post(f"/api/v1/events/{event.id}/sign_for", json={}, headers=ORIGIN)
    assert signed.status_code == 200 and signed.get_json()["status"] == "signed_for"
    again = officer.post(f"/api/v1/events/{event.id}/sign_for", json={}, headers=ORIGIN)
    assert again.status_code == 409
    history = officer.get(f"/api/v1/events/{event.id}").get_json()["history"]
    assert [(h["action"], h["by"]) for h in history] == [("reported", "officer"), ("dispatched", "duty1"),
                                                         ("signed_for", "duty1")]  # fmt: skip
