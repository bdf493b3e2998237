"""`python -m feeds simulate`: the command line that starts the simulated city on the configured broker."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
import time
from typing import Any

from config import internal_signing_key, settings
from feeds.simulator.backfill import backfill_redis, parse_duration
from feeds.simulator.cameras import load_fleet
from feeds.simulator.clock import SimClock, start_time
from feeds.simulator.publisher import Simulator, StoryAnnouncer
from feeds.simulator.scenarios import OUTAGE_DISTRICT, OUTAGE_REAL_S, SCENARIOS, STORIES, ScenarioState

log = logging.getLogger(__name__)


def _description() -> str:
    """The first line of the package's own description."""
    import feeds.simulator  # the package this module is part of, complete by the time a command line is parsed

    return (feeds.simulator.__doc__ or "").splitlines()[0]


def _parse_args(argv: list[str]) -> argparse.Namespace:
    config = settings()
    parser = argparse.ArgumentParser(prog="python -m feeds simulate", description=_description())
    parser.add_argument("--scenario", choices=SCENARIOS, default=config.sim_scenario or None)
    parser.add_argument("--speed", type=float, default=config.sim_speed, help="simulated seconds per real second")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many real seconds")
    parser.add_argument("--no-cameras", action="store_true", help="publish sign readings only")
    parser.add_argument("--no-events", action="store_true", help="publish no reports to the event hub")
    parser.add_argument("--camera-heartbeat", type=float, default=config.sim_camera_heartbeat_s, metavar="S")
    parser.add_argument("--seed", type=int, default=420600)
    parser.add_argument("--district", default=OUTAGE_DISTRICT, help="district whose cameras go silent (camera-outage)")
    parser.add_argument("--outage-s", type=float, default=OUTAGE_REAL_S, help="camera-outage length, real seconds")
    parser.add_argument(
        "--start",
        default=None,
        help="simulated start, local ISO time (e.g. 2025-05-24T14:00); default: now, or the scenario's own date "
        "(rainstorm 24 May 10:00, holiday-congestion 1 May 07:00, in the latest year they are past)",
    )
    parser.add_argument(
        "--stamp",
        choices=("real", "simulated"),
        default="real",
        help="readings' timestamps: the wall clock (default), or simulated time to replay a past day faithfully "
        "(the alert engine judges hour-of-week bounds by source time); camera heartbeats always carry the wall clock",
    )
    parser.add_argument(
        "--backfill",
        type=_duration,
        default=None,
        metavar="7d",
        help="first write this long of every sign's history before the start into Redis from the value model "
        "(skipped when a backfill was done before; docs/redis.md)",
    )
    args = parser.parse_args(argv)
    if args.speed <= 0 or args.camera_heartbeat <= 0:
        parser.error("--speed and --camera-heartbeat must be positive")
    if args.stamp == "simulated" and not args.start:
        parser.error("--stamp simulated needs a --start in the past")
    return args



def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def main(argv: list[str]) -> int:
    """python -m feeds simulate [--scenario ...] [--speed N] [--duration S] [--no-cameras] ..."""
    from feeds.mqtt import broker_address, new_client
    from signs.catalogue import catalogue
    from signs.store import open_redis

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parse_args(argv)
    config = settings()
    # The simulator publishes as a field system would: its own broker account (SIM_MQTT_URL) when it has one.
    broker_url = config.sim_mqtt_url or config.mqtt_url or "mqtt://127.0.0.1:1883"
    host, port = broker_address(broker_url)
    signs = catalogue()
    fleet = None if args.no_cameras else load_fleet(args.seed)

    now = time.time()
    story = STORIES.get(args.scenario or "")
    default_start = story.default_start(now) if story is not None else now
    clock = SimClock(real_start=now, sim_start=start_time(args.start, default_start), speed=args.speed)
    state = ScenarioState(args.scenario, clock.sim_start, args.district, args.speed, args.outage_s)
    if args.backfill:
        backfill_redis(
            signs, clock, args.backfill, state=state, fleet=fleet, stamp_simulated=args.stamp == "simulated"
        )
    client = new_client(f"cityeye-simulator-{os.getpid()}", broker_url)
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(100_000)
    connected = threading.Event()
    simulator_stopping = threading.Event()

    def on_connect(_c: Any, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        log.info("connected to mqtt://%s:%d", host, port)
        connected.set()

    def on_disconnect(_c: Any, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        connected.clear()
        if simulator_stopping.is_set():
            return
        log.warning("disconnected from the broker (%s); paho reconnects", reason_code)

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    # Its clock goes to Redis for the judges of hour-of-week bounds (signs.storyclock); without Redis, MQTT only.
    announcer = StoryAnnouncer(client, internal_signing_key(config), open_redis() if config.redis_url else None)
    client.connect_async(host, port, keepalive=config.mqtt_keepalive_s)
    client.loop_start()
    simulator = Simulator(
        client, signs, clock, state, fleet, args.camera_heartbeat, args.seed, stamp_simulated=args.stamp == "simulated",
        announcer=announcer,
    )
    if not args.no_events:
        from feeds.simulator.events import EventPublisher

        simulator.events = EventPublisher(state, clock.sim_start, args.seed)
    previous = {sig: signal.signal(sig, lambda *_: simulator.stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if not connected.wait(10.0):
            log.warning("no broker at mqtt://%s:%d yet; publishing anyway while paho retries", host, port)
        log.info(
            "simulating %d groups (%d signs)%s at speed %g%s",
            len(simulator.groups),
            sum(len(g.fields) for g in simulator.groups),
            f" and {len(fleet)} cameras every {args.camera_heartbeat:g} s" if fleet is not None else "",
            args.speed,
            f", scenario {args.scenario}" if args.scenario else "",
        )
        # The clocks meet once everything is loaded, so that the simulated start is the first moment published.
        clock.real_start = time.time()
        log.info("clock origin: real %r = simulated %r, speed %r", clock.real_start, clock.sim_start, clock.speed)
        simulator.run(args.duration)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        counters = simulator.counters
        log.info(
            "stopping: %d readings, %d camera heartbeats published, %d silenced, %d dropped",
            counters.readings,
            counters.cameras,
            counters.silenced,
            counters.dropped,
        )
        simulator_stopping.set()
        client.disconnect()
        client.loop_stop()
    return 0
