"""Sign-in, sessions and request checks over HTTP against a real Redis (Flask's test client, no browser)."""

from __future__ import annotations

import pytest
import redis
from flask import Flask

import auth.web
from auth.model import Permission, Role
from auth.store import create_wall_token, delete_user, save_user
from auth.web import NotAllowed, authorize, init_auth
from config import Settings
from signs.keys import KEY_AUTH_LOG

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
    def make(**settings: object):
        cfg = Settings(run_dir=tmp_path, **settings)
        monkeypatch.setattr(auth.web, "shared_redis", lambda: redis_client)
        monkeypatch.setattr(auth.web, "settings", lambda: cfg)
        return _app(cfg).test_client()

    save_user(redis_client, "duty1", Role.OFFICER, PASSWORD, by="test")
    save_user(redis_client, "leader1", Role.LEADER, PASSWORD, district="420624", by="test")
    return make


def _login(client, username: str, password: str = PASSWORD):
    return client.post("/login", data={"username": username, "password": password}, headers=ORIGIN)


def test_an_officer_signs_in_and_may_act_with_a_strict_httponly_cookie(web, redis_client: redis.Redis) -> None:
    client = web()
    response = _login(client, "duty1")
    assert response.status_code == 302 and response.headers["Location"] == "/alerts"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.post("/act", headers=ORIGIN).get_json() == {"by": "duty1"}
    events = [f[b"event"] for _, f in redis_client.xrange(KEY_AUTH_LOG)]
    assert b"login" in events


def test_a_wrong_password_is_refused_and_logged(web, redis_client: redis.Redis) -> None:
    client = web()
    assert _login(client, "duty1", "not the password!").status_code == 401
    assert _login(client, "nobody", "not the password!").status_code == 401
    assert client.post("/act", headers=ORIGIN).status_code == 403
    events = [f[b"event"] for _, f in redis_client.xrange(KEY_AUTH_LOG)]
    assert events.count(b"login-failed") == 2


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
