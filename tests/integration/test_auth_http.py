"""Sign-in, sessions and request checks over HTTP against a real Redis (Flask's test client, no browser)."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

import auth.web
from auth.model import Permission, Role
from auth.sessions import SessionKind, end_sessions_of, open_session, secret_digest
from auth.store import (
    check_password,
    create_wall_token,
    delete_user,
    read_auth_log,
    revoke_wall_tokens,
    save_user,
    set_password,
)
from auth.web import SESSION_COOKIE, NotAllowed, authorize, init_auth
from config import PROJECT_ROOT, Settings
from signs.keys import session_key

pytestmark = pytest.mark.integration

ORIGIN = {"Origin": "http://localhost"}
PASSWORD = "long enough password"


def _app(cfg: Settings) -> Flask:
    app = Flask(__name__)

    @app.post("/act")
    def act() -> dict[str, str]:
        try:
            return {"by": authorize(Permission.ACT).username}
        except NotAllowed as error:
            return {"error": str(error)}, 403  # type: ignore[return-value]

    @app.get("/page")
    def page() -> str:
        return "wall"

    init_auth(app, cfg)
    return app


@pytest.fixture
def web(redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch, tmp_path):
    def make(**settings: Any):
        cfg = Settings(run_dir=tmp_path, **settings)
        monkeypatch.setattr(auth.web, "shared_redis", lambda: redis_client)
        monkeypatch.setattr(auth.web, "settings", lambda: cfg)
        return _app(cfg).test_client()

    save_user(redis_client, "duty1", Role.OFFICER, PASSWORD, by="test")
    save_user(redis_client, "leader1", Role.LEADER, PASSWORD, district="420624", by="test")
    return make


PRODUCTION = {"environment": "production", "web_secret_key": "k" * 32}


def _login(client, username: str, password: str = PASSWORD):
    return client.post("/login", data={"username": username, "password": password}, headers=ORIGIN)


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie is not None, "no session cookie"
    return cookie.value


def _replaying(client: FlaskClient, session_id: str) -> FlaskClient:
    """Another client of the same app holding a copied cookie, as an attacker replaying it would."""
    other = client.application.test_client()
    other.set_cookie(SESSION_COOKIE, session_id)
    return other


def _reads(client: FlaskClient) -> bool:
    response = client.get("/page")
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 200


def _audit(redis_client: redis.Redis) -> list[tuple[str, str, str]]:
    return [(e["event"], e["username"], e["detail"]) for e in read_auth_log(redis_client)]


def test_an_officer_signs_in_and_may_act_with_a_strict_httponly_cookie(web, redis_client: redis.Redis) -> None:
    client = web()
    response = _login(client, "duty1")
    assert response.status_code == 302 and response.headers["Location"] == "/alerts"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.post("/act", headers=ORIGIN).get_json() == {"by": "duty1"}
    assert "login" in [event for event, _, _ in _audit(redis_client)]


def test_a_wrong_password_is_refused_and_logged(web, redis_client: redis.Redis) -> None:
    client = web()
    assert _login(client, "duty1", "not the password!").status_code == 401
    assert _login(client, "nobody", "not the password!").status_code == 401
    assert client.post("/act", headers=ORIGIN).status_code == 403
    assert [event for event, _, _ in _audit(redis_client)].count("login-failed") == 2


def test_a_leader_may_read_but_not_act(web) -> None:
    client = web()
    assert _login(client, "leader1").headers["Location"] == "/district/420624"
    assert client.post("/act", headers=ORIGIN).status_code == 403


def test_a_request_from_another_origin_is_refused_even_with_a_session(web) -> None:
    client = web()
    _login(client, "duty1")
    assert client.post("/act", headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post("/act").status_code == 403  # no Origin, no Referer: a replay outside a browser page
    assert client.post("/act", headers={"Referer": "http://localhost/alerts"}).status_code == 200


def test_a_deleted_user_loses_access_at_once(web, redis_client: redis.Redis) -> None:
    client = web()
    _login(client, "duty1")
    delete_user(redis_client, "duty1", by="test")
    assert client.post("/act", headers=ORIGIN).status_code == 403


def test_in_production_pages_need_a_session_or_a_wall_token(web, redis_client: redis.Redis) -> None:
    client = web(environment="production", web_secret_key="k" * 32)
    response = client.get("/page")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=/page")
    assert client.get("/login").status_code == 200
    token = create_wall_token(redis_client, "main-wall", by="test")
    assert client.get(f"/page?token={token}").status_code == 200
    assert client.get("/page").status_code == 200  # the wall's session remembers the token
    assert client.post("/act", headers=ORIGIN).status_code == 403  # a wall never acts
    assert web(environment="production", web_secret_key="k" * 32).get("/page?token=wrong").status_code == 302


def test_production_refuses_to_start_without_a_secret_key(tmp_path) -> None:
    with pytest.raises(RuntimeError, match="WEB_SECRET_KEY"):
        _app(Settings(run_dir=tmp_path, environment="production"))


def test_the_cookie_is_an_opaque_id_sent_once_and_redis_keeps_only_its_digest(web, redis_client: redis.Redis) -> None:
    client = web(**PRODUCTION)
    response = _login(client, "duty1")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie  # production: Secure by default
    assert "Max-Age=43200" in cookie  # WEB_SESSION_HOURS=12: the cookie ends with the session
    session_id = _cookie(client)
    assert "duty1" not in session_id and len(session_id) >= 40
    assert not redis_client.exists(session_key(session_id))
    assert redis_client.hget(session_key(secret_digest(session_id)), "principal") == b"duty1"
    assert 43_000_000 < redis_client.pttl(session_key(secret_digest(session_id))) <= 43_200_000
    again = client.get("/page")
    assert again.status_code == 200 and "Set-Cookie" not in again.headers  # never re-issued


def test_signing_out_ends_the_session_so_a_replayed_cookie_is_refused(web, redis_client: redis.Redis) -> None:
    client = web(**PRODUCTION)
    _login(client, "duty1")
    session_id = _cookie(client)
    assert _reads(_replaying(client, session_id))
    out = client.post("/logout", headers=ORIGIN)
    assert out.status_code == 302 and out.headers["Location"] == "/login"
    assert f"{SESSION_COOKIE}=;" in out.headers["Set-Cookie"]  # the browser forgets it
    replayed = _replaying(client, session_id)
    page = replayed.get("/page")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    assert replayed.post("/act", headers=ORIGIN).status_code == 401
    assert replayed.get("/api/v1/me").status_code == 401
    assert not redis_client.exists(session_key(secret_digest(session_id)))
    assert ("logout", "duty1", "") in _audit(redis_client)


def test_a_password_change_ends_every_session_of_that_user_only(web, redis_client: redis.Redis) -> None:
    laptop, phone, leader = web(**PRODUCTION), web(**PRODUCTION), web(**PRODUCTION)
    for client, name in ((laptop, "duty1"), (phone, "duty1"), (leader, "leader1")):
        assert _login(client, name).status_code == 302
    set_password(redis_client, "duty1", "another long password", by="test")
    assert not _reads(laptop) and not _reads(phone)
    assert laptop.post("/act", headers=ORIGIN).status_code == 401
    assert _reads(leader)
    assert _login(laptop, "duty1").status_code == 401  # the old password is gone
    assert _login(laptop, "duty1", "another long password").status_code == 302 and _reads(laptop)
    events = _audit(redis_client)
    assert ("password-changed", "duty1", "by=test") in events
    assert ("sessions-ended", "duty1", "reason=password-changed count=2 by=test") in events


@pytest.mark.parametrize(
    "change",
    [
        lambda r: save_user(r, "duty1", Role.LEADER, PASSWORD, district="420624", by="test"),  # demoted
        lambda r: save_user(r, "duty1", Role.OFFICER, PASSWORD, district="420602", by="test"),  # another district
        lambda r: save_user(r, "duty1", Role.OFFICER, PASSWORD, by="test"),  # created again: a new password
        lambda r: delete_user(r, "duty1", by="test"),
    ],
    ids=["role", "district", "create-again", "delete"],
)
def test_any_change_to_a_user_ends_their_sessions(web, redis_client: redis.Redis, change) -> None:
    client = web(**PRODUCTION)
    _login(client, "duty1")
    session_id = _cookie(client)
    change(redis_client)
    assert not redis_client.exists(session_key(secret_digest(session_id)))
    assert not _reads(_replaying(client, session_id))
    assert [e for e in _audit(redis_client) if e[0] == "sessions-ended" and "count=1" in e[2]]


def test_a_session_bound_to_a_record_that_changed_meanwhile_is_never_opened(redis_client: redis.Redis) -> None:
    save_user(redis_client, "duty1", Role.OFFICER, PASSWORD, by="test")
    checked = check_password(redis_client, "duty1", PASSWORD)
    assert checked is not None
    set_password(redis_client, "duty1", "changed while signing in", by="test")  # between the check and the session
    assert open_session(redis_client, checked, lifetime_s=60, remote="") is None
    assert end_sessions_of(redis_client, SessionKind.USER, "duty1") == 0


def test_revoking_a_wall_token_stops_that_wall_at_its_next_request(web, redis_client: redis.Redis) -> None:
    hall, lobby = web(**PRODUCTION), web(**PRODUCTION)
    hall_token = create_wall_token(redis_client, "hall", by="test")
    lobby_token = create_wall_token(redis_client, "lobby", by="test")
    assert hall.get(f"/page?token={hall_token}").status_code == 200
    assert lobby.get(f"/page?token={lobby_token}").status_code == 200
    assert _reads(hall) and _reads(lobby)  # by cookie, as the wall's polls are
    hall_session = _cookie(hall)
    assert revoke_wall_tokens(redis_client, "hall", by="test") == 1
    assert not _reads(hall) and hall.post("/_dash-update-component", headers=ORIGIN).status_code == 401
    assert not _reads(_replaying(hall, hall_session))
    assert hall.get(f"/page?token={hall_token}").status_code == 302  # the revoked token opens nothing either
    assert _reads(lobby)
    events = _audit(redis_client)
    assert ("wall-token-revoked", "test", "wall=hall count=1 sessions-ended=1") in events
    assert [e for e in events if e[0] == "login-failed" and e[1] == "wall"]


def test_a_token_whose_record_was_removed_by_hand_is_refused_without_the_index(web, redis_client: redis.Redis) -> None:
    """The per-request check is the rule: even a token deleted outside `python -m auth` stops the wall."""
    wall = web(**PRODUCTION)
    token = create_wall_token(redis_client, "hall", by="test")
    assert wall.get(f"/page?token={token}").status_code == 200
    redis_client.delete("ce:{auth}:wall-tokens")
    assert not _reads(wall)


def test_a_wall_session_slides_with_its_polls_and_a_user_session_does_not(web, redis_client: redis.Redis) -> None:
    wall, officer = web(**PRODUCTION), web(**PRODUCTION)
    token = create_wall_token(redis_client, "hall", by="test")
    opened = wall.get(f"/page?token={token}")
    assert "Max-Age" not in opened.headers["Set-Cookie"]  # a wall's cookie lasts while its browser runs
    assert "Set-Cookie" not in wall.get(f"/page?token={token}").headers  # reloading the page keeps its session
    _login(officer, "duty1")
    wall_key, officer_key = (session_key(secret_digest(_cookie(c))) for c in (wall, officer))
    for key in (wall_key, officer_key):
        redis_client.pexpire(key, 5_000)
    assert _reads(wall) and _reads(officer)
    assert redis_client.pttl(wall_key) > 72 * 3_600_000 - 60_000  # WEB_WALL_SESSION_IDLE_HOURS from this request
    assert redis_client.pttl(officer_key) <= 5_000  # the sign-in's end stands


def test_a_user_session_ends_at_its_absolute_lifetime(web) -> None:
    client = web(**PRODUCTION, web_session_hours=1.5 / 3_600)
    _login(client, "duty1")
    assert _reads(client)
    time.sleep(1.7)
    assert not _reads(client)


def test_the_command_line_sets_a_password_and_ends_sessions(web, redis_client: redis.Redis, redis_service) -> None:
    client = web(**PRODUCTION)
    _login(client, "duty1")

    def run(*args: str, password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "auth", *args, "--password-stdin"], input=password + "\n", capture_output=True,
            text=True, cwd=PROJECT_ROOT, env={"REDIS_URL": redis_service.url, "PATH": "/usr/bin:/bin"}, timeout=60,
        )  # fmt: skip

    done = run("set-password", "duty1", password="a brand new password")
    assert done.returncode == 0, done.stderr
    assert not _reads(client)
    assert _login(client, "duty1", "a brand new password").status_code == 302 and _reads(client)
    assert run("set-password", "nobody", password="a brand new password").returncode == 2
    assert run("set-password", "duty1", password="short").returncode == 2
    assert run("create-user", "duty1", "--role", "officer", password="yet another password").returncode == 0
    assert not _reads(client)
    ended = [e for e in _audit(redis_client) if e[0] == "sessions-ended" and "reason=user-saved" in e[2]]
    assert ended and "by=cli" in ended[-1][2]
