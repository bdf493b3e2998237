"""What the web tests share: signing in as a browser does, and the whole web app (app.server, as gunicorn serves
it: every blueprint, the request guard, the Dash pages) in this process on the test's real Redis, in production
mode, driven through Flask's test client."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from dash import Dash
from dash.development.base_component import Component
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
def production_app(redis_url: str, mqtt_url: str, run_dir: Path, **extra_env: str) -> Iterator[Flask]:
    """app.server on these Redis and MQTT broker (and any further settings in extra_env), where every request needs
    a session or a wall token. Settings and the shared Redis client are read afresh inside and forgotten after, so
    no other test sees this environment. Cookies are not Secure: the test client speaks plain HTTP."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in extra_env.items():
            patch.setenv(name, value)
        patch.setenv("REDIS_URL", redis_url)
        patch.setenv("MQTT_URL", mqtt_url)
        patch.setenv("ENVIRONMENT", "production")
        patch.setenv("ALLOW_INSECURE_TRANSPORT", "1")  # the test servers are plain and open
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


def dash_prop(component: Component, name: str) -> Any:
    """One prop of a Dash component. Dash sets the props as attributes at run time; its classes declare them only
    as constructor arguments, so a type checker sees no such attribute."""
    return getattr(component, name)


def dash_app() -> Dash:
    """The Dash app behind production_app's server (import app only inside it: it is built on first import)."""
    return importlib.import_module("app").app


DISPATCH_PATH = "/_dash-update-component"


def callback_request(key: str, values: Mapping[str, object] | None = None, default: object = None) -> dict[str, Any]:
    """The body Dash's renderer posts to run the callback whose output key is (or starts with) `key`: each input
    and state "id.property" with its value from `values`, else `default`; the first input is the one that
    changed. A pattern-matching input (its id is JSON) is one matching component."""
    callbacks = dash_app().callback_map
    key = next(k for k in callbacks if k == key or k.startswith(key))
    callback = callbacks[key]
    values = values or {}

    def entries(specs: list[dict[str, Any]]) -> list[object]:
        out: list[object] = []
        for spec in specs:
            value = values.get(f"{spec['id']}.{spec['property']}", default)
            if spec["id"].startswith("{"):
                concrete = {k: "x" if isinstance(v, list) else v for k, v in json.loads(spec["id"]).items()}
                out.append([{"id": concrete, "property": spec["property"], "value": value}])
            else:
                out.append({"id": spec["id"], "property": spec["property"], "value": value})
        return out

    outputs = callback["output"] if isinstance(callback["output"], list) else [callback["output"]]
    described = [{"id": o.component_id, "property": o.component_property} for o in outputs]
    first = callback["inputs"][0]
    return {
        "output": key,
        "outputs": described if isinstance(callback["output"], list) else described[0],
        "inputs": entries(callback["inputs"]),
        "state": entries(callback.get("state", [])),
        "changedPropIds": [f"{first['id']}.{first['property']}"],
    }


def run_callback(client: FlaskClient, key: str, values: Mapping[str, object]) -> str:
    """What the callback sent back, as text (non-ASCII unescaped), after asserting that it answered."""
    response = client.post(DISPATCH_PATH, json=callback_request(key, values), headers=ORIGIN)
    assert response.status_code in (200, 204), response.get_data(as_text=True)[:300]
    return json.dumps(response.get_json(silent=True), ensure_ascii=False)
