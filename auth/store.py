"""Users and wall tokens in Redis, and the log of who signed in and changed access when."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

import redis

from auth.model import Role, User
from auth.names import USERNAME_RULE, is_username
from auth.passwords import DUMMY_HASH, hash_password, verify_password
from geo.admin import DISTRICTS
from signs.keys import KEY_AUTH_LOG, KEY_USERS, KEY_WALL_TOKENS

AUTH_LOG_KEEP = 100_000


class AccessError(ValueError):
    pass


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def log_event(client: redis.Redis, event: str, username: str, detail: str = "", remote: str = "") -> None:
    client.xadd(
        KEY_AUTH_LOG,
        {"at": repr(time.time()), "event": event, "username": username, "detail": detail, "remote": remote},
        maxlen=AUTH_LOG_KEEP,
        approximate=True,
    )


def get_user(client: redis.Redis, username: str) -> User | None:
    raw = client.hget(KEY_USERS, username)
    return User.from_json(json.loads(raw)) if raw else None


def list_users(client: redis.Redis) -> list[User]:
    return sorted((User.from_json(json.loads(v)) for v in client.hvals(KEY_USERS)), key=lambda u: u.username)


def save_user(
    client: redis.Redis, username: str, role: Role, password: str, *, display_name: str = "", district: str = "", by: str
) -> User:
    """Create or replace a user. Names are lower-case ASCII; a leader's district must be one of the city's."""
    if not is_username(username):
        raise AccessError(USERNAME_RULE)
    if district and district not in DISTRICTS:
        raise AccessError(f"unknown district {district!r}")
    if role is Role.WALL:
        raise AccessError("walls sign in with a token (create-wall-token), not a password")
    user = User(username, role, display_name or username, district, hash_password(password))
    client.hset(KEY_USERS, username, json.dumps(user.as_json(), ensure_ascii=False))
    log_event(client, "user-saved", username, f"role={role.value} district={district or 'city'} by={by}")
    return user


def delete_user(client: redis.Redis, username: str, *, by: str) -> bool:
    removed = bool(client.hdel(KEY_USERS, username))
    if removed:
        log_event(client, "user-deleted", username, f"by={by}")
    return removed


def authenticate(client: redis.Redis, username: str, password: str, remote: str = "") -> User | None:
    """The user when the password matches; a failure is logged and costs the same time either way."""
    user = get_user(client, username)
    ok = verify_password(password, user.password_hash if user else DUMMY_HASH) and user is not None
    log_event(client, "login" if ok else "login-failed", username, remote=remote)
    return user if ok else None


def create_wall_token(client: redis.Redis, name: str, *, by: str) -> str:
    """A new secret for one wall display; only its digest is kept, so it is shown once."""
    token = secrets.token_urlsafe(24)
    record = {"name": name, "created": time.time(), "created_by": by}
    client.hset(KEY_WALL_TOKENS, _token_digest(token), json.dumps(record, ensure_ascii=False))
    log_event(client, "wall-token-created", by, f"wall={name}")
    return token


def wall_for_token(client: redis.Redis, token: str) -> User | None:
    raw = client.hget(KEY_WALL_TOKENS, _token_digest(token)) if token else None
    if raw is None:
        return None
    record: dict[str, Any] = json.loads(raw)
    return User(username=f"wall:{record['name']}", role=Role.WALL, display_name=record["name"])


def revoke_wall_tokens(client: redis.Redis, name: str, *, by: str) -> int:
    digests = [d for d, raw in client.hgetall(KEY_WALL_TOKENS).items() if json.loads(raw)["name"] == name]
    if digests:
        client.hdel(KEY_WALL_TOKENS, *digests)
        log_event(client, "wall-token-revoked", by, f"wall={name} count={len(digests)}")
    return len(digests)
