"""Signing in, by password or by wall token: throttled per account and per remote address, every outcome audited.

The counters live in Redis (KEY_SIGNIN_FAILURES, KEY_SIGNIN_LOCK), so every web worker shares them. A failure
counts against the account named and the address it came from; when either reaches its maximum within its window
it is locked for the lock-out time, and while locked even the right password is refused without being checked.
An unknown account is counted and locked like a real one, so the answers never tell which accounts exist. A wrong
wall token counts against its address. A successful sign-in clears its account's failures, never its address's:
a valid account must not let one address go on guessing others.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import redis

from auth.names import USERNAME_MAX_LEN, is_username
from auth.sessions import Credential
from auth.store import check_password, log_event, wall_for_token
from config import Settings
from signs.keys import signin_failures_key, signin_lock_key

# Attempts with a name no account can have share one account counter, so guessing random names adds no keys.
NOT_A_USERNAME = "-"
UNKNOWN_ADDRESS = "unknown"


class Scope(StrEnum):
    ACCOUNT = "account"
    ADDRESS = "address"


@dataclass(frozen=True, slots=True)
class Limit:
    scope: Scope
    max_failures: int
    window_s: float
    lockout_s: float


@dataclass(frozen=True, slots=True)
class Limits:
    account: Limit
    address: Limit

    @classmethod
    def from_settings(cls, cfg: Settings) -> Limits:
        return cls(
            Limit(Scope.ACCOUNT, cfg.auth_account_max_failures, cfg.auth_account_window_s, cfg.auth_account_lockout_s),
            Limit(Scope.ADDRESS, cfg.auth_address_max_failures, cfg.auth_address_window_s, cfg.auth_address_lockout_s),
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """A credential when signed in; otherwise None, with the lock that refused it (or that the failure set)."""

    credential: Credential | None
    locked: Scope | None = None
    locked_for_s: float = 0.0


# KEYS: the locks to check, in order. For the first that is set: counts this refused attempt in it (the lock keeps
# its own expiry) and returns {position, ms left, refused attempts so far}; false when none is set.
_LOCKED_LUA = """
for i, key in ipairs(KEYS) do
  local left = redis.call('PTTL', key)
  if left > 0 then return {i, left, redis.call('INCR', key)} end
end
return false
"""

# KEYS[1] failure counter, KEYS[2] lock; ARGV: window ms, max failures, lock-out ms. Counts one failure (the
# window starts at the first); at the maximum, sets the lock and starts the count afresh. Returns the count.
_FAILED_LUA = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n >= tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], 0, 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
end
return n
"""


def account_subject(username: str) -> str:
    return username if is_username(username) else NOT_A_USERNAME


def sign_in(client: redis.Redis, username: str, password: str, remote: str, limits: Limits) -> Outcome:
    """Checks a password unless the account or the address is locked; audits the attempt either way."""
    username = username[:USERNAME_MAX_LEN]
    subjects = ((limits.account, account_subject(username)), (limits.address, remote or UNKNOWN_ADDRESS))
    refused = _refused(client, subjects, username, remote)
    if refused is not None:
        return refused
    credential = check_password(client, username, password)
    if credential is not None:
        client.delete(signin_failures_key(Scope.ACCOUNT, subjects[0][1]))
        log_event(client, "login", username, remote=remote)
        return Outcome(credential)
    return _failed(client, subjects, username, remote, "wrong username or password")


def sign_in_wall(client: redis.Redis, token: str, remote: str, limits: Limits) -> Outcome:
    """A wall's token checked unless its address is locked; a wrong token counts as a failed sign-in."""
    subjects = ((limits.address, remote or UNKNOWN_ADDRESS),)
    refused = _refused(client, subjects, "wall", remote)
    if refused is not None:
        return refused
    credential = wall_for_token(client, token)
    if credential is not None:
        log_event(client, "wall-signed-in", credential.user.username, remote=remote)
        return Outcome(credential)
    return _failed(client, subjects, "wall", remote, "unknown or revoked wall token")


Subjects = tuple[tuple[Limit, str], ...]


def _refused(client: redis.Redis, subjects: Subjects, username: str, remote: str) -> Outcome | None:
    keys = [signin_lock_key(limit.scope, subject) for limit, subject in subjects]
    found = client.register_script(_LOCKED_LUA)(keys=keys)
    if not found:
        return None
    position, left_ms, refused = (int(v) for v in found)
    scope = subjects[position - 1][0].scope
    # Counted every time, written 1, 2, 4, 8... times: a flood of refused attempts cannot push the rest of the
    # auth log (the duty log's sign-ins) out of its capped stream, and the count still shows its size.
    if refused & (refused - 1) == 0:
        detail = f"{scope} locked, {left_ms / 1000:.0f} s left, refused={refused}"
        log_event(client, "login-refused", username, detail, remote)
    return Outcome(None, scope, left_ms / 1000)


def _failed(client: redis.Redis, subjects: Subjects, username: str, remote: str, why: str) -> Outcome:
    script = client.register_script(_FAILED_LUA)
    counts = [
        int(script(
            keys=[signin_failures_key(limit.scope, subject), signin_lock_key(limit.scope, subject)],
            args=[int(limit.window_s * 1000), limit.max_failures, int(limit.lockout_s * 1000)],
        ))
        for limit, subject in subjects
    ]  # fmt: skip
    tally = ", ".join(f"{limit.scope} {n}/{limit.max_failures}" for (limit, _), n in zip(subjects, counts, strict=True))
    log_event(client, "login-failed", username, f"{why}; failures: {tally}", remote)
    locked: Limit | None = None
    for (limit, subject), n in zip(subjects, counts, strict=True):
        if n >= limit.max_failures:
            locked = locked or limit
            detail = f"{limit.scope} {subject} locked for {limit.lockout_s:.0f} s after {n} failures"
            log_event(client, "login-locked", username, detail, remote)
    return Outcome(None, locked.scope, locked.lockout_s) if locked else Outcome(None)
