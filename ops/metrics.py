"""Every Prometheus metric City Eye exports, named once (docs/operations.md lists them with example alert rules).

Each long-running process builds only its own family (a feed worker `ingest_metrics()`, the roll-up
`rollup_metrics()`...), so that its endpoint shows nothing it does not measure, and serves them with
`serve_metrics()` on METRICS_PORT. The web tier's gunicorn workers share one endpoint, /metrics on the web port, through
prometheus-client's multiprocess mode: PROMETHEUS_MULTIPROC_DIR (set by `make run` to RUN_DIR/metrics/web, emptied at
each start) holds each worker's counters, summed when scraped. Web metrics are counters and histograms only, which
that mode sums honestly across workers, living and dead.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cache

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from config import Settings

log = logging.getLogger("cityeye.ops.metrics")

NAMESPACE = "cityeye"
# Messages per flushed batch (INGEST_BATCH_MAX is 500 by default).
BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
# Seconds: a flush takes milliseconds; a request a few tens of them, an export seconds.
FLUSH_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TICK_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class LeaseMetrics:
    """Whether this process is the active one of its job, and how often it became so."""

    active: Gauge
    acquisitions: Counter


@cache
def lease_metrics() -> LeaseMetrics:
    return LeaseMetrics(
        active=Gauge(
            "lease_active",
            "1 while this process holds its job's lease (is the active one)",
            ["job"],
            namespace=NAMESPACE,
        ),
        acquisitions=Counter(
            "lease_acquisitions", "Times this process took its job's lease", ["job"], namespace=NAMESPACE
        ),
    )


@cache
def broker_connected() -> Gauge:
    return Gauge("broker_connected", "1 while this process' MQTT connection is up", namespace=NAMESPACE)


@dataclass(frozen=True)
class IngestMetrics:
    received: Counter
    written: Counter
    deadlettered: Counter
    batch_size: Histogram
    flush_seconds: Histogram
    redis_failures: Counter


@cache
def ingest_metrics() -> IngestMetrics:
    broker_connected()
    return IngestMetrics(
        received=Counter(
            "ingest_messages_received", "Feed messages received from the broker ($SYS not counted)", namespace=NAMESPACE
        ),
        written=Counter(
            "ingest_messages_written",
            "Feed messages whose batch was written to Redis (and acknowledged)",
            namespace=NAMESPACE,
        ),
        deadlettered=Counter(
            "ingest_messages_deadlettered",
            "Feed messages rejected to the dead-letter stream",
            ["reason"],
            namespace=NAMESPACE,
        ),
        batch_size=Histogram(
            "ingest_batch_size", "Messages per batch written to Redis", namespace=NAMESPACE, buckets=BATCH_SIZE_BUCKETS
        ),
        flush_seconds=Histogram(
            "ingest_flush_seconds", "Time to write one batch to Redis", namespace=NAMESPACE, buckets=FLUSH_BUCKETS
        ),
        redis_failures=Counter(
            "ingest_redis_failures", "Batch writes Redis refused (held and retried)", namespace=NAMESPACE
        ),
    )


@dataclass(frozen=True)
class RollupMetrics:
    ticks: Counter
    tick_seconds: Histogram
    board_lag: Gauge


@cache
def rollup_metrics() -> RollupMetrics:
    lease_metrics()
    return RollupMetrics(
        ticks=Counter("rollup_ticks", "Roll-up jobs run by this process", ["job"], namespace=NAMESPACE),
        tick_seconds=Histogram(
            "rollup_tick_seconds", "Time one roll-up job took", ["job"], namespace=NAMESPACE, buckets=TICK_BUCKETS
        ),
        board_lag=Gauge(
            "board_lag_seconds", "Age of the wall's board in Redis, seen by this roll-up process", namespace=NAMESPACE
        ),
    )


@dataclass(frozen=True)
class AlertMetrics:
    readings: Counter
    raised: Counter
    transitions: Counter
    batch_seconds: Histogram
    open_by_level: Gauge
    unpublished: Gauge


@cache
def alert_metrics() -> AlertMetrics:
    lease_metrics()
    broker_connected()
    return AlertMetrics(
        readings=Counter("alert_readings_evaluated", "Readings evaluated against the rules", namespace=NAMESPACE),
        raised=Counter("alerts_raised", "Alerts raised by this engine", namespace=NAMESPACE),
        transitions=Counter("alert_transitions", "Alert transitions written by this engine", namespace=NAMESPACE),
        batch_seconds=Histogram(
            "alert_batch_seconds",
            "Time to evaluate and acknowledge one batch of stream entries",
            namespace=NAMESPACE,
            buckets=TICK_BUCKETS,
        ),
        open_by_level=Gauge(
            "alerts_open",
            "Open alerts by level (raised, acknowledged or cleared unacknowledged)",
            ["level"],
            namespace=NAMESPACE,
        ),
        unpublished=Gauge("alert_audit_unpublished", "Audit entries not yet published on MQTT", namespace=NAMESPACE),
    )


@dataclass(frozen=True)
class DispatchMetrics:
    filed: Counter
    duplicates: Counter
    rejected: Counter
    dispatched: Counter
    escalated: Counter
    notifications: Counter
    events_open: Gauge
    events_overdue: Gauge


@cache
def dispatch_metrics() -> DispatchMetrics:
    lease_metrics()
    broker_connected()
    return DispatchMetrics(
        filed=Counter("events_filed", "Machine reports over MQTT filed as events", namespace=NAMESPACE),
        duplicates=Counter(
            "events_duplicate_reports",
            "Copies of machine reports already filed (redelivered, or heard "
            "by another dispatcher too), acknowledged without an event",
            namespace=NAMESPACE,
        ),
        rejected=Counter("events_rejected", "Machine reports over MQTT dead-lettered", namespace=NAMESPACE),
        dispatched=Counter("events_dispatched", "Reported events dispatched automatically", namespace=NAMESPACE),
        escalated=Counter("events_escalated", "Event clocks run out and escalated", namespace=NAMESPACE),
        notifications=Counter(
            "notifications",
            "Notification attempts by outcome (delivered, failed, no_channel)",
            ["status"],
            namespace=NAMESPACE,
        ),
        events_open=Gauge("events_open", "Open events", namespace=NAMESPACE),
        events_overdue=Gauge("events_overdue", "Open events whose running clock has run out", namespace=NAMESPACE),
    )


@cache
def request_seconds() -> Histogram:
    """The web tier's one metric family: request latency by route template (never the raw path), method, status."""
    return Histogram(
        "http_request_duration_seconds",
        "Web requests by route template, method and status",
        ["route", "method", "status"],
        namespace=NAMESPACE,
        buckets=REQUEST_BUCKETS,
    )


def serve_metrics(settings: Settings) -> int | None:
    """Serve this process' metrics on METRICS_HOST:METRICS_PORT (0: not at all); the port, for the log."""
    if not settings.metrics_port:
        return None
    start_http_server(settings.metrics_port, addr=settings.metrics_host)
    log.info("metrics on http://%s:%d/metrics", settings.metrics_host, settings.metrics_port)
    return settings.metrics_port


def web_registry() -> CollectorRegistry | None:
    """The registry /metrics of the web tier exposes: every gunicorn worker's, when PROMETHEUS_MULTIPROC_DIR is set;
    None (this process' default registry) otherwise, right for one worker only."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return None
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)
    return registry
