"""Passwords, roles and the request checks of auth/, as pure functions."""

from __future__ import annotations

import pytest

from auth.headers import content_security_policy, security_headers, tile_source
from auth.model import Permission, Role, User
from auth.passwords import DUMMY_HASH, WeakPassword, hash_password, verify_password
from auth.web import is_public, landing_page, login_url, request_origin_ok, safe_next, secret_key
from config import Settings

HOST = "http://wall.example:8050/"


def test_a_password_verifies_only_against_its_own_hash() -> None:
    encoded = hash_password("correct horse battery")
    assert encoded.startswith("scrypt$") and "correct" not in encoded
    assert verify_password("correct horse battery", encoded)
    assert not verify_password("correct horse batterY", encoded)
    assert hash_password("correct horse battery") != encoded  # salted


def test_short_passwords_and_broken_hashes_are_refused() -> None:
    with pytest.raises(WeakPassword):
        hash_password("short")
    assert not verify_password("anything-long", "md5$abc")
    assert not verify_password("anything-long", "garbage")
    assert not verify_password("anything-long", DUMMY_HASH)


@pytest.mark.parametrize(
    ("role", "acts", "manages"),
    [(Role.WALL, False, False), (Role.LEADER, False, False), (Role.OFFICER, True, False), (Role.ADMIN, True, True)],
)
def test_roles_grant_what_the_brief_says(role: Role, acts: bool, manages: bool) -> None:
    user = User("u", role, "U")
    assert user.may(Permission.READ)
    assert user.may(Permission.ACT) is acts
    assert user.may(Permission.MANAGE_USERS) is manages


def test_a_users_public_view_never_shows_the_hash() -> None:
    user = User("duty1", Role.OFFICER, "值班员", password_hash="scrypt$secret")
    assert "password_hash" not in user.public() and User.from_json(user.as_json()) == user


def test_state_changing_requests_must_come_from_our_origin() -> None:
    assert request_origin_ok("GET", None, None, HOST)
    assert request_origin_ok("POST", "http://wall.example:8050", None, HOST)
    assert request_origin_ok("POST", None, "http://wall.example:8050/alerts", HOST)
    assert not request_origin_ok("POST", "http://evil.example", None, HOST)
    assert not request_origin_ok("POST", "https://wall.example:8050", None, HOST)  # another scheme is another origin
    assert not request_origin_ok("POST", None, None, HOST)


@pytest.mark.parametrize(
    "target",
    [
        "/district/420602?range=7d",
        "/search?q=%E9%99%8D%E6%B0%B4",  # 降水, percent-encoded as the guard's redirect writes it
        "/sign/XY.S.M13.S45.stn:AWS07?range=24h&lang=en",
        "/",
        "/alerts#top",
    ],
)
def test_after_sign_in_paths_on_this_site_are_followed(target: str) -> None:
    assert safe_next(target) == target


@pytest.mark.parametrize(
    "target",
    [
        None, "", "//evil.example/", "///evil.example", "/\\evil.example", "\\evil.example", "/\t/evil.example/phish",
        "\t//evil.example", "/%09/evil.example/phish", "/%2F%2Fevil.example", "/%2f/evil.example", "/%5Cevil.example",
        "https://evil.example/", "http:evil.example", "HTTPS://evil.example",
        "javascript:alert(1)", "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>", "evil.example", "./evil", "/ok\r\nSet-Cookie: x=1",
        "/ok%0d%0aSet-Cookie:%20x=1", "/ok\nLocation: https://evil.example", " /alerts", "/alerts ", "/\x00/evil",
        "/\u3000/evil", "/\uff0f/evil.example", "/login", "/" + "a" * 3000,
    ],
)  # fmt: skip
def test_after_sign_in_nothing_that_can_leave_the_site_is_followed(target: str | None) -> None:
    assert safe_next(target) is None


@pytest.mark.parametrize(
    ("path", "public"),
    [
        ("/login", True), ("/healthz", True), ("/favicon.ico", True), ("/_favicon.ico", True),
        ("/assets/auth.css", True), ("/_dash-component-suites/dash/dash-renderer/build/dash_renderer.v4.min.js", True),
        ("/loginx", False), ("/login/", False), ("/login/../alerts", False), ("/healthzz", False),
        ("/healthz/x", False), ("/assets", False), ("/assets/../alerts", False), ("/assets/./x/../../alerts", False),
        ("/assets\\..\\alerts", False),
        ("/_dash-component-suites", False), ("/_dash-layout", False), ("/_dash-update-component", False),
        ("/api/v1/snapshot", False), ("/", False), ("/LOGIN", False), ("/static/x", False),
    ],
)  # fmt: skip
def test_public_paths_are_exact(path: str, public: bool) -> None:
    assert is_public(path) is public


def test_the_sign_in_page_comes_back_to_the_whole_path_and_query() -> None:
    assert login_url("/district/420602?range=7d&lang=en") == "/login?next=/district/420602%3Frange%3D7d%26lang%3Den"
    assert login_url("/alerts?") == "/login?next=/alerts"


def test_production_needs_a_long_secret_key_and_secure_cookies(tmp_path) -> None:
    with pytest.raises(RuntimeError, match="at least 32"):
        secret_key(Settings(run_dir=tmp_path, environment="production", web_secret_key="x"))
    assert secret_key(Settings(run_dir=tmp_path, environment="production", web_secret_key="k" * 32)) == "k" * 32
    assert Settings(environment="production").secure_cookies
    assert not Settings(environment="production", web_secure_cookies=False).secure_cookies
    assert not Settings(environment="development").secure_cookies
    assert Settings(environment="development", web_secure_cookies=True).secure_cookies


def test_the_content_security_policy_allows_only_our_scripts_and_no_framing() -> None:
    policy = dict(
        directive.split(" ", 1) for directive in content_security_policy(("'sha256-abc='",)).split("; ")
    )
    assert policy["script-src"] == "'self' 'sha256-abc='"  # no 'unsafe-inline', no 'unsafe-eval'
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert policy["default-src"] == "'self'" and policy["base-uri"] == "'self'"
    headers = security_headers(Settings())
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize(
    ("tile_url", "source"),
    [
        ("", []),
        ("https://tiles.example.cn/{z}/{x}/{y}.png", ["https://tiles.example.cn"]),
        ("https://t{s}.tianditu.gov.cn/img_w/wmts?tk=K&x={x}", ["https://*.tianditu.gov.cn"]),
        ("http://10.1.2.3:8080/tiles/{z}/{x}/{y}.png", ["http://10.1.2.3:8080"]),
        ("https://tiles.{s}.example.cn/{z}/{x}/{y}.png", ["https:"]),
    ],
)
def test_the_basemap_tile_server_may_serve_images(tile_url: str, source: list[str]) -> None:
    assert tile_source(tile_url) == source


def test_each_role_lands_where_it_works() -> None:
    assert landing_page(User("o", Role.OFFICER, "o")) == "/alerts"
    assert landing_page(User("l", Role.LEADER, "l", district="420624")) == "/district/420624"
    assert landing_page(User("l", Role.LEADER, "l")) == "/"
