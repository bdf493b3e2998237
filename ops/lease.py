"""Leases in Redis: several copies of a process run, one of them active per job (roll-up, alert engine, dispatcher).

A lease is one key (signs.keys.lease_key) holding "{holder}|{token}" with a PX time to live. Whoever finds it absent
takes it (SET NX PX) with the next fencing token (INCR of the job's fence key), in one script so that no token is
spent on a failed attempt; the holder extends it (PEXPIRE) only while it still holds that exact value, so a holder
that paused past its lease never extends a successor's. Both keys share the job's hash tag (one Redis Cluster slot).

The keeper thread renews every ttl/4 and the standby polls as often, so a killed holder is replaced within
ttl + ttl/4. The holder counts itself active only until its last successful renewal's start plus the ttl (its own
monotonic clock, never later than Redis' expiry), and a write that must never come from a stale holder is fenced by
`guard`: WATCH the lease key in the write's transaction and check the token is still this holder's.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import cast

import redis
from redis.client import Pipeline

from ops.metrics import lease_metrics
from signs.keys import lease_fence_key, lease_key

log = logging.getLogger("cityeye.ops.lease")

# KEYS[1] lease, KEYS[2] fence; ARGV[1] holder, ARGV[2] ttl ms, ARGV[3] the value this holder last held ("" if none).
# Returns the token held after the call, 0 when someone else holds the lease.
_HOLD_LUA = """
local current = redis.call('GET', KEYS[1])
if not current then
    local token = redis.call('INCR', KEYS[2])
    redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'NX', 'PX', ARGV[2])
    return token
end
if current == ARGV[3] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(string.match(current, '|(%d+)$'))
end
return 0
"""
# Compare-and-delete: a holder leaving on purpose frees the lease at once, never a successor's.
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LeaseLost(Exception):
    """A fenced write found the lease held by someone else (or by nobody): this process is no longer active."""


def lease_value(holder: str, token: int) -> str:
    return f"{holder}|{token}"


def read_lease(client: redis.Redis, job: str) -> tuple[str, int] | None:
    """(holder, token) of a job's lease, None when nobody holds it."""
    raw = cast(bytes | None, client.get(lease_key(job)))
    if raw is None:
        return None
    holder, _, token = raw.decode().rpartition("|")
    return holder, int(token)


class Lease:
    """One process's claim on one job. `held` is what the process acts on; `hold()` takes or renews it."""

    def __init__(self, client: redis.Redis, job: str, holder: str, ttl_s: float) -> None:
        self.job, self.holder, self.ttl_s = job, holder, ttl_s
        self._client = client
        self._keys = [lease_key(job), lease_fence_key(job)]
        self._hold = client.register_script(_HOLD_LUA)
        self._release = client.register_script(_RELEASE_LUA)
        self.token = 0
        self.acquisitions = 0  # times this process became active
        self._valid_until = 0.0  # monotonic
        self._lock = threading.Lock()

    @property
    def held(self) -> bool:
        return self.token > 0 and time.monotonic() < self._valid_until

    @property
    def value(self) -> str:
        return lease_value(self.holder, self.token)

    def hold(self) -> bool:
        """Take the lease if free, renew it if this holder's; whether this process is active now. A Redis failure
        keeps the local validity running out (the process stops acting once it has)."""
        with self._lock:
            started = time.monotonic()
            mine = self.value if self.token else ""
            try:
                token = int(cast(int, self._hold(keys=self._keys, args=[self.holder, int(self.ttl_s * 1000), mine])))
            except redis.RedisError as error:
                log.warning("lease %s not renewed: %s", self.job, error)
                return self.held
            if token and token != self.token:
                self.acquisitions += 1
                lease_metrics().acquisitions.labels(self.job).inc()
                log.info("lease %s taken by %s with token %d", self.job, self.holder, token)
            elif not token and self.token:
                log.warning("lease %s lost by %s (token %d)", self.job, self.holder, self.token)
            self.token = token
            self._valid_until = started + self.ttl_s if token else 0.0
            lease_metrics().active.labels(self.job).set(1 if token else 0)
            return self.held

    def release(self) -> None:
        with self._lock:
            if self.token:
                try:
                    self._release(keys=self._keys[:1], args=[self.value])
                except redis.RedisError as error:
                    log.warning("lease %s not released (it expires by itself): %s", self.job, error)
            self.token, self._valid_until = 0, 0.0
            lease_metrics().active.labels(self.job).set(0)

    def guard(self, pipe: Pipeline) -> None:
        """Inside a WATCH transaction, before MULTI: raise LeaseLost unless this holder still holds the lease, and
        watch it so that the transaction fails if the lease changes hands before EXEC."""
        pipe.watch(self._keys[0])
        current = cast(bytes | None, pipe.get(self._keys[0]))
        if not self.held or current is None or current.decode() != self.value:
            raise LeaseLost(f"lease {self.job} is no longer held by {self.holder} (token {self.token})")

    def keep(self, stop: threading.Event) -> None:
        """Renew (or, standing by, try to take) the lease every ttl/4 until stop; then release it."""
        period = self.ttl_s / 4
        while not stop.is_set():
            self.hold()
            stop.wait(period)
        self.release()

    def start_keeper(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.keep, args=(stop,), name=f"lease-{self.job}", daemon=True)
        thread.start()
        return thread
