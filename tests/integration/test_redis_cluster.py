"""City Eye on a Redis Cluster of three masters (REDIS_CLUSTER, redis-py's cluster client): a real feed worker, roll-up,
alert engine and dispatcher, and the web app, on a cluster started on loopback ports. A reading published on MQTT
lands, is rolled up onto the board and raises an alert; the wall's tick, the read API and the alert list serve them;
and the test reports how the keyspace spread over the three masters."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
import redis
from flask.testing import FlaskClient

from alerts import store
from alerts.engine import ENGINE_PREFIX
from alerts.model import RuleKind
from dispatch.dispatcher import EVENTS_JOB
from feeds.board import Board, read_board
from feeds.contract import encode_readings, topic
from layouts import wall
from services.embedded import EmbeddedService, start_redis_cluster
from signs.keys import (
    KEY_LATEST,
    alert_engine_key,
    dispatcher_key,
    history_day,
    history_key,
    key_family,
    lease_key,
)
from signs.model import Level, MqttSource
from signs.store import read_history, read_latest
from tests.alerting import red_sign, red_value
from tests.processes import ChildProcess, FeedProcess, Publisher, feed_env, wait_for, wait_worker_ready
from tests.web import ORIGIN, create_accounts, production_app, run_callback, signed_in

pytestmark = pytest.mark.integration
MASTERS = 3
PASSWORD = "cluster-password"
EVENT_TYPE = "0101401"  # 施工扰民: raised from the alert by the officer, dispatched by the dispatcher


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[EmbeddedService]]:
    nodes = start_redis_cluster(tmp_path_factory.mktemp("cluster"), MASTERS, password=PASSWORD)
    yield nodes
    for node in nodes:
        node.stop()


@pytest.fixture(scope="module")
def cluster_client(cluster: list[EmbeddedService]) -> Iterator[redis.Redis]:
    client = redis.RedisCluster.from_url(cluster[0].url)
    yield cast(redis.Redis, client)
    client.close()


def test_the_pipeline_alerts_and_the_wall_run_on_a_three_master_cluster(
    cluster: list[EmbeddedService], cluster_client: redis.Redis, mqtt_service: EmbeddedService, tmp_path: Path
) -> None:
    prefix = f"t-cluster-{time.monotonic_ns()}"
    env = feed_env(cluster[0].url, mqtt_service.url, REDIS_CLUSTER="true", MQTT_CLIENT_PREFIX=prefix,
                   MQTT_SHARED_GROUP="")  # fmt: skip
    processes = [
        FeedProcess(["worker", "--name", "1"], env, "cluster-worker"),
        FeedProcess(["rollup"], env, "cluster-rollup"),
        ChildProcess([sys.executable, "-m", "alerts", "run", "--name", "c"], env, "cluster-alerts"),
        ChildProcess([sys.executable, "-m", "dispatch", "run", "--name", "c"], env, "cluster-dispatch"),
    ]
    publisher = Publisher(mqtt_service.url)
    try:
        wait_worker_ready(cluster_client, mqtt_service.url, f"{prefix}-1", timeout=60)
        wait_for(lambda: cluster_client.get(alert_engine_key(f"{ENGINE_PREFIX}-c")), 60, "the alert engine")
        wait_for(lambda: cluster_client.get(dispatcher_key("cityeye-dispatch-c")), 60, "the dispatcher")
        sign = red_sign()
        source, red = sign.source, red_value(sign)
        assert isinstance(source, MqttSource)
        measured = time.time() - 1
        publisher.publish_all([(topic(source.feed, source.adcode, source.source_id),
                                encode_readings(measured, {source.field: red}))])  # fmt: skip

        latest = wait_for(lambda: read_latest(cluster_client, sign.id), 30, "the reading in the cluster")
        assert (latest.value, latest.source_ts) == (red, pytest.approx(measured))
        assert list(read_history(cluster_client, sign.id, measured - 1, measured + 1)["value"]) == [red]
        board = wait_for(lambda: _board_with(cluster_client, sign.id, measured), 30, "the board with the reading")
        assert tuple(board.signs[sign.id][:2]) == (red, int(Level.RED))
        [alert] = wait_for(lambda: [a for a in store.list_active(cluster_client) if a.sign_id == sign.id], 30,
                           "the alert in the cluster")  # fmt: skip
        assert (alert.level, alert.value, alert.rule) == (Level.RED, red, RuleKind.THRESHOLD)
        assert cluster_client.get(lease_key(EVENTS_JOB)), "the dispatcher holds its tick's lease on the cluster"

        create_accounts(cluster_client)
        with production_app(cluster[0].url, mqtt_service.url, tmp_path, REDIS_CLUSTER="true") as server:
            officer = signed_in(server.test_client(), "duty1")
            served = officer.get(f"/api/v1/signs/{sign.id}").get_json()
            assert (served["value"], served["level"]) == (red, "red")
            listed = officer.get("/api/v1/alerts").get_json()
            assert alert.id in [a["id"] for a in listed["alerts"]]
            tick = json.loads(run_callback(officer, f"{wall.CHANGES}.data", {f"{wall.SEQ}.data": 0}))
            changes = tick["response"][wall.CHANGES]["data"]
            assert "error" not in changes and changes["signs"][sign.id][:2] == [red, int(Level.RED)]
            assert officer.get("/readyz").status_code == 200
            export = officer.get(f"/export/sign/{sign.id}.csv?range=1h")
            assert export.status_code == 200 and str(red) in export.get_data(as_text=True)

            raised = officer.post("/api/v1/events/from-alert", json={"type": EVENT_TYPE, "alert": alert.id},
                                  headers=ORIGIN)  # fmt: skip
            assert raised.status_code == 200, raised.get_data(as_text=True)
            event_id = raised.get_json()["id"]
            wait_for(lambda: _event_status(officer, event_id) == "dispatched", 30, "the dispatcher dispatching it")
            acked = officer.post(f"/api/v1/alerts/{alert.id}/acknowledge", json={"note": "crew sent"}, headers=ORIGIN)
            assert acked.status_code == 200 and acked.get_json()["status"] == "acknowledged"

        spread = _keyspace_spread(cluster)
        print(f"\nRedis Cluster keyspace over {MASTERS} masters (keys, and the families with most keys on each):")
        for node, (keys, families) in spread.items():
            print(f"  {node}: {keys} keys; " + ", ".join(f"{f} {n}" for f, n in families.most_common(5)))
        assert all(keys > 0 for keys, _ in spread.values()), "every master holds part of the keyspace"
        held = [set(f) for _, f in spread.values()]
        assert sum(key_family(KEY_LATEST) in f for f in held) == 1, "the latest values are one key on one master"
        assert sum(key_family(history_key(sign.id, history_day(measured))) in f for f in held) == MASTERS
        for process in processes:
            assert process.process is not None and process.process.poll() is None, f"{process.argv} died"
    finally:
        publisher.close()
        for process in processes:
            process.stop()


def _board_with(client: redis.Redis, sign_id: str, measured: float) -> Board | None:
    board = read_board(client)
    return board if board and sign_id in board.signs and board.signs[sign_id][2] >= measured - 0.001 else None


def _event_status(client: FlaskClient, event_id: str) -> str:
    return str(client.get(f"/api/v1/events/{event_id}").get_json()["event"]["status"])


def _keyspace_spread(cluster: list[EmbeddedService]) -> dict[str, tuple[int, Counter[str]]]:
    """Per master: its number of keys, and its keys counted by family (the key up to its hash tag's entity)."""
    spread = {}
    for node in cluster:
        client = redis.Redis.from_url(node.url)
        families = Counter(key_family(raw.decode()) for raw in client.scan_iter(count=1000))
        spread[node.url.rsplit("@", 1)[-1]] = (int(client.dbsize()), families)
        client.close()
    return spread
