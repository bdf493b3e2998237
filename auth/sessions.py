"""Web sessions kept in Redis: the browser's cookie carries only a random id, the session itself lives here.

A session is bound to the record it was opened on, a user's (KEY_USERS) or a wall token's (KEY_WALL_TOKENS), and
to that record's revision (the SHA-1 of its stored bytes): the moment the record changes or goes (a new password,
role or district, a deleted user, a revoked token) every session opened on it is refused at its next request,
with no list to keep in step. The per-principal index (KEY_SESSIONS_OF) lets the same changes delete those
sessions at once and count them for the auth log.

A user's session ends at a fixed time after sign-in (WEB_SESSION_HOURS); a wall's slides with each request, so a
wall nobody touches keeps running for as long as its token is valid.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

import redis

from auth.model import User
from signs.keys import KEY_USERS, KEY_WALL_TOKENS, session_key, sessions_of_key
from signs.replies import smembers_bytes

SESSION_ID_BYTES = 32  # 256 bits: the cookie is the whole secret


class SessionKind(StrEnum):
    USER = "user"
    WALL = "wall"


# Which hash holds the record each kind of session is bound to, and the index kind naming its principal.
_RECORDS = {SessionKind.USER: KEY_USERS, SessionKind.WALL: KEY_WALL_TOKENS}
INDEX_USER, INDEX_WALL_TOKEN = "user", "wall-token"
_INDEXES = {SessionKind.USER: INDEX_USER, SessionKind.WALL: INDEX_WALL_TOKEN}


def secret_digest(secret: str) -> str:
    """SHA-256 (hex) of a random secret (a session id, a wall token): what Redis keeps instead of the secret.
    A fast hash suffices for 192 bits or more of randomness, unlike a password."""
    return hashlib.sha256(secret.encode()).hexdigest()


def record_revision(raw: bytes) -> str:
    """Changes whenever a stored record does; the same digest as Redis' redis.sha1hex, which checks it in Lua."""
    return hashlib.sha1(raw, usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class Credential:
    """A checked password or wall token: who it names, and the record it was checked against."""

    kind: SessionKind
    user: User
    field: str  # the record's field: a username in KEY_USERS, a token digest in KEY_WALL_TOKENS
    revision: str


@dataclass(frozen=True, slots=True)
class Session:
    digest: str
    kind: SessionKind
    field: str
    user: User
    created: float
    expires: float  # the absolute end of a user's session; 0 for a wall's, which slides


# KEYS[1] session, KEYS[2] its index, KEYS[3] the hash of its record. ARGV: digest, kind, principal, field,
# revision, created, expires, remote, ttl in ms, 1 when the index should expire with the session (a user's: each
# new session outlives the older ones, so the index lives exactly as long as its newest member).
# Opens the session only if the record still has the revision that was checked, so a password changed between
# the check and this call never leaves a session on the old one.
_OPEN_LUA = """
local record = redis.call('HGET', KEYS[3], ARGV[4])
if not record or redis.sha1hex(record) ~= ARGV[5] then return 0 end
redis.call('HSET', KEYS[1], 'kind', ARGV[2], 'principal', ARGV[3], 'field', ARGV[4], 'revision', ARGV[5],
  'created', ARGV[6], 'expires', ARGV[7], 'remote', ARGV[8])
redis.call('PEXPIRE', KEYS[1], ARGV[9])
redis.call('SADD', KEYS[2], ARGV[1])
if ARGV[10] == '1' then redis.call('PEXPIRE', KEYS[2], ARGV[9]) end
return 1
"""

# KEYS[1] session, KEYS[2] users, KEYS[3] wall tokens; ARGV[1] a wall session's idle lifetime in ms.
# One round trip per request: the session, its record, the revision check, and a wall session's slide.
_LOOKUP_LUA = """
local s = redis.call('HMGET', KEYS[1], 'kind', 'field', 'revision', 'created', 'expires')
if not s[1] then return false end
local records = KEYS[2]
if s[1] == 'wall' then records = KEYS[3] end
local record = redis.call('HGET', records, s[2])
if not record or redis.sha1hex(record) ~= s[3] then
  redis.call('DEL', KEYS[1])
  return false
end
if s[1] == 'wall' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {s[1], s[2], s[4], s[5], record}
"""


def open_session(
    client: redis.Redis, credential: Credential, *, lifetime_s: float, remote: str, now: float | None = None
) -> tuple[str, Session] | None:
    """A new session and its id for the cookie, or None when the credential's record changed since it was
    checked. A user's session lasts lifetime_s from now, never longer; a wall's lifetime_s from its latest request."""
    now = time.time() if now is None else now
    session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
    digest = secret_digest(session_id)
    index = sessions_of_key(_INDEXES[credential.kind], credential.field)
    _prune_index(client, index)
    is_user = credential.kind is SessionKind.USER
    expires = now + lifetime_s if is_user else 0.0
    opened = client.register_script(_OPEN_LUA)(
        keys=[session_key(digest), index, _RECORDS[credential.kind]],
        args=[
            digest, credential.kind.value, credential.user.username, credential.field, credential.revision,
            repr(now), repr(expires), remote, int(lifetime_s * 1000), int(is_user),
        ],
    )  # fmt: skip
    if not opened:
        return None
    return session_id, Session(digest, credential.kind, credential.field, credential.user, now, expires)


def lookup_session(client: redis.Redis, session_id: str, *, wall_idle_s: float) -> Session | None:
    """The live session of a cookie's id; None when it is unknown, expired, ended, or its record changed."""
    digest = secret_digest(session_id)
    found = client.register_script(_LOOKUP_LUA)(
        keys=[session_key(digest), KEY_USERS, KEY_WALL_TOKENS], args=[int(wall_idle_s * 1000)]
    )
    if not found:
        return None
    kind, field, created, expires, record = (v.decode() for v in found)
    session_kind = SessionKind(kind)
    user = User.from_record(record) if session_kind is SessionKind.USER else User.wall_from_record(record)
    return Session(digest, session_kind, field, user, float(created), float(expires))


def end_session(client: redis.Redis, session: Session) -> None:
    """Sign-out: the session is gone, and its cookie, replayed, is refused."""
    client.delete(session_key(session.digest))
    client.srem(sessions_of_key(_INDEXES[session.kind], session.field), session.digest)


def end_sessions_of(client: redis.Redis, kind: SessionKind, field: str) -> int:
    """Deletes every live session opened on one record (a user, a wall token); how many there were.

    No transaction is needed: a session opened after the record changed is refused by _OPEN_LUA, and one opened
    before is in the index read here."""
    index = sessions_of_key(_INDEXES[kind], field)
    digests = smembers_bytes(client, index)
    pipe = client.pipeline(transaction=False)
    for digest in digests:
        pipe.delete(session_key(digest.decode()))
    pipe.delete(index)
    return sum(pipe.execute()[:-1])


def _prune_index(client: redis.Redis, index: str) -> None:
    """Drops the digests of sessions that have expired, so that a wall restarted every night keeps a short index."""
    digests = [d.decode() for d in smembers_bytes(client, index)]
    if not digests:
        return
    pipe = client.pipeline(transaction=False)
    for digest in digests:
        pipe.exists(session_key(digest))
    dead = [d for d, alive in zip(digests, pipe.execute(), strict=True) if not alive]
    if dead:
        client.srem(index, *dead)
