"""The feed worker: MQTT in, validated and batched, Redis out, acknowledged only once written.

One thread runs both the MQTT network loop and the Redis flush (perf-baselines §3.5: a hand-off to a
second thread was 27 % slower). A message is acknowledged to the broker (paho manual_ack) only after
the pipeline holding it has executed, so a worker killed between receipt and write loses nothing: the
broker redelivers to the persistent session (fixed client id, clean_session False).
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import socket
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
import redis

from config import Settings, internal_signing_key, redact_url
from feeds.contract import (
    SYS_FILTERS,
    CameraStatus,
    Ignored,
    Limits,
    Parsed,
    Readings,
    Reason,
    Rejected,
    parse,
    parse_broker_counter,
    sign_owned,
    subscription_filters,
    worker_status_topic,
)
from feeds.mqtt import broker_address, new_client
from feeds.sink import Batch, RedisSink
from ops.metrics import broker_connected, ingest_metrics, serve_metrics
from signs.catalogue import catalogue
from signs.keys import worker_key
from signs.store import open_redis

log = logging.getLogger("cityeye.feeds.worker")

_READ_CHUNK = 256 * 1024


def _topic_text(message: mqtt.MQTTMessage) -> str | None:
    """The message's topic, None when it is not UTF-8 (MQTT requires it; a broker may not check)."""
    try:
        return message.topic
    except UnicodeDecodeError:
        return None


class BatchingClient(mqtt.Client):
    """A paho client that reads the socket in large chunks and sends in one write per loop turn.

    paho 2.2 reads each packet with three or more recv() calls (command byte, each length byte, body)
    and writes each PUBACK with its own send(); at 20,000 messages a second those syscalls cost more
    than the rest of the worker. Both hooks are paho's own socket seams (_sock_recv/_sock_send), which
    is why paho is pinned.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._inbox = b""
        self._inbox_pos = 0
        self._outbox = bytearray()

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._inbox_pos >= len(self._inbox):
            data = super()._sock_recv(_READ_CHUNK)
            if not data:
                return data
            self._inbox, self._inbox_pos = data, 0
        start = self._inbox_pos
        self._inbox_pos = min(start + bufsize, len(self._inbox))
        return self._inbox[start : self._inbox_pos]

    def _sock_send(self, buf: bytes | bytearray) -> int:
        if self._sock is None:
            raise ConnectionError("not connected")
        self._outbox += buf
        return len(buf)

    def _sock_close(self) -> None:
        self._inbox, self._inbox_pos = b"", 0
        self._outbox.clear()
        super()._sock_close()

    def buffered_bytes(self) -> int:
        return len(self._inbox) - self._inbox_pos

    def wants_send(self) -> bool:
        return bool(self._outbox)

    def send_outbox(self) -> None:
        """Write what paho queued; whatever the socket does not take now waits for the next turn."""
        while self._outbox and self._sock is not None:
            try:
                sent = self._sock.send(self._outbox)
            except BlockingIOError:
                return
            del self._outbox[:sent]


@dataclass
class WorkerStats:
    received: int = 0
    written: int = 0
    rejected: int = 0
    batches: int = 0
    last_flush_ms: float = 0.0
    redis_failures: int = 0
    internal_errors: int = 0  # messages or batches our own code failed on: dead-lettered as internal_error


class FeedWorker:
    def __init__(self, settings: Settings, worker_name: str, feeds: tuple[str, ...]) -> None:
        self._settings = settings
        self.worker_id = f"{settings.mqtt_client_prefix}-{worker_name}"
        self._feeds = feeds
        self._routes = catalogue().routes
        self._limits = Limits(
            max_payload_bytes=settings.mqtt_max_payload_bytes,
            max_future_s=settings.ingest_max_future_s,
            max_past_s=settings.ingest_max_past_s,
        )
        self._owner_key = internal_signing_key(settings)
        self._status_topic = worker_status_topic(self.worker_id)
        self._online = b""  # the status this worker last published: anything else on its topic is repaired
        self._redis = open_redis(settings.redis_url)
        self._sink = RedisSink(
            self._redis,
            retention_days=settings.history_retention_days,
            deadletter_keep=settings.deadletter_keep,
            deadletter_payload_bytes=settings.deadletter_payload_bytes,
            readings_keep_s=settings.alert_readings_keep_s,
            wait_replicas=settings.redis_wait_replicas,
            wait_timeout_ms=settings.redis_wait_timeout_ms,
        )
        self.stop_event = threading.Event()
        self.stats = WorkerStats()
        self.metrics = ingest_metrics()
        broker_connected().set_function(lambda: 1.0 if self._connected else 0.0)
        self._batch = Batch()
        self._pending_acks: list[int] = []
        self._batch_started = 0.0
        self._connected = False
        self._client = self._new_client()

    # MQTT ----------------------------------------------------------------------------------------

    def _new_client(self) -> BatchingClient:
        client = new_client(
            self.worker_id,
            self._settings.mqtt_url,
            persistent=True,
            manual_ack=True,
            cfg=self._settings,
            client_class=BatchingClient,
        )
        client.will_set(self._status_topic, self._status("offline"), qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_connect(
        self, client: mqtt.Client, _userdata: object, _flags: object, reason_code: object, _props: object
    ) -> None:
        if getattr(reason_code, "is_failure", False):
            log.error("broker %s refused the connection: %s", redact_url(self._settings.mqtt_url), reason_code)
            return
        sock = client.socket()
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        filters = subscription_filters(self._feeds, self._settings.mqtt_shared_group)
        own = [(self._status_topic, 1)] if self._settings.mqtt_shared_group else []  # else the tree's filter has it
        client.subscribe([(f, 1) for f in filters] + own + [(f, 0) for f in SYS_FILTERS])
        self._online = self._status("online", pid=os.getpid())
        client.publish(self._status_topic, self._online, qos=1, retain=True)
        self._connected = True
        log.info("connected as %s, subscribed to %s", self.worker_id, ", ".join(filters))

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: object, _flags: object, reason_code: object, _props: object
    ) -> None:
        self._connected = False
        # The broker redelivers unacknowledged messages to the persistent session after reconnect;
        # acknowledging their old packet ids on the new connection would be wrong.
        self._pending_acks.clear()
        log.warning("disconnected from broker: %s", reason_code)

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        """Never raises: paho would re-raise and end the worker, and the broker would hand the message to the next
        worker (and to this one restarted) for ever. A message we fail on is dead-lettered and acknowledged."""
        try:
            self._take(message)
        except Exception as error:
            self.stats.internal_errors += 1
            log.exception("internal error on a message, dead-lettered as internal_error")
            try:
                rejected = Rejected(Reason.INTERNAL_ERROR, f"{type(error).__name__}: {error}"[:500])
                topic = _topic_text(message) or bytes(message._topic).decode("utf-8", "backslashreplace")
                self._batch.rejected.append((topic, bytes(message.payload), rejected))
                self.stats.rejected += 1
                self.metrics.deadlettered.labels(Reason.INTERNAL_ERROR.value).inc()
            except Exception:
                log.exception("could not even dead-letter it")
        finally:
            if message.qos > 0:
                self._pending_acks.append(message.mid)

    def _take(self, message: mqtt.MQTTMessage) -> None:
        now = time.time()
        if not self._batch:
            self._batch_started = now
            self._batch.receive_ts = now
        payload = bytes(message.payload)
        topic = _topic_text(message)
        if topic is not None and topic.startswith("$SYS/"):
            counter = parse_broker_counter(topic, payload)
            if counter is not None:
                self._batch.broker.append((counter, now))
            return
        self.stats.received += 1
        self.metrics.received.inc()
        if topic is None:
            topic = bytes(message._topic).decode("utf-8", "backslashreplace")
            parsed: Parsed = Rejected(Reason.INVALID_UTF8, "the topic is not UTF-8")
        else:
            parsed = parse(topic, payload, self._routes, now, self._limits, self._owner_key)
            if topic == self._status_topic and payload != self._online:
                self._repair_status()
        if not isinstance(parsed, Ignored):
            self._batch.messages += 1
        if isinstance(parsed, Readings):
            self._batch.readings.extend(parsed.readings)
        elif isinstance(parsed, CameraStatus):
            self._batch.cameras.append(parsed)
        elif isinstance(parsed, Rejected):
            self._batch.rejected.append((topic, payload, parsed))
            self.stats.rejected += 1
            self.metrics.deadlettered.labels(parsed.reason.value).inc()
            log.warning("dead-letter %s on %s: %s", parsed.reason.value, topic, parsed.detail)

    def _status(self, state: str, **extra: object) -> bytes:
        topic = self._status_topic
        return sign_owned(self._owner_key, topic, json.dumps({"state": state, **extra}).encode())

    def _repair_status(self) -> None:
        """Someone else published on this worker's status topic (a forged "offline", a replayed old status): say
        again what is true, retained, so that whoever follows it is put right. Not while stopping: then the worker's
        own "offline" is the truth."""
        if self._online and self._connected and not self.stop_event.is_set():
            log.warning("status topic %s was overwritten by someone else; republishing it", self._status_topic)
            self._client.publish(self._status_topic, self._online, qos=1, retain=True)

    # Redis ---------------------------------------------------------------------------------------

    def _flush(self) -> bool:
        """Write the batch, then acknowledge its messages. False (nothing acknowledged) if Redis failed."""
        if not self._batch and not self._pending_acks:
            return True
        started = time.perf_counter()
        try:
            if self._batch:
                self._sink.write(self._batch)
        except redis.RedisError as error:
            self.stats.redis_failures += 1
            self.metrics.redis_failures.inc()
            log.error("Redis write failed, holding %d messages unacknowledged: %s", len(self._batch), error)
            return False
        except Exception as error:
            # Not Redis failing but our own code: holding the batch would fail the same way for ever, and a restart
            # would be handed the same messages. Record what was lost, then acknowledge as usual.
            self.stats.internal_errors += 1
            log.exception("batch of %d messages could not be written; recorded as internal_error", len(self._batch))
            if not self._write_internal_error(error):
                return False
        elapsed = time.perf_counter() - started
        self.stats.written += len(self._batch)
        self.stats.batches += 1
        self.stats.last_flush_ms = elapsed * 1000
        if len(self._batch):  # a batch of broker counters alone holds no message
            self.metrics.written.inc(len(self._batch))
            self.metrics.batch_size.observe(len(self._batch))
            self.metrics.flush_seconds.observe(elapsed)
        for mid in self._pending_acks:
            self._client.ack(mid, 1)
        self._pending_acks.clear()
        self._batch = Batch()
        self._client.send_outbox()
        return True

    def _write_internal_error(self, error: Exception) -> bool:
        """One dead-letter record for a batch our code could not write; False if Redis failed too (try again)."""
        lost = Batch(receive_ts=self._batch.receive_ts or time.time())
        detail = f"a batch of {len(self._batch)} messages was lost: {type(error).__name__}: {error}"[:500]
        lost.rejected.append(("(batch)", b"", Rejected(Reason.INTERNAL_ERROR, detail)))
        try:
            self._sink.write(lost)
        except redis.RedisError as redis_error:
            log.error("Redis write failed, holding the batch unacknowledged: %s", redis_error)
            return False
        return True

    def _heartbeat(self) -> None:
        stats = self.stats
        record = {
            "worker_id": self.worker_id,
            "pid": os.getpid(),
            "at": time.time(),
            "connected": self._connected,
            "feeds": list(self._feeds),
            "received": stats.received,
            "written": stats.written,
            "rejected": stats.rejected,
            "batches": stats.batches,
            "last_flush_ms": round(stats.last_flush_ms, 3),
            "redis_failures": stats.redis_failures,
            "internal_errors": stats.internal_errors,
        }
        ttl = max(3, int(self._settings.worker_heartbeat_s * 5))
        try:
            self._redis.set(worker_key(self.worker_id), json.dumps(record), ex=ttl)
        except redis.RedisError as error:
            log.warning("heartbeat not written: %s", error)

    # Loop ----------------------------------------------------------------------------------------

    def _connect(self) -> None:
        host, port = broker_address(self._settings.mqtt_url)
        delay = 0.5
        while not self.stop_event.is_set():
            try:
                self._client.connect(host, port, keepalive=self._settings.mqtt_keepalive_s)
                return
            except OSError as error:
                log.warning("broker %s:%d unreachable (%s), retrying in %.1f s", host, port, error, delay)
                self.stop_event.wait(delay)
                delay = min(delay * 2, 10)

    def _reconnect(self) -> None:
        self._connected = False
        self._pending_acks.clear()
        delay = 0.2
        while not self.stop_event.is_set():
            try:
                self._client.reconnect()
                return
            except OSError as error:
                log.warning("reconnect failed (%s), retrying in %.1f s", error, delay)
                self.stop_event.wait(delay)
                delay = min(delay * 2, 10)

    def run(self) -> None:
        settings = self._settings
        max_batch = settings.ingest_batch_max
        max_age = settings.ingest_batch_max_age_ms / 1000
        # At low rates a batch waits at most this long for company before it is flushed.
        min_age = min(max_age, 0.002)
        self._connect()
        client = self._client
        next_heartbeat = 0.0
        redis_retry_at = 0.0
        while not self.stop_event.is_set():
            now = time.time()
            if now >= next_heartbeat:
                self._heartbeat()
                next_heartbeat = now + settings.worker_heartbeat_s
            sock = client.socket()
            if sock is None:
                self._flush_or_hold()
                self._reconnect()
                continue
            holding = now < redis_retry_at
            batch_age = now - self._batch_started if self._batch else 0.0
            if client.buffered_bytes() == 0:
                timeout = 0.25
                if self._batch and not holding:
                    timeout = max(0.0, min_age - batch_age)
                readable, writable, _ = select.select(
                    [] if holding else [sock], [sock] if client.wants_send() or client.want_write() else [], [], timeout
                )
            else:
                readable, writable = [sock], []
            if writable:
                client.loop_write()
                client.send_outbox()
            if readable:
                # Drain what has arrived, up to a full batch, before deciding to flush.
                while True:
                    rc = client.loop_read()
                    if rc != mqtt.MQTT_ERR_SUCCESS or client.buffered_bytes() == 0 or len(self._batch) >= max_batch:
                        break
                if rc != mqtt.MQTT_ERR_SUCCESS:
                    log.warning("connection lost (%s)", rc)
                    self._flush_or_hold()
                    self._reconnect()
                    continue
            now = time.time()
            if self._batch or self._pending_acks:
                age = now - self._batch_started if self._batch else max_age
                idle = not readable and client.buffered_bytes() == 0
                due = len(self._batch) >= max_batch or age >= max_age or (idle and age >= min_age)
                if due and now >= redis_retry_at and not self._flush():
                    redis_retry_at = now + 0.5
            client.loop_misc()
            client.send_outbox()
        self._shutdown()

    def _flush_or_hold(self) -> None:
        """Before a reconnect: write what we have (harmless if redelivered), acks are dropped."""
        if self._batch:
            try:
                self._sink.write(self._batch)
                self.stats.written += len(self._batch)
                self.metrics.written.inc(len(self._batch))
                self._batch = Batch()
            except redis.RedisError as error:
                log.error("Redis write failed before reconnect, the broker will redeliver: %s", error)
                self._batch = Batch()
        self._pending_acks.clear()

    def _shutdown(self) -> None:
        self._flush()
        client = self._client
        info = client.publish(self._status_topic, self._status("offline"), qos=1, retain=True)
        client.send_outbox()
        deadline = time.time() + 2
        while not info.is_published() and time.time() < deadline and client.socket() is not None:
            client.loop(timeout=0.05)
            client.send_outbox()
        client.disconnect()
        client.send_outbox()
        try:
            self._redis.delete(worker_key(self.worker_id))
        except redis.RedisError:
            pass
        stats = self.stats
        log.info("stopped: %d received, %d written, %d rejected", stats.received, stats.written, stats.rejected)


def run_worker(settings: Settings, worker_name: str, feeds: tuple[str, ...]) -> None:
    worker = FeedWorker(settings, worker_name, feeds)

    def _stop(_signum: int, _frame: object) -> None:
        worker.stop_event.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    serve_metrics(settings)
    worker.run()
