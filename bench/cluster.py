"""Redis Cluster benchmark: the whole system (`python -m services run`: feed workers, roll-up, alert engine, event hub,
the simulated city with its 7-day history backfill, gunicorn) on a three-master cluster, and how its keyspace, memory
and commands spread over the masters.

Run by hand:  .venv/bin/python bench/cluster.py [--masters 3] [--seconds 60] [--no-baseline]

Starts the masters on loopback ports (services.embedded.start_redis_cluster, with a password), then the system with
REDIS_CLUSTER=true and REDIS_URL the first master (its own embedded broker); once GET /healthz answers 200 it lets the
city run for --seconds and reports, per master: its slots, keys, memory (MEMORY USAGE of every key, summed by key
family) and the commands it served in the window. Keys that share a hash tag share a slot and so a master: the
families that are one slot by design ({latest}, {board}, {alerts}, {events}...) show where the load concentrates.

Then, as the baseline, the same system on one embedded Redis for as long: its start-up and the commands it served,
and the cluster's ratios to them.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis  # noqa: E402
import requests  # noqa: E402

from bench.system import running_system  # noqa: E402
from services.embedded import EmbeddedService, start_redis_cluster  # noqa: E402
from signs.keys import key_family  # noqa: E402

START_TIMEOUT_S = 300.0


def node_figures(client: redis.Redis) -> tuple[Counter[str], Counter[str], int]:
    """Keys and bytes by family, and the commands served so far."""
    keys: Counter[str] = Counter()
    memory: Counter[str] = Counter()
    names = [raw.decode() for raw in client.scan_iter(count=1000)]
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.memory_usage(name)
        sizes = pipe.execute()
    for name, size in zip(names, sizes, strict=True):
        keys[key_family(name)] += 1
        memory[key_family(name)] += int(size or 0)
    return keys, memory, int(client.info("stats")["total_commands_processed"])


def slots_by_port(client: redis.Redis) -> Counter[int]:
    """How many slots each master serves, by its port (CLUSTER SLOTS: start, end, then the master first)."""
    slots: Counter[int] = Counter()
    for start, end, master, *_replicas in client.execute_command("CLUSTER SLOTS"):
        slots[int(master[1])] += int(end) - int(start) + 1
    return slots


def commands_served(client: redis.Redis) -> int:
    return int(client.info("stats")["total_commands_processed"])


def report(nodes: list[EmbeddedService], seconds: float) -> float:
    """Print the spread over the masters after `seconds` of the live city; the commands per second they served."""
    clients = [redis.Redis.from_url(node.url) for node in nodes]
    before = [commands_served(client) for client in clients]
    print(f"Letting the city run for {seconds:.0f} s...", flush=True)
    time.sleep(seconds)
    figures = [node_figures(client) for client in clients]
    slots = slots_by_port(clients[0])
    total_keys = sum(sum(keys.values()) for keys, _, _ in figures)
    total_bytes = sum(sum(memory.values()) for _, memory, _ in figures)
    total_commands = sum(after - b for (_, _, after), b in zip(figures, before, strict=True))
    print(f"\nKeyspace over {len(nodes)} masters: {total_keys:,} keys, {total_bytes / 2**20:,.1f} MiB in keys, "
          f"{total_commands / seconds:,.0f} commands/s in the window")  # fmt: skip
    for node, client, (keys, memory, after), b in zip(nodes, clients, figures, before, strict=True):
        n_keys, n_bytes, commands = sum(keys.values()), sum(memory.values()), after - b
        port = int(client.connection_pool.connection_kwargs["port"])
        print(f"\n  {node.url.rsplit('@', 1)[-1].removesuffix('/0')}: {slots[port]:,} slots; "
              f"{n_keys:,} keys ({n_keys / total_keys:.0%}), {n_bytes / 2**20:,.1f} MiB ({n_bytes / total_bytes:.0%}), "
              f"{commands / seconds:,.0f} commands/s ({commands / total_commands:.0%})")  # fmt: skip
        for name, size in memory.most_common(6):
            print(f"      {name:<34} {keys[name]:>7,} keys {size / 2**20:>9,.2f} MiB")
    for client in clients:
        client.close()
    return total_commands / seconds


def one_redis(seconds: float) -> tuple[float, float]:
    """The baseline: the same system on its own single embedded Redis, as `make run` starts it. (Seconds until
    /healthz answered 200, commands per second Redis served over `seconds` of the live city.)"""
    started = time.monotonic()
    with running_system("cluster-baseline", START_TIMEOUT_S) as system:
        ready_s = time.monotonic() - started
        client = redis.Redis.from_url(system.redis_url)
        before = commands_served(client)
        time.sleep(seconds)
        rate = (commands_served(client) - before) / seconds
        client.close()
    return ready_s, rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--masters", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--no-baseline", action="store_true", help="skip the same run on one Redis")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cityeye-cluster-bench-") as tmp:
        started = time.monotonic()
        nodes = start_redis_cluster(Path(tmp), args.masters, password=secrets.token_urlsafe(16))
        print(f"{args.masters} masters formed a cluster in {time.monotonic() - started:.1f} s", flush=True)
        try:
            services = {"REDIS_URL": nodes[0].url, "REDIS_CLUSTER": "true"}
            started = time.monotonic()
            with running_system("cluster", START_TIMEOUT_S, services) as system:
                ready_s = time.monotonic() - started
                print(f"the system answered /healthz 200 on the cluster after {ready_s:.0f} s "
                      "(with the 7-day history backfill)", flush=True)  # fmt: skip
                rate = report(nodes, args.seconds)
                health = requests.get(system.url + "/healthz", timeout=10)
                print(f"\nGET /healthz after the window: {health.status_code}")
        finally:
            for node in nodes:
                node.stop()
    if not args.no_baseline:
        print("\nThe baseline: the same system on one Redis...", flush=True)
        one_ready_s, one_rate = one_redis(args.seconds)
        print(f"  one Redis: /healthz 200 after {one_ready_s:.0f} s, {one_rate:,.0f} commands/s in the window")
        print(f"  cluster / one Redis: start-up {ready_s / one_ready_s:.2f}x, commands served {rate / one_rate:.2f}x "
              "(a cluster client splits each pipeline per master)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
