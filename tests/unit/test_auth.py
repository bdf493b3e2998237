"""Passwords, roles and the request checks of auth/, as pure functions."""

from __future__ import annotations

import pytest

from auth.model import Permission, Role, User
from auth.passwords import DUMMY_HASH, WeakPassword, hash_password, verify_password
from auth.web import _safe_next, landing_page, request_origin_ok

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


def test_after_sign_in_only_local_paths_are_followed() -> None:
    assert _safe_next("/district/420602?range=7d") == "/district/420602?range=7d"
    assert _safe_next("//evil.example/") is None
    assert _safe_next("https://evil.example/") is None
    assert _safe_next(None) is None


def test_each_role_lands_where_it_works() -> None:
    assert landing_page(User("o", Role.OFFICER, "o")) == "/alerts"
    assert landing_page(User("l", Role.LEADER, "l", district="420624")) == "/district/420624"
    assert landing_page(User("l", Role.LEADER, "l")) == "/"
