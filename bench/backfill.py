"""The first start's week of history: how long the simulator's backfill takes to write every sign's 7 days into a
real Redis, against the naive way (value_at for one point at a time in a Python loop), measured on a sample and
extrapolated to the same number of points.

Run by hand:  .venv/bin/python bench/backfill.py [--days 7] [--no-cameras] [--naive-points 20000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis  # noqa: E402

from feeds.simulator.backfill import backfill, backfill_window  # noqa: E402
from feeds.simulator.cameras import load_fleet  # noqa: E402
from feeds.simulator.clock import SimClock  # noqa: E402
from feeds.simulator.scenarios import NO_SCENARIO  # noqa: E402
from feeds.simulator.values import prepare, value_at  # noqa: E402
from services.embedded import start_redis  # noqa: E402
from signs.catalogue import catalogue  # noqa: E402
from signs.model import MqttSource  # noqa: E402
from signs.write import SignWriter  # noqa: E402

TARGET_S = 60.0


def naive_seconds_per_point(points: int, start: float, end: float) -> float:
    """value_at for random (sign, time) pairs of the window, one at a time: the per-point cost of the old way."""
    cat = catalogue()
    prepare(cat)
    sourced = [s for s in cat.signs.values() if isinstance(s.source, MqttSource)]
    rng = random.Random(7)
    pairs = [(rng.choice(sourced), rng.uniform(start, end)) for _ in range(points)]
    began = time.perf_counter()
    for sign, t in pairs:
        value_at(sign, t)
    return (time.perf_counter() - began) / points


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--no-cameras", action="store_true", help="leave the camera signs out")
    parser.add_argument("--naive-points", type=int, default=20_000)
    args = parser.parse_args()
    now = time.time()
    clock = SimClock(real_start=now, sim_start=now)
    window = backfill_window(clock, args.days * 86_400, stamp_simulated=False)
    with tempfile.TemporaryDirectory() as tmp:
        service = start_redis(Path(tmp) / "redis", appendfsync="no")
        try:
            client = redis.Redis.from_url(service.url)
            writer = SignWriter(retention_days=8, readings_keep_s=7_200)
            cat = catalogue()
            fleet = None if args.no_cameras else load_fleet()
            outcome = backfill(client, cat, window, writer, state=NO_SCENARIO, fleet=fleet)
            memory = int(client.info("memory")["used_memory"])
            again = backfill(client, cat, window, writer, state=NO_SCENARIO, fleet=fleet)
            client.close()
        finally:
            service.stop()
    per_point = naive_seconds_per_point(args.naive_points, window.start, window.end)
    naive = per_point * outcome.points
    print(f"backfill of {args.days:g} days, {outcome.signs} signs{'' if fleet else ' (no camera signs)'}")
    print(f"  points written     {outcome.points:,}")
    print(f"  seconds            {outcome.seconds:.1f}  (target < {TARGET_S:.0f} s)")
    print(f"  points/s           {outcome.points / outcome.seconds:,.0f}")
    print(f"  Redis memory       {memory / 1e6:.0f} MB ({memory / outcome.points:.1f} B/point)")
    print(f"  second run         skipped={again.skipped} in {again.seconds * 1000:.1f} ms")
    print(f"  naive value_at     {per_point * 1e6:.1f} us/point over {args.naive_points:,} points: "
          f"{naive:.0f} s for the same points, {naive / outcome.seconds:.0f}x slower")  # fmt: skip
    return 0 if outcome.seconds < TARGET_S and again.skipped else 1


if __name__ == "__main__":
    sys.exit(main())
