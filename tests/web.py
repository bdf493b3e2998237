"""What the web tests share: signing in as a browser does, and the whole web app (app.server, as gunicorn serves
it: every blueprint, the request guard, the Dash pages) in this process on the test's real Redis, in production
mode, driven through Flask's test client."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from auth.model import Role
from auth.store import save_user
from config import settings
from signs.store import shared_redis

ORIGIN = {"Origin": "http://localhost"}
PASSWORD = "long enough password"
SECRET_KEY = "k" * 32
# The accounts create_accounts() makes: username -> (role, district).
ACCOUNTS = {
    "duty1": (Role.OFFICER, ""),
    "nanzhang": (Role.LEADER, "420624"),  # 南漳县
    "xiangcheng": (Role.LEADER, "420602"),  # 襄城区
    "cityleader": (Role.LEADER, ""),
    "admin1": (Role.ADMIN, ""),
}


def create_accounts(client: redis.Redis) -> None:
    for username, (role, district) in ACCOUNTS.items():
        save_user(client, username, role, PASSWORD, district=district, by="test")


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD) -> TestResponse:
    """POST /login as the sign-in form does; the client keeps the session cookie."""
    return client.post("/login", data={"username": username, "password": password}, headers=ORIGIN)


def signed_in(client: FlaskClient, username: str, password: str = PASSWORD) -> FlaskClient:
    response = sign_in(client, username, password)
    assert response.status_code == 302, f"{username} could not sign in: {response.status_code}"
    return client


@contextmanager
def production_app(redis_url: str, mqtt_url: str, run_dir: Path) -> Iterator[Flask]:
    """app.server on these Redis and MQTT broker, where every request needs a session or a wall token. Settings
    and the shared Redis client are read afresh inside and forgotten after, so no other test sees this
    environment. Cookies are not Secure: the test client speaks plain HTTP."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REDIS_URL", redis_url)
        patch.setenv("MQTT_URL", mqtt_url)
        patch.setenv("ENVIRONMENT", "production")
        patch.setenv("WEB_SECRET_KEY", SECRET_KEY)
        patch.setenv("WEB_SECURE_COOKIES", "false")
        patch.setenv("RUN_DIR", str(run_dir))
        settings.cache_clear()
        shared_redis.cache_clear()
        try:
            yield importlib.import_module("app").server
        finally:
            settings.cache_clear()
            shared_redis.cache_clear()

