"""The dispatcher, `python -m dispatch run`: takes machine reports from MQTT, dispatches every reported event, runs
the SLA clocks and escalates, publishes event states and delivers notifications.

Four loops, each on its own thread so that a slow notification channel delays nothing else:
* MQTT intake (paho's thread): a report on cityeye/v1/events/... is validated and filed once, or dead-lettered, and
  only then acknowledged (a persistent session: what arrives while the dispatcher is away waits at the broker);
* intake: the consumer group on the intake stream, fed by every intake (Open311 in the web tier, MQTT, officers):
  each reported event is matched and dispatched, and acknowledged once dispatched;
* tick: events raised by rule from alerts (dispatch/alert_rules.py), overdue clocks escalated, event states
  published retained and signed, the M15 signs computed from the events (dispatch/signs.py), closed events past
  their keep pruned, the heartbeat;
* outbox: due notifications delivered through Apprise, retried with backoff.

Several dispatchers run hot at once (each with its own --name, which names its broker session): the intake and the
outbox share their work through the consumer group and the outbox's claims, and the tick runs only in the holder of
the "events" lease (ops/lease.py), so no clock is escalated twice; another takes the tick over within the lease's
time to live. The machine reports reach them through the shared subscription DISPATCH_SHARED_GROUP, which gives each
report to one of them, or (empty) through a plain one, which gives each report to all of them. Either way a report
is filed once: its identity (dispatch.contract.report_identity) is checked and recorded in the filing transaction,
so neither a second dispatcher's copy nor a redelivery to one killed after filing and before acknowledging makes a
second event (docs/operations.md#several-copies-leases).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import paho.mqtt.client as mqtt
import redis

from config import Settings, internal_signing_key
from dispatch.alert_rules import follow_alerts, load_rules
from dispatch.contract import EVENTS_FEED, INTAKE_FILTER, Intake, parse_report, report_identity, state_topic
from dispatch.hub import auto_dispatch, escalate_overdue, file_report
from dispatch.library import library
from dispatch.lifecycle import LifecycleError
from dispatch.notify import deliver_due, load_channels
from dispatch.signs import HubSigns, check_hub_sources
from dispatch.store import (
    AlreadyFiled,
    ReportIdentity,
    UnknownEvent,
    claim_dead_letter,
    closed_before,
    ensure_intake_group,
    get_events,
    reindex,
    remove_events,
    trim_audit,
)
from feeds.contract import TOPIC_ROOT, Limits, Rejected, sign_owned, subscription_filters
from feeds.mqtt import broker_address, new_client
from feeds.sink import write_deadletter
from geo.districts import district_of
from ops.lease import Lease
from ops.metrics import broker_connected, dispatch_metrics, serve_metrics
from signs.catalogue import catalogue
from signs.keys import (
    EVENTS_INTAKE_GROUP,
    KEY_EVENT_DELIVERIES,
    KEY_EVENTS_AUDIT,
    KEY_EVENTS_DUE,
    KEY_EVENTS_INTAKE,
    KEY_EVENTS_OPEN,
    KEY_EVENTS_PUBLISHED,
    dispatcher_key,
)
from signs.replies import StreamEntry, stream_range
from signs.store import open_redis
from signs.write import SignWriter

log = logging.getLogger("cityeye.dispatch")

_PUBLISH_BATCH = 500
_PUBACK_TIMEOUT_S = 5.0
EVENTS_JOB = "events"  # the lease's job: its hash tag is the event keys' own


def district_of_point(lat: float | None, lon: float | None) -> str:
    return str(district_of(lon, lat)) if lat is not None and lon is not None else ""


class Dispatcher:
    def __init__(self, settings: Settings, name: str = "1") -> None:
        self._settings = settings
        self.dispatcher_id = f"cityeye-dispatch-{name}"
        self._library = library()
        self._alert_rules = load_rules(catalogue(), self._library)
        self._channels = load_channels(settings.dispatch_channels_file)
        self._redis = open_redis(settings.redis_url, timeout_s=10)
        self._key = internal_signing_key(settings)
        self._limits = Limits(
            max_payload_bytes=settings.mqtt_max_payload_bytes,
            max_future_s=settings.ingest_max_future_s,
            max_past_s=settings.ingest_max_past_s,
        )
        # The events feed's topics that carry sign readings belong to the feed workers.
        self._sign_sources = {(adcode, source) for feed, adcode, source in catalogue().routes if feed == "events"}
        self.stop_event = threading.Event()
        self.hub_signs = HubSigns(
            self._redis,
            SignWriter(
                retention_days=settings.history_retention_days,
                readings_keep_s=settings.alert_readings_keep_s,
            ),
            self._library,
            check_hub_sources(catalogue(), self._library),
            min_s=settings.dispatch_signs_min_s,
            refresh_s=settings.dispatch_signs_refresh_s,
        )
        # A report filed is remembered as long as a copy of it could still pass the time check.
        self._filed_keep_s = settings.ingest_max_past_s + settings.ingest_max_future_s
        self._intake_filters = subscription_filters((EVENTS_FEED,), settings.dispatch_shared_group)
        self.counts = {
            "filed": 0, "duplicates": 0, "rejected": 0, "dispatched": 0, "escalated": 0, "notified": 0,
            "published": 0, "signs": 0, "raised": 0, "pruned": 0,
        }  # fmt: skip
        self._status_topic = f"{TOPIC_ROOT}/status/dispatch/{self.dispatcher_id}"
        self._client = new_client(self.dispatcher_id, settings.mqtt_url, persistent=True, manual_ack=True)
        self._client.will_set(self._status_topic, self._status("offline"), qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        holder = f"{self.dispatcher_id}-{socket.gethostname()}-{os.getpid()}"
        self.lease = Lease(self._redis, EVENTS_JOB, holder, settings.lease_ttl_s)
        self.metrics = dispatch_metrics()
        broker_connected().set_function(lambda: 1.0 if self._client.is_connected() else 0.0)
        self._exported = dict.fromkeys(self.counts, 0)
        self._deliveries_seen = f"{int(time.time() * 1000)}-0"

    # MQTT ------------------------------------------------------------------------------------------------------------

    def _status(self, state: str, **extra: object) -> bytes:
        return sign_owned(self._key, self._status_topic, json.dumps({"state": state, **extra}).encode())

    def _on_connect(
        self, client: mqtt.Client, _userdata: object, _flags: object, reason_code: object, _props: object
    ) -> None:
        if getattr(reason_code, "is_failure", False):
            log.error("broker refused connection: %s", reason_code)
            return
        if self._settings.dispatch_shared_group:
            client.unsubscribe(INTAKE_FILTER)  # the plain subscription a session of an earlier, unshared run keeps
        client.subscribe([(f, 1) for f in self._intake_filters])
        client.publish(self._status_topic, self._status("online", pid=os.getpid()), qos=1, retain=True)
        log.info("connected as %s, subscribed to %s", self.dispatcher_id, ", ".join(self._intake_filters))

    def _on_message(self, client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        """Never raises (paho would stop its loop); acknowledges only once the report is filed or dead-lettered, so
        a Redis outage leaves the message at the broker."""
        try:
            self.take(message.topic, bytes(message.payload), time.time())
        except redis.RedisError as error:
            log.error("Redis failed on a report, left unacknowledged for redelivery: %s", error)
            return
        except Exception:
            log.exception("internal error on a report on %s", message.topic)
        client.ack(message.mid, message.qos)

    def take(self, topic: str, payload: bytes, now: float) -> Intake | Rejected | None:
        """One MQTT message: filed or dead-lettered, once however many copies of it arrive, or (a sign's reading)
        left to the feed workers (None)."""
        parts = topic.split("/")
        if len(parts) == 5 and (parts[3], parts[4]) in self._sign_sources:
            return None
        identity = ReportIdentity(report_identity(topic, payload), self._filed_keep_s)
        parsed = parse_report(topic, payload, self._library, now, self._limits)
        if isinstance(parsed, Rejected):
            if not claim_dead_letter(self._redis, identity):
                self.counts["duplicates"] += 1
                return parsed
            settings = self._settings
            write_deadletter(
                self._redis, topic, payload, parsed, now, settings.deadletter_keep, settings.deadletter_payload_bytes
            )
            self.counts["rejected"] += 1
            log.warning("dead-letter %s on %s: %s", parsed.reason.value, topic, parsed.detail)
            return parsed
        where = parsed.report.location
        try:
            file_report(
                self._redis,
                parsed.report,
                self._library,
                district_of_point(where.lat, where.lon),
                now,
                time_scale=self._settings.dispatch_time_scale,
                identity=identity,
            )
        except AlreadyFiled as filed:
            self.counts["duplicates"] += 1
            log.debug("report on %s: %s", topic, filed)  # the copy a dispatcher hears beside another
            return parsed
        self.counts["filed"] += 1
        return parsed

    # Loops -----------------------------------------------------------------------------------------------------------

    def intake_once(self, block_ms: int) -> int:
        """Dispatch the reported events waiting in the intake stream (this consumer's pending ones first)."""
        done = 0
        for start in ("0", ">"):
            reply: Any = self._redis.xreadgroup(
                EVENTS_INTAKE_GROUP,
                self.dispatcher_id,
                {KEY_EVENTS_INTAKE: start},
                count=200,
                block=block_ms if start == ">" else None,
            )
            entries = cast(list[StreamEntry], reply[0][1] if reply else [])
            for entry_id, fields in entries:
                event_id = fields[b"event_id"].decode()
                try:
                    auto_dispatch(self._redis, event_id, self._library, time.time())
                    self.counts["dispatched"] += 1
                except (LifecycleError, UnknownEvent) as error:
                    log.info("intake %s: %s", event_id, error)  # dispatched by hand meanwhile, or gone
                self._redis.xack(KEY_EVENTS_INTAKE, EVENTS_INTAKE_GROUP, entry_id)
                done += 1
        return done

    def tick(self, now: float) -> None:
        raised = follow_alerts(
            self._redis, self._library, self._alert_rules, now, time_scale=self._settings.dispatch_time_scale
        )
        self.counts["raised"] += len(raised)
        self.counts["escalated"] += len(escalate_overdue(self._redis, self._library, now))
        self.counts["published"] += self.publish_states()
        self.counts["signs"] += self.hub_signs.tick(now)
        self.counts["pruned"] += self.prune(now)

    def prune(self, now: float) -> int:
        """Retention: events closed more than DISPATCH_CLOSED_KEEP_DAYS ago removed, a batch a tick, once the broker
        holds the deletion of their retained states (an empty retained payload, which carries no signature); then
        the audit trimmed to the same age. Nothing while the broker is away, so no retained state outlives its event."""
        before = now - self._settings.dispatch_closed_keep_days * 86_400
        if not self._client.is_connected():
            return 0
        events = closed_before(self._redis, before)
        infos = [self._client.publish(state_topic(e.id), b"", qos=1, retain=True) for e in events]
        for info in infos:
            info.wait_for_publish(_PUBACK_TIMEOUT_S)
        if not all(info.is_published() for info in infos):
            return 0
        remove_events(self._redis, events)
        trim_audit(self._redis, before)
        return len(events)

    def publish_states(self) -> int:
        """The state of every event with audit entries after the published cursor, retained and signed; the cursor
        moves once the broker has them. At least once, in audit order."""
        if not self._client.is_connected():
            return 0
        cursor = cast(bytes | None, self._redis.get(KEY_EVENTS_PUBLISHED)) or b"0-0"
        entries = stream_range(self._redis, KEY_EVENTS_AUDIT, b"(" + cursor, "+", count=_PUBLISH_BATCH)
        if not entries:
            return 0
        ids = list(dict.fromkeys(fields[b"event_id"].decode() for _, fields in entries))
        infos = []
        for event in get_events(self._redis, ids):
            topic = state_topic(event.id)
            payload = sign_owned(self._key, topic, json.dumps(event.as_json(), ensure_ascii=False).encode())
            infos.append(self._client.publish(topic, payload, qos=1, retain=True))
        for info in infos:
            info.wait_for_publish(_PUBACK_TIMEOUT_S)
        if not all(info.is_published() for info in infos):
            return 0
        self._redis.set(KEY_EVENTS_PUBLISHED, entries[-1][0])
        return len(infos)

    def heartbeat(self, now: float) -> None:
        record = {"dispatcher_id": self.dispatcher_id, "pid": os.getpid(), "at": now, **self.counts}
        self._redis.set(dispatcher_key(self.dispatcher_id), json.dumps(record), ex=15)

    def _forever(self, name: str, body: Callable[[], object], period_s: float) -> None:
        while not self.stop_event.is_set():
            try:
                body()
            except redis.RedisError as error:
                log.error("%s: Redis failed, retrying: %s", name, error)
                self.stop_event.wait(1.0)
            except Exception:
                log.exception("%s failed, carrying on", name)
                self.stop_event.wait(1.0)
            if period_s:
                self.stop_event.wait(period_s)

    def _deliver(self) -> None:
        settings = self._settings
        self.counts["notified"] += deliver_due(
            self._redis,
            self._channels,
            time.time(),
            base_s=settings.dispatch_retry_base_s,
            max_s=settings.dispatch_retry_max_s,
        )

    def _tick(self) -> None:
        now = time.time()
        if self.lease.held:
            self.tick(now)
            self._count_deliveries()
        self.heartbeat(now)
        self._export(now)

    def _count_deliveries(self) -> None:
        """Notification outcomes (whichever dispatcher's outbox attempted them), counted once: by the active one."""
        entries = stream_range(self._redis, KEY_EVENT_DELIVERIES, f"({self._deliveries_seen}", "+", count=1000)
        for _entry_id, fields in entries:
            self.metrics.notifications.labels(fields.get(b"status", b"").decode()).inc()
        if entries:
            last = entries[-1][0]
            self._deliveries_seen = last.decode() if isinstance(last, bytes) else str(last)

    def _export(self, now: float) -> None:
        metrics = self.metrics
        for name, counter in (
            ("filed", metrics.filed),
            ("duplicates", metrics.duplicates),
            ("rejected", metrics.rejected),
            ("dispatched", metrics.dispatched),
            ("escalated", metrics.escalated),
        ):
            counter.inc(self.counts[name] - self._exported[name])
            self._exported[name] = self.counts[name]
        metrics.events_open.set(float(self._redis.zcard(KEY_EVENTS_OPEN)))
        metrics.events_overdue.set(float(self._redis.zcount(KEY_EVENTS_DUE, "-inf", now)))

    def run(self) -> None:
        ensure_intake_group(self._redis)
        reindex(self._redis)  # events stored before the per-scope and closed indexes existed
        district_of_point(32.0, 112.1)  # load the district geometries before the first report waits for them
        host, port = broker_address(self._settings.mqtt_url)
        self._client.connect_async(host, port, keepalive=self._settings.mqtt_keepalive_s)
        self._client.loop_start()
        loops = [
            threading.Thread(target=self._forever, args=("intake", lambda: self.intake_once(1000), 0), daemon=True),
            threading.Thread(
                target=self._forever, args=("tick", self._tick, self._settings.dispatch_tick_s), daemon=True
            ),
            threading.Thread(target=self._forever, args=("outbox", self._deliver, 0.2), daemon=True),
        ]
        keeper = self.lease.start_keeper(self.stop_event)
        for loop in loops:
            loop.start()
        log.info(
            "dispatcher %s: %d event types, %d units with channels",
            self.dispatcher_id,
            len(self._library.types),
            len(self._channels.urls),
        )
        self.stop_event.wait()
        for loop in [*loops, keeper]:
            loop.join(timeout=5)
        offline = self._client.publish(self._status_topic, self._status("offline"), qos=1, retain=True)
        offline.wait_for_publish(_PUBACK_TIMEOUT_S)
        self._client.loop_stop()
        self._client.disconnect()
        self._redis.delete(dispatcher_key(self.dispatcher_id))


def run_dispatcher(settings: Settings, name: str) -> None:
    dispatcher = Dispatcher(settings, name)

    def _stop(_signum: int, _frame: object) -> None:
        dispatcher.stop_event.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    serve_metrics(settings)
    dispatcher.run()
