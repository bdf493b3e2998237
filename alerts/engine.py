"""The alert engine (`python -m alerts`): every reading that lands in Redis, evaluated against the rules.

Input is the KEY_READINGS stream, read through one consumer group shared by every engine: each entry goes to
one engine, which acknowledges it (XACK) only once the alert state it led to is written. The entries of an
engine that died are claimed by another after ALERT_CLAIM_IDLE_S, or taken back by the same name when it
restarts, so a restart loses nothing. Rule state lives in Redis and every write is a WATCH transaction on the
(rule, sign) state, so two engines never raise the same alert twice.

A periodic tick does what no reading triggers: no-data alerts, silence expiry, escalation, retention, and the
MQTT publication of every transition (retained on cityeye/v1/alerts/{alert_id}). It runs in whichever engine
holds the "alerts" lease (ops/lease.py).

Several engines may run; one is active, the holder of the "alerts" lease, and the others stand by. Only the active
one reads the stream and ticks. Taking over, an engine first claims every entry still pending in the group (those
the previous holder read but never acknowledged: it evaluated them or not, evaluating again changes nothing already
written), then reads on from the group's last delivered entry: exactly where the previous holder stopped. Every
alert write WATCHes the lease beside the rule states and checks its fencing token, so a holder that paused past its
lease and wakes up writes nothing; what it had read is claimed by the active one after a lease's time.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, cast

import paho.mqtt.client as mqtt
import redis
from redis.client import Pipeline

from alerts import lifecycle
from alerts.escalation import EscalationPolicy
from alerts.incidents import GroupingRules
from alerts.model import (
    ENGINE_USER,
    TOPIC_ALERTS,
    Alert,
    Event,
    RuleKind,
    RuleState,
    Silence,
    Transition,
    alert_topic,
    covering_silence,
    retained_payload,
)
from alerts.rules import (
    Change,
    ChangeKind,
    Outcome,
    RuleBook,
    district_of,
    evaluate,
    evaluate_silence,
    is_silent,
    route_readings,
    sign_at,
    watched_for_silence,
    watches,
)
from alerts.store import (
    Contended,
    StreamEntry,
    Writes,
    escalate_overdue,
    expire_silences,
    get_alerts,
    group_raised,
    list_active,
    prune,
    prune_incidents,
    read_states,
    transact,
    watch_alerts,
    watch_silences,
    watch_states,
)
from config import Settings, internal_signing_key
from feeds.contract import TOPIC_ROOT, Reason, Rejected, sign_owned
from feeds.mqtt import broker_address, new_client
from feeds.sink import write_deadletter
from ops.lease import Lease, LeaseLost
from ops.metrics import alert_metrics, broker_connected, serve_metrics
from signs.catalogue import catalogue
from signs.keys import (
    KEY_ALERTS_AUDIT,
    KEY_ALERTS_PUBLISHED,
    KEY_READINGS,
    LANDED_READINGS_FIELD,
    Quality,
    alert_engine_key,
    alert_state_key,
    unpack_landed,
)
from signs.model import Level, Sign
from signs.store import ingest_up_since, open_redis, read_all_latest
from signs.storyclock import StoryClock, read_story_clock

log = logging.getLogger("cityeye.alerts.engine")

READINGS_GROUP = "alerts"
ENGINE_PREFIX = "cityeye-alerts"
ALERTS_JOB = "alerts"  # the lease's job: its hash tag is the alert keys' own, so a transaction may WATCH it with them
_FIELD = LANDED_READINGS_FIELD.encode()
_CLAIM_BATCH = 100
_PUBLISH_BATCH = 500
_PUBACK_TIMEOUT_S = 5.0
_READ_BLOCK_S = 1.0  # longest wait for new readings, so that a stop is noticed within it

Group = tuple[RuleKind, str]  # (rule, sign id): one rule state, at most one active alert
Decide = Callable[[Group, RuleState], Outcome]


def follow(
    change: Change,
    alert: Alert | None,
    sign: Sign,
    rule: RuleKind,
    now: float,
    policy: EscalationPolicy,
    silences: Sequence[Silence],
) -> tuple[Alert, Transition] | None:
    """The alert transition a rule's change calls for; None when the alert it concerns is gone or closed."""
    state = change.state
    if change.kind is ChangeKind.RAISE:
        district = district_of(sign)
        return lifecycle.raise_alert(
            alert_id=state.alert_id,
            rule=rule,
            sign=sign,
            district=district,
            level=state.level,
            value=state.value,
            since=change.since,
            now=now,
            due=policy.deadlines(now, state.level),
            silence=covering_silence(silences, sign.id, district, now),
        )
    if alert is None or not alert.status.condition_holds:
        return None
    if change.kind is ChangeKind.LEVEL:
        due = policy.deadlines(alert.raised_at, max(alert.peak_level, state.level))
        threshold = lifecycle.level_bound(sign, rule, state.level)
        return lifecycle.change_level(alert, state.level, state.value, threshold, due, now)
    return lifecycle.clear(alert, now)


def _stream_entries(reply: Any) -> list[StreamEntry]:
    """The entries of a one-stream XREADGROUP reply ([[stream, entries]]); none when it timed out."""
    return reply[0][1] if reply else []


class RetainedPublisher(Protocol):
    def publish_retained(self, messages: list[tuple[str, bytes]]) -> bool:
        """Publish every (topic, payload) retained at QoS 1; True once the broker has acknowledged them all."""
        ...


class RetainedGuard(Protocol):
    """What the engine knows of the alert states it keeps retained, for MqttPublisher to repair forged ones."""

    def retained_truth(self, topic: str) -> bytes:
        """The unsigned payload that belongs on an alert's topic now: its state while open, else nothing (b"")."""
        ...

    def record_forged(self, topic: str, payload: bytes, detail: str) -> None:
        """Dead-letter a forged message that only the engine can recognise (an empty payload on an open alert)."""
        ...


class MqttPublisher:
    """The engine's MQTT client, with a retained online/offline status of its own like the feed workers'.

    Everything it publishes on City Eye's owned topics is signed (feeds.contract.sign_owned). With a guard it also
    follows cityeye/v1/alerts/# and its own status topic, and puts back what anyone else publishes there: a forged or
    replayed alert state, a deletion of an open alert's state, a forged status. Followers are repaired at once."""

    def __init__(self, mqtt_url: str, engine_id: str, key: bytes, guard: RetainedGuard | None = None) -> None:
        self._key = key
        self._guard = guard
        self._status_topic = f"{TOPIC_ROOT}/status/alerts/{engine_id}"
        self._online = b""
        self._closing = False
        # The pid keeps two engines started with the same name from taking each other's connection.
        self._client = new_client(f"{engine_id}-{os.getpid()}", mqtt_url)
        self._client.will_set(self._status_topic, self._status("offline"), qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        host, port = broker_address(mqtt_url)
        self._client.connect_async(host, port)
        self._client.loop_start()

    def _status(self, state: str, **extra: object) -> bytes:
        return self._signed(self._status_topic, json.dumps({"state": state, **extra}).encode())

    def _signed(self, topic: str, payload: bytes) -> bytes:
        """An empty payload (a retained state deleted) cannot carry a signature and stays empty."""
        return sign_owned(self._key, topic, payload) if payload else b""

    def _on_connect(
        self, client: mqtt.Client, _userdata: object, _flags: object, reason_code: Any, _props: object
    ) -> None:
        if reason_code.is_failure:
            log.warning("MQTT connection refused: %s", reason_code)
            return
        self._online = self._status("online", pid=os.getpid())
        client.publish(self._status_topic, self._online, qos=1, retain=True)
        if self._guard is not None:
            client.subscribe([(f"{TOPIC_ALERTS}/#", 1), (self._status_topic, 1)])

    def _on_message(self, client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        """Runs on paho's thread and never raises (paho would stop the client's loop)."""
        try:
            self._check(client, message.topic, bytes(message.payload))
        except Exception:
            log.exception("could not check %s", message.topic)

    def _check(self, client: mqtt.Client, topic: str, payload: bytes) -> None:
        if self._guard is None or self._closing:
            return
        if topic == self._status_topic:
            if payload != self._online:
                log.warning("status topic %s was overwritten by someone else; republishing it", topic)
                client.publish(topic, self._online, qos=1, retain=True)
            return
        expected = self._signed(topic, self._guard.retained_truth(topic))
        if payload == expected:
            return
        if not payload:
            self._guard.record_forged(topic, payload, "the retained state of an open alert was deleted by someone else")
        log.warning("alert state on %s is not the engine's (%d bytes); republishing the true one", topic, len(payload))
        client.publish(topic, expected, qos=1, retain=True)

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    def publish_retained(self, messages: list[tuple[str, bytes]]) -> bool:
        if not self.connected:
            return False
        signed = [(topic, self._signed(topic, payload)) for topic, payload in messages]
        infos = [self._client.publish(topic, payload, qos=1, retain=True) for topic, payload in signed]
        for info in infos:
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return False
            info.wait_for_publish(_PUBACK_TIMEOUT_S)
        return all(info.is_published() for info in infos)

    def close(self) -> None:
        """Say offline before leaving: a clean disconnect does not fire the will."""
        self._closing = True
        if self.connected:
            offline = self._client.publish(self._status_topic, self._status("offline"), qos=1, retain=True)
            offline.wait_for_publish(_PUBACK_TIMEOUT_S)
        self._client.loop_stop()
        self._client.disconnect()


@dataclass
class EngineStats:
    readings: int = 0  # readings evaluated
    entries: int = 0  # stream entries acknowledged
    transitions: int = 0
    raised: int = 0
    ticks: int = 0
    last_batch_ms: float = 0.0


class AlertEngine:
    def __init__(
        self,
        settings: Settings,
        name: str = "1",
        *,
        client: redis.Redis | None = None,
        publisher: RetainedPublisher | None = None,
        clock: Callable[[], float] = time.time,
        lease: Lease | None = None,
    ) -> None:
        """Without a lease (tests, benches) the engine is always active and its writes are not fenced."""
        self.engine_id = f"{ENGINE_PREFIX}-{name}"
        self._settings = settings
        self._redis = client or open_redis(settings.redis_url, timeout_s=10)
        self._publisher = publisher
        self._clock = clock
        self._book = RuleBook.from_settings(settings)
        self._policy = EscalationPolicy.from_settings(settings)
        self._grouping = GroupingRules.from_settings(settings)
        cat = catalogue()
        self._watched = watches(cat, self._book)
        self._sensors = {sign.id: sign for sign in cat.signs.values() if watched_for_silence(sign)}
        self.stats = EngineStats()
        self.lease = lease
        self.metrics = alert_metrics()
        self.leader = False  # whether this engine ran the last tick
        self.stop_event = threading.Event()

    # Evaluation ---------------------------------------------------------------------------------------------

    def evaluate(self, readings: Iterable[tuple[str, float, float]]) -> None:
        """Evaluate (sign id, source time, value) readings with the value rules and write what they change."""
        now = self._clock()
        routed = route_readings(readings, self._watched, now)
        self.stats.readings += sum(len(points) for points in routed.values())
        self.metrics.readings.inc(sum(len(points) for points in routed.values()))
        clock = read_story_clock(self._redis)  # one look per batch: the bounds of a simulated story's hours

        def decide(group: Group, state: RuleState) -> Outcome:
            rule, sign_id = group
            sign = self._watched[sign_id].sign
            return evaluate(state, routed[group], sign, rule, self._book.params(rule, sign), clock)

        self._apply(list(routed), decide, now, clock)

    def ingest_up_since(self, now: float) -> float | None:
        """Since when feed workers have been alive without a break (signs.store.ingest_up_since, shared with the
        camera roll-up's warm-up); None while none is: an ingest outage is one problem, on the wall's banner, not a
        no-data alert per sensor."""
        return ingest_up_since(self._redis, now)

    def check_silence(self) -> None:
        """The no-data rule over every sensor heard at least once (a sensor never heard is not yet connected)."""
        now = self._clock()
        up_since = self.ingest_up_since(now)
        if up_since is None:
            return
        latest = read_all_latest(self._redis)
        heard = {sign_id: latest[sign_id] for sign_id in self._sensors if sign_id in latest}
        book = self._book

        def decide(group: Group, state: RuleState) -> Outcome:
            sign, last = self._sensors[group[1]], heard[group[1]]
            silent = is_silent(sign, last.source_ts, now, book, up_since)
            return evaluate_silence(state, sign, silent, last.source_ts, last.value, now, book.nodata_level)

        self._apply([(RuleKind.NO_DATA, sign_id) for sign_id in heard], decide, now, read_story_clock(self._redis))

    def _apply(self, groups: list[Group], decide: Decide, now: float, clock: StoryClock | None) -> None:
        """Look at the groups' states without a lock, then write the few that change in one WATCH transaction,
        deciding again on what is there if another engine wrote one of them in between."""
        if not groups:
            return
        states = read_states(self._redis, [alert_state_key(rule, sign_id) for rule, sign_id in groups])
        first_look = {group: (state, decide(group, state)) for group, state in zip(groups, states, strict=True)}
        changing = [group for group, (state, outcome) in first_look.items() if outcome.needs_write(state)]
        if not changing:
            return
        keys = [alert_state_key(rule, sign_id) for rule, sign_id in changing]

        def decide_again(group: Group, before: RuleState) -> Outcome:
            """Under WATCH: the first look's outcome, unless another engine changed the state since."""
            seen, outcome = first_look[group]
            return outcome if before == seen else decide(group, before)

        def attempt(pipe: Pipeline) -> list[Transition]:
            if self.lease is not None:
                self.lease.guard(pipe)
            befores = watch_states(pipe, keys)
            outcomes = [decide_again(group, before) for group, before in zip(changing, befores, strict=True)]
            concerned = {b.alert_id for b, o in zip(befores, outcomes, strict=True) if b.alert_id and o.changes}
            alerts = watch_alerts(pipe, concerned)
            # Only a raise looks at the silences: watching them otherwise would only add a round trip.
            raises = any(c.kind is ChangeKind.RAISE for o in outcomes for c in o.changes)
            silences = watch_silences(pipe) if raises else []
            writes = Writes()
            staged: list[Transition] = []
            for group, before, outcome in zip(changing, befores, outcomes, strict=True):
                if outcome.needs_write(before):
                    staged += self._stage(writes, group, outcome, alerts.get(before.alert_id), silences, now, clock)
            # Each raised alert joins its incident in this same transaction (alerts.incidents).
            pending_signals = {
                sign_id: o.state for (rule, sign_id), o in zip(changing, outcomes, strict=True) if rule is RuleKind.CMA
            }
            group_raised(pipe, writes, self._grouping, pending_signals, now)
            pipe.multi()
            writes.queue(pipe)
            return staged

        transitions = transact(self._redis, attempt)
        raised = sum(t.event is Event.RAISED for t in transitions)
        self.stats.transitions += len(transitions)
        self.stats.raised += raised
        self.metrics.transitions.inc(len(transitions))
        self.metrics.raised.inc(raised)

    def _stage(
        self,
        writes: Writes,
        group: Group,
        outcome: Outcome,
        alert: Alert | None,
        silences: list[Silence],
        now: float,
        clock: StoryClock | None,
    ) -> list[Transition]:
        """Gather one rule state and the alert transitions its changes call for."""
        rule, sign_id = group
        writes.state(rule, sign_id, outcome.state)
        sign = self._sensors[sign_id] if rule is RuleKind.NO_DATA else self._watched[sign_id].sign
        transitions = []
        for change in outcome.changes:
            # The alert records the bound of the change's source time (an hour-of-week bound moves with the hour).
            followed = follow(change, alert, sign_at(sign, change.at, clock), rule, now, self._policy, silences)
            if followed is not None:
                alert, transition = followed
                writes.transition(alert, transition)
                transitions.append(transition)
        return transitions

    # The readings stream ------------------------------------------------------------------------------------

    def join_group(self) -> None:
        """Create the consumer group on first start, from the stream's end; the conditions already present are
        then evaluated once from the latest values, since the stream brings only what lands from now on."""
        try:
            self._redis.xgroup_create(KEY_READINGS, READINGS_GROUP, id="$", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
            return
        log.info("created consumer group %r; evaluating the latest values once", READINGS_GROUP)
        self.evaluate(  # values warming up or incomplete are not evaluated: they never land in the stream either
            (sign_id, latest.source_ts, latest.value)
            for sign_id, latest in read_all_latest(self._redis).items()
            if latest.quality is Quality.OK
        )

    def handle(self, entries: list[StreamEntry]) -> None:
        """Evaluate the readings of some stream entries, then acknowledge them. An entry trimmed from the stream
        before it was read comes without fields and is only acknowledged."""
        if not entries:
            return
        started = time.perf_counter()
        readings: list[tuple[str, float, float]] = []
        for entry_id, fields in entries:
            packed = fields.get(_FIELD)
            if not packed:
                continue
            try:
                readings += unpack_landed(packed)
            except ValueError:
                log.error("skipping malformed readings entry %s", entry_id.decode())
        self.evaluate(readings)
        self._redis.xack(KEY_READINGS, READINGS_GROUP, *[entry_id for entry_id, _ in entries])
        self.stats.entries += len(entries)
        self.stats.last_batch_ms = round((time.perf_counter() - started) * 1000, 3)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)

    def read_new(self, block_ms: int) -> int:
        response = self._redis.xreadgroup(
            READINGS_GROUP,
            self.engine_id,
            {KEY_READINGS: ">"},
            count=self._settings.alert_read_count,
            block=max(1, block_ms),
        )
        entries = _stream_entries(response)
        self.handle(entries)
        return len(entries)

    def take_back_own(self) -> None:
        """Entries this engine (by name) read but never acknowledged before it stopped: handled first."""
        while entries := _stream_entries(
            self._redis.xreadgroup(
                READINGS_GROUP, self.engine_id, {KEY_READINGS: "0"}, count=self._settings.alert_read_count
            )
        ):
            self.handle(entries)

    def claim_abandoned(self, idle_s: float | None = None) -> None:
        """Entries another engine read and left unacknowledged for idle_s (by default a lease's time to live with a
        lease, since only its holder reads, else ALERT_CLAIM_IDLE_S): it died or lost its lease, they are ours."""
        start: bytes | str = "0-0"
        if idle_s is None:
            idle_s = self.lease.ttl_s if self.lease is not None else self._settings.alert_claim_idle_s
        idle_ms = int(idle_s * 1000)
        while True:
            next_start, entries, *_deleted = self._redis.xautoclaim(
                KEY_READINGS, READINGS_GROUP, self.engine_id, idle_ms, start_id=start, count=_CLAIM_BATCH
            )
            if entries:
                log.info("claimed %d readings entries left by a stopped engine", len(entries))
            self.handle(entries)
            if next_start in (b"0-0", "0-0"):
                return
            start = next_start

    # The tick -----------------------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self.lease is None or self.lease.held

    def take_over(self) -> None:
        """Becoming the active engine: the group (made on first start), this engine's own pending entries, then
        every entry any other engine left pending, at once, since its lease ran out (or it never had one)."""
        self.join_group()
        self.take_back_own()
        self.claim_abandoned(idle_s=0.0)

    def count_open(self) -> None:
        """Open alerts by level, for the metrics (every engine, active or not, says the same)."""
        counts: dict[Level, int] = {level: 0 for level in Level if level is not Level.NORMAL}
        for alert in list_active(self._redis):
            counts[alert.level] += 1
        for level, n in counts.items():
            self.metrics.open_by_level.labels(level.en).set(n)
        cursor = cast(bytes | None, self._redis.get(KEY_ALERTS_PUBLISHED)) or b"0-0"
        unpublished = cast(list[StreamEntry], self._redis.xrange(KEY_ALERTS_AUDIT, b"(" + cursor, "+", count=10_000))
        self.metrics.unpublished.set(len(unpublished))

    def tick(self) -> None:
        """No-data, silence expiry, escalation, retention and MQTT publication; one engine's job per period."""
        now = self._clock()
        expire_silences(self._redis, now, ENGINE_USER)
        self.check_silence()
        escalate_overdue(self._redis, now)
        prune(self._redis, now, self._settings.alert_keep_days * 86_400.0)
        prune_incidents(self._redis, now, self._settings.alert_keep_days * 86_400.0)
        self.publish_transitions()
        self.stats.ticks += 1

    def publish_transitions(self) -> int:
        """Publish the current state of every alert with audit entries after the published cursor, retained;
        advance the cursor only once the broker has them. At least once, in audit order."""
        if self._publisher is None:
            return 0
        cursor = cast(bytes | None, self._redis.get(KEY_ALERTS_PUBLISHED)) or b"0-0"
        entries = cast(
            list[StreamEntry], self._redis.xrange(KEY_ALERTS_AUDIT, b"(" + cursor, "+", count=_PUBLISH_BATCH)
        )
        if not entries:
            return 0
        alert_ids = list(
            dict.fromkeys(fields[b"alert_id"].decode() for _, fields in entries if fields.get(b"alert_id"))
        )
        messages = [(alert_topic(alert.id), retained_payload(alert)) for alert in get_alerts(self._redis, alert_ids)]
        if messages and not self._publisher.publish_retained(messages):
            return 0
        self._redis.set(KEY_ALERTS_PUBLISHED, entries[-1][0])
        return len(messages)

    def attach_publisher(self, publisher: RetainedPublisher) -> None:
        """For run_engine: the publisher is made after the engine, which it asks about the states it guards."""
        self._publisher = publisher

    # Guarding the retained alert states (RetainedGuard) -------------------------------------------------------

    def retained_truth(self, topic: str) -> bytes:
        alert_id = topic.removeprefix(f"{TOPIC_ALERTS}/")
        if not alert_id or "/" in alert_id or alert_id == topic:
            return b""  # no alert lives there: nothing may be retained on it
        alerts = get_alerts(self._redis, [alert_id])
        return retained_payload(alerts[0]) if alerts else b""

    def record_forged(self, topic: str, payload: bytes, detail: str) -> None:
        settings = self._settings
        rejected = Rejected(Reason.FORBIDDEN_TOPIC, detail)
        keep, payload_bytes = settings.deadletter_keep, settings.deadletter_payload_bytes
        write_deadletter(self._redis, topic, payload, rejected, time.time(), keep, payload_bytes)

    def heartbeat(self) -> None:
        doc = {
            "engine_id": self.engine_id,
            "pid": os.getpid(),
            "at": time.time(),
            "leader": self.leader,
            "active": self.active,
            "lease_token": self.lease.token if self.lease is not None else None,
            **asdict(self.stats),
        }
        ttl = max(3, int(5 * self._settings.alert_heartbeat_s))
        self._redis.set(alert_engine_key(self.engine_id), json.dumps(doc), ex=ttl)

    # Lifecycle ----------------------------------------------------------------------------------------------

    def run(self) -> None:
        """Read the stream in this thread and tick in another, so that a slow tick (a broker slow to acknowledge
        a thousand retained states) never delays the evaluation of what lands."""
        log.info(
            "alert engine %s: %d signs watched, %d sensors", self.engine_id, len(self._watched), len(self._sensors)
        )
        keeper = None
        if self.lease is not None:
            self.lease.hold()  # at once: an engine alone is active from its first loop
            keeper = self.lease.start_keeper(self.stop_event)
        ticker = threading.Thread(target=self._tick_loop, name="alerts-tick", daemon=True)
        ticker.start()
        self._read_loop()
        ticker.join()
        if keeper is not None:
            keeper.join(timeout=2)
        self._redis.delete(alert_engine_key(self.engine_id))

    def _read_loop(self) -> None:
        settings = self._settings
        # A standby polls (the lease's keeper tries to take it every quarter of its time to live), and the active
        # one's reads block no longer, so that it notices a lost lease before reading much more.
        poll_s = min(_READ_BLOCK_S, self.lease.ttl_s / 4) if self.lease is not None else _READ_BLOCK_S
        claim_every_s = self.lease.ttl_s if self.lease is not None else settings.alert_claim_idle_s / 2
        was_active = False
        next_claim = next_beat = 0.0
        while not self.stop_event.is_set():
            try:
                mono = time.monotonic()
                # Taking over before the heartbeat: an engine that says it runs has its consumer group.
                if self.active and not was_active:
                    log.info("alert engine %s is the active one", self.engine_id)
                    self.take_over()
                    was_active = True
                    next_claim = mono + claim_every_s
                was_active = was_active and self.active
                if mono >= next_beat:
                    next_beat = mono + settings.alert_heartbeat_s
                    self.heartbeat()
                    self.count_open()
                if not was_active:
                    self.stop_event.wait(poll_s)
                    continue
                if mono >= next_claim:
                    next_claim = mono + claim_every_s
                    self.claim_abandoned()
                self.read_new(int(poll_s * 1000))
            except redis.RedisError as error:
                log.warning("alert engine waiting for Redis: %s", error)
                self.stop_event.wait(1.0)
            except (Contended, LeaseLost) as error:
                # The batch stays unacknowledged and comes back through claim_abandoned (here, or in the active one).
                log.error("alert engine: %s", error)

    def _tick_loop(self) -> None:
        period = self._settings.alert_tick_s
        while not self.stop_event.wait(period):
            try:
                self.leader = self.active
                if self.leader:
                    self.tick()
            except (redis.RedisError, Contended, LeaseLost) as error:
                log.warning("alert tick skipped: %s", error)


def run_engine(settings: Settings, name: str) -> None:
    client = open_redis(settings.redis_url, timeout_s=10)
    holder = f"{ENGINE_PREFIX}-{name}-{socket.gethostname()}-{os.getpid()}"
    engine = AlertEngine(settings, name, client=client, lease=Lease(client, ALERTS_JOB, holder, settings.lease_ttl_s))
    publisher = None
    if settings.mqtt_url:
        engine_id = f"{ENGINE_PREFIX}-{name}"
        publisher = MqttPublisher(settings.mqtt_url, engine_id, internal_signing_key(settings), guard=engine)
        engine.attach_publisher(publisher)
        broker_connected().set_function(lambda: 1.0 if publisher.connected else 0.0)
    else:
        log.warning("MQTT_URL is not set: alert transitions will not be published on MQTT")

    def _stop(_signum: int, _frame: object) -> None:
        engine.stop_event.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    serve_metrics(settings)
    try:
        engine.run()
    finally:
        if publisher is not None:
            publisher.close()
