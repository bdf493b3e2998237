"""The web tier over real HTTP as gunicorn serves it (two workers, production mode, the session's Redis): where a
sign-in may lead, sign-in throttling shared by the workers, the security headers, and which paths are public.

Requests go through http.client, which sends the path exactly as written (no dot-segment clean-up, no
redirect following), so the server sees what an attacker's client would send.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urljoin, urlsplit

import pytest
import redis

from auth.model import Role
from auth.store import read_auth_log, save_user
from config import Settings
from services.embedded import EmbeddedService, free_port
from services.web import gunicorn_command
from tests.browser.live import http_ok
from tests.processes import ChildProcess, feed_env, wait_for

pytestmark = pytest.mark.integration

PASSWORD = "long enough password"
# Short limits, so that lock-out and unlock take seconds: 3 failures lock an account, 6 an address, for 2 s.
ACCOUNT_MAX, ADDRESS_MAX, LOCKOUT_S = 3, 6, 2


@dataclass
class Server:
    host: str
    port: int

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[http.client.HTTPResponse, bytes]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response, response.read()
        finally:
            connection.close()

    def sign_in(
        self,
        username: str,
        password: str = PASSWORD,
        next_path: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[http.client.HTTPResponse, bytes]:
        form = {"username": username, "password": password} | ({"next": next_path} if next_path is not None else {})
        return self.request(
            "POST", "/login", urlencode(form),
            {"Origin": self.origin, "Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
        )  # fmt: skip


@pytest.fixture(scope="module")
def server(redis_service: EmbeddedService) -> Iterator[Server]:
    port = free_port()
    env = feed_env(
        redis_service.url, "mqtt://127.0.0.1:1",  # no broker here: /healthz says so with a 503
        ENVIRONMENT="production", WEB_SECRET_KEY="s" * 40,
        AUTH_ACCOUNT_MAX_FAILURES=str(ACCOUNT_MAX), AUTH_ACCOUNT_WINDOW_S="60", AUTH_ACCOUNT_LOCKOUT_S=str(LOCKOUT_S),
        AUTH_ADDRESS_MAX_FAILURES=str(ADDRESS_MAX), AUTH_ADDRESS_WINDOW_S="60", AUTH_ADDRESS_LOCKOUT_S=str(LOCKOUT_S),
    )  # fmt: skip
    web = ChildProcess(gunicorn_command(Settings(web_workers=2), port=port), env, "signin-http-web")
    try:
        wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/login"), 60, "gunicorn serving the sign-in page")
        yield Server("127.0.0.1", port)
    finally:
        web.stop()


@pytest.fixture
def accounts(redis_client: redis.Redis) -> redis.Redis:
    """An empty Redis (sessions, counters and locks of earlier tests gone) with one officer and one leader."""
    save_user(redis_client, "duty1", Role.OFFICER, PASSWORD, by="test")
    save_user(redis_client, "leader1", Role.LEADER, PASSWORD, district="420624", by="test")
    return redis_client


def _audit(client: redis.Redis) -> list[tuple[str, str, str]]:
    return [(e["event"], e["username"], e["detail"]) for e in read_auth_log(client)]


# --- where a sign-in may lead ---------------------------------------------------------------------------------

ON_SITE = ["/district/420602?range=7d", "/alerts", "/search?q=%E9%99%8D%E6%B0%B4", "/sign/XY.P.M02.P06?lang=en"]
TRICKY = [
    "/\t/evil.example/phish", "//evil.example", "///evil.example", "////evil.example", "/\\evil.example",
    "\\/evil.example", "\\\\evil.example", "/%09/evil.example", "\t//evil.example", " //evil.example",
    "https://evil.example", "http:evil.example", "https:/evil.example", "//evil.example@127.0.0.1",
    "/%2F%2Fevil.example", "/%2f%2fevil.example", "/%5C%5Cevil.example", "/%5cevil.example", "%2F%2Fevil.example",
    "javascript:alert(document.domain)", "JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>",
    "/\r\nLocation: https://evil.example", "/%0d%0aSet-Cookie:%20x=1", "/\nSet-Cookie: x=1", "/\u2028//evil.example",
    "/\uff0f\uff0fevil.example", "evil.example", "", "/login",
]  # fmt: skip


def _lands_on_site(server: Server, location: str) -> bool:
    """Where a browser would go, read the way browsers read it: tabs and newlines dropped, backslashes as '/'."""
    if any(c in location for c in "\r\n"):
        return False
    cleaned = re.sub(r"[\t\n\r]", "", location).replace("\\", "/")
    target = urlsplit(urljoin(server.origin + "/login", cleaned))
    return (target.scheme, target.netloc) == ("http", f"{server.host}:{server.port}")


@pytest.mark.parametrize("next_path", ON_SITE)
def test_a_sign_in_leads_back_to_the_page_on_this_site_it_came_from(server: Server, accounts, next_path: str) -> None:
    form, body = server.request("GET", "/login?next=" + quote(next_path, safe=""))
    assert form.status == 200 and f'name="next" value="{next_path}"' in body.decode()
    response, _ = server.sign_in("duty1", next_path=next_path)
    assert response.status == 302 and response.getheader("Location") == next_path


@pytest.mark.parametrize("next_path", TRICKY, ids=[repr(t) for t in TRICKY])
def test_a_sign_in_never_leads_off_the_site(server: Server, accounts, next_path: str) -> None:
    # The form drops what it would not follow...
    form, body = server.request("GET", "/login?next=" + quote(next_path, safe=""))
    assert form.status == 200 and 'name="next" value=""' in body.decode()
    # ...and the redirect checks again, whatever a forged form posts.
    response, _ = server.sign_in("duty1", next_path=next_path)
    location = response.getheader("Location") or ""
    assert response.status == 302 and location == "/alerts", location  # the officer's landing page
    assert _lands_on_site(server, location)
    assert not [value for name, value in response.getheaders() if name.lower() == "set-cookie" and "x=1" in value]


def test_the_sign_in_page_is_offered_for_the_page_asked_with_its_query(server: Server, accounts) -> None:
    response, _ = server.request("GET", "/district/420602?range=7d&lang=en")
    assert response.status == 302
    location = response.getheader("Location") or ""
    assert location == "/login?next=/district/420602%3Frange%3D7d%26lang%3Den"
    signed, _ = server.sign_in("duty1", next_path="/district/420602?range=7d&lang=en")
    assert signed.getheader("Location") == "/district/420602?range=7d&lang=en"


# --- throttling and lock-out ------------------------------------------------------------------------------------


def test_an_account_locks_after_repeated_failures_and_refuses_even_the_right_password(server: Server, accounts) -> None:
    for _ in range(ACCOUNT_MAX - 1):
        assert server.sign_in("duty1", "wrong password!")[0].status == 401
    locked, body = server.sign_in("duty1", "wrong password!")
    assert locked.status == 429 and "this account is locked" in body.decode()
    assert 1 <= int(locked.getheader("Retry-After") or 0) <= LOCKOUT_S
    refused, body = server.sign_in("duty1")  # the right password
    assert refused.status == 429 and "this account is locked" in body.decode() and not refused.getheader("Set-Cookie")
    assert server.sign_in("leader1")[0].status == 302  # another account from the same address is not locked
    events = _audit(accounts)
    assert [e for e in events if e[0] == "login-failed" and e[1] == "duty1"] and len(
        [e for e in events if e[0] == "login-failed" and e[1] == "duty1"]
    ) == ACCOUNT_MAX
    assert any(e[0] == "login-locked" and e[1] == "duty1" and e[2].startswith("account duty1 locked") for e in events)
    assert any(e[0] == "login-refused" and e[1] == "duty1" and e[2].startswith("account locked") for e in events)
    assert not any(e[0] == "login" and e[1] == "duty1" for e in events)

    time.sleep(LOCKOUT_S + 0.2)  # the lock-out ends, and the failures count afresh
    assert server.sign_in("duty1")[0].status == 302
    assert server.sign_in("duty1", "wrong password!")[0].status == 401


def test_an_unknown_account_is_counted_and_locked_like_a_real_one(server: Server, accounts) -> None:
    answers = [server.sign_in("nobody", "wrong password!")[0].status for _ in range(ACCOUNT_MAX + 1)]
    assert answers == [401] * (ACCOUNT_MAX - 1) + [429, 429]
    assert any(e[0] == "login-locked" and e[1] == "nobody" for e in _audit(accounts))


def test_an_address_locks_after_failures_across_usernames(server: Server, accounts) -> None:
    # One failure each for many names, with a forged X-Forwarded-For that must not change the address counted.
    for i in range(ADDRESS_MAX):
        response, _ = server.sign_in(f"guess{i}", "wrong password!", headers={"X-Forwarded-For": f"10.0.0.{i}"})
        assert response.status == (429 if i == ADDRESS_MAX - 1 else 401)
    refused, body = server.sign_in("duty1")
    assert refused.status == 429 and "from this address" in body.decode()
    events = _audit(accounts)
    assert any(e[0] == "login-locked" and e[2].startswith("address 127.0.0.1 locked") for e in events)
    assert any(e[0] == "login-refused" and e[1] == "duty1" and e[2].startswith("address locked") for e in events)
    time.sleep(LOCKOUT_S + 0.2)
    assert server.sign_in("duty1")[0].status == 302


# --- security headers ----------------------------------------------------------------------------------------

def _session_cookie(response: http.client.HTTPResponse) -> str:
    cookie = response.getheader("Set-Cookie") or ""
    assert "Secure" in cookie and "HttpOnly" in cookie, cookie  # production: Secure without being asked
    return cookie.split(";", 1)[0]



HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _assert_secure_headers(response: http.client.HTTPResponse, path: str) -> dict[str, str]:
    for name, value in HEADERS.items():
        assert response.getheader(name) == value, (path, name)
    policy = dict(d.split(" ", 1) for d in (response.getheader("Content-Security-Policy") or "").split("; "))
    assert policy["frame-ancestors"] == "'none'" and policy["default-src"] == "'self'", path
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"], path
    return policy


def test_every_response_carries_the_security_headers(server: Server, accounts) -> None:
    signed_in, _ = server.sign_in("duty1")
    cookie = {"Cookie": _session_cookie(signed_in)}
    page, body = server.request("GET", "/", headers=cookie)
    assert page.status == 200
    policy = _assert_secure_headers(page, "/")
    html = re.sub(r"<!--.*?-->", "", body.decode(), flags=re.S)
    inline = [
        script for attrs, script in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
        if "src=" not in attrs and "application/json" not in attrs
    ]  # fmt: skip
    assert inline, "Dash writes its renderer's start inline"
    for script in inline:  # each inline script runs only because its hash is in the policy
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy["script-src"].split()
    component_script = re.search(r'src="(/_dash-component-suites/[^"]+)"', html)
    assert component_script is not None
    for path, headers, status in [
        ("/login", {}, 200),
        ("/healthz", {}, None),
        ("/assets/auth.css", {}, 200),
        (component_script.group(1), {}, 200),
        ("/assets/no-such-file.css", {}, 404),
        ("/api/v1/me", {}, 401),
        ("/api/v1/me", cookie, 200),
        ("/api/v1/snapshot?district=420600", cookie, 200),
        ("/alerts", {}, 302),
        ("/alerts", cookie, 200),
        ("/geo/districts.json", cookie, 200),
    ]:
        response, _ = server.request("GET", path, headers=headers)
        assert status is None or response.status == status, (path, response.status)
        _assert_secure_headers(response, path)


# --- public paths ----------------------------------------------------------------------------------------------

PUBLIC = ["/login", "/login?next=/alerts", "/healthz", "/assets/auth.css", "/_favicon.ico"]
CLOSED = [
    "/loginx", "/login/", "/login/../alerts", "/login/..%2Falerts", "/healthzz", "/healthz/", "/healthz/../alerts",
    "/assets/../alerts", "/assets/%2e%2e/alerts", "/assets", "/_dash-component-suites", "/_dash-layout",
    "/_dash-dependencies", "/alerts", "/", "/district/420602", "/LOGIN", "/favicon.icox", "/geo/districts.json",
    "/api/v1/snapshot?district=420600", "/export/district/420602.csv", "/static/x",
]  # fmt: skip


@pytest.mark.parametrize("path", PUBLIC)
def test_exactly_the_public_paths_answer_anonymous_requests(server: Server, accounts, path: str) -> None:
    response, _ = server.request("GET", path)
    assert response.status in (200, 503), (path, response.status)  # /healthz says 503 with no feed worker up


@pytest.mark.parametrize("path", CLOSED)
def test_every_other_path_is_closed_to_anonymous_requests(server: Server, accounts, path: str) -> None:
    response, body = server.request("GET", path)
    if response.status == 302:
        assert (response.getheader("Location") or "").startswith("/login?next=")
    else:
        assert response.status in (401, 404), (path, response.status)
    assert b"react-entry-point" not in body and b"_dash-config" not in body  # never the page shell
