"""Users and wall tokens in Redis, and the log of who signed in and changed access when."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import replace

import redis

from auth.model import Role, User
from auth.names import USERNAME_RULE, is_username
from auth.passwords import DUMMY_HASH, hash_password, verify_password
from auth.sessions import Credential, SessionKind, end_sessions_of, record_revision, secret_digest
from dispatch.library import CENTRE, library
from geo.admin import DISTRICTS
from signs.keys import KEY_AUTH_LOG, KEY_OPEN311_KEYS, KEY_USERS, KEY_WALL_TOKENS
from signs.replies import hget_bytes, hgetall_bytes, stream_revrange

AUTH_LOG_KEEP = 100_000


class AccessError(ValueError):
    pass


def log_event(client: redis.Redis, event: str, username: str, detail: str = "", remote: str = "") -> None:
    client.xadd(
        KEY_AUTH_LOG,
        {"at": repr(time.time()), "event": event, "username": username, "detail": detail, "remote": remote},
        maxlen=AUTH_LOG_KEEP,
        approximate=True,
    )


def read_auth_log(client: redis.Redis, count: int | None = None) -> list[dict[str, str]]:
    """The newest `count` entries (all without), oldest first: at, event, username, detail, remote."""
    entries = stream_revrange(client, KEY_AUTH_LOG, count=count)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in reversed(entries)]


def get_user(client: redis.Redis, username: str) -> User | None:
    raw = client.hget(KEY_USERS, username)
    return User.from_json(json.loads(raw)) if raw else None


def list_users(client: redis.Redis) -> list[User]:
    return sorted((User.from_json(json.loads(v)) for v in client.hvals(KEY_USERS)), key=lambda u: u.username)


def save_user(
    client: redis.Redis,
    username: str,
    role: Role,
    password: str,
    *,
    display_name: str = "",
    district: str = "",
    department: str = "",
    by: str,
) -> User:
    """Create or replace a user. Names are lower-case ASCII; a leader's district must be one of the city's. A
    handler has a department of the event library (not the operations centre, whose people are officers) and,
    optionally, a district: then they handle that department's county unit and the township units in it."""
    if not is_username(username):
        raise AccessError(USERNAME_RULE)
    if district and district not in DISTRICTS:
        raise AccessError(f"unknown district {district!r}")
    if role is Role.WALL:
        raise AccessError("walls sign in with a token (create-wall-token), not a password")
    if (role is Role.HANDLER) != bool(department):
        raise AccessError("a handler, and only a handler, has a department (--department D02)")
    if department and (department == CENTRE or department not in library().departments):
        raise AccessError(f"unknown department {department!r}: one of the event library's D01, D02...")
    user = User(username, role, display_name or username, district, hash_password(password), department)
    replaced = _write_user(client, user)
    unit = f" department={department}" if department else ""
    log_event(client, "user-saved", username, f"role={role.value} district={district or 'city'}{unit} by={by}")
    if replaced:  # a new password, and perhaps a new role or district: sessions of the old record end
        _end_user_sessions(client, username, reason="user-saved", by=by)
    return user


def set_password(client: redis.Redis, username: str, password: str, *, by: str) -> User:
    """A new password for an existing user, who keeps role and district; every session of theirs ends."""
    user = get_user(client, username)
    if user is None:
        raise AccessError(f"no user {username!r}")
    user = replace(user, password_hash=hash_password(password))
    _write_user(client, user)
    log_event(client, "password-changed", username, f"by={by}")
    _end_user_sessions(client, username, reason="password-changed", by=by)
    return user


def delete_user(client: redis.Redis, username: str, *, by: str) -> bool:
    removed = bool(client.hdel(KEY_USERS, username))
    if removed:
        log_event(client, "user-deleted", username, f"by={by}")
        _end_user_sessions(client, username, reason="user-deleted", by=by)
    return removed


def _write_user(client: redis.Redis, user: User) -> bool:
    """Stores the record; True when it replaced one (HSET counts only new fields)."""
    return not client.hset(KEY_USERS, user.username, json.dumps(user.as_json(), ensure_ascii=False))


def _end_user_sessions(client: redis.Redis, username: str, *, reason: str, by: str) -> None:
    # Sessions bound to the old record are already refused (auth/sessions.py); this deletes them and says how many.
    ended = end_sessions_of(client, SessionKind.USER, username)
    log_event(client, "sessions-ended", username, f"reason={reason} count={ended} by={by}")


def check_password(client: redis.Redis, username: str, password: str) -> Credential | None:
    """The user's credential when the password matches; it costs the same time for an unknown user."""
    raw = hget_bytes(client, KEY_USERS, username) if username else None
    user = User.from_record(raw) if raw else None
    ok = verify_password(password, user.password_hash if user else DUMMY_HASH)
    if not ok or user is None or raw is None:
        return None
    return Credential(SessionKind.USER, user, username, record_revision(raw))


def create_wall_token(client: redis.Redis, name: str, *, by: str) -> str:
    """A new secret for one wall display; only its digest is kept, so it is shown once."""
    token = secrets.token_urlsafe(24)
    record = {"name": name, "created": time.time(), "created_by": by}
    client.hset(KEY_WALL_TOKENS, secret_digest(token), json.dumps(record, ensure_ascii=False))
    log_event(client, "wall-token-created", by, f"wall={name}")
    return token


def wall_for_token(client: redis.Redis, token: str) -> Credential | None:
    digest = secret_digest(token)
    raw = hget_bytes(client, KEY_WALL_TOKENS, digest) if token else None
    if raw is None:
        return None
    return Credential(SessionKind.WALL, User.wall_from_record(raw), digest, record_revision(raw))


def revoke_wall_tokens(client: redis.Redis, name: str, *, by: str) -> int:
    """Revokes every token of one wall; each wall showing with one of them is refused at its next poll."""
    tokens = hgetall_bytes(client, KEY_WALL_TOKENS)
    digests = [d.decode() for d, raw in tokens.items() if json.loads(raw)["name"] == name]
    if digests:
        client.hdel(KEY_WALL_TOKENS, *digests)
        ended = sum(end_sessions_of(client, SessionKind.WALL, digest) for digest in digests)
        log_event(client, "wall-token-revoked", by, f"wall={name} count={len(digests)} sessions-ended={ended}")
    return len(digests)


def create_open311_key(client: redis.Redis, name: str, *, by: str) -> str:
    """A new Open311 api_key for one client system (a reporting app); only its digest is kept, so it is shown once."""
    if not is_username(name):
        raise AccessError(f"the client's name: {USERNAME_RULE}")
    key = secrets.token_urlsafe(24)
    record = {"name": name, "created": time.time(), "created_by": by}
    client.hset(KEY_OPEN311_KEYS, secret_digest(key), json.dumps(record, ensure_ascii=False))
    log_event(client, "open311-key-created", by, f"client={name}")
    return key


def open311_client(client: redis.Redis, key: str) -> str | None:
    """The name of the client system an Open311 api_key was made for; None for an unknown key."""
    raw = hget_bytes(client, KEY_OPEN311_KEYS, secret_digest(key)) if key else None
    return str(json.loads(raw)["name"]) if raw else None
