"""Run amqtt's asyncio MQTT 3.1.1 broker on one loopback port: the fallback when no mosquitto is installed.

amqtt has no `$share/` shared subscriptions and keeps offline-session queues in memory only (its SessionDBPlugin
needs the `contrib` extra and stores subscriptions and retained messages, not queued QoS 1 messages), so this broker
is for a fresh machine's `make run` and tests of that path, not for production: a broker restart loses queued messages.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from dataclasses import dataclass
from typing import Any

from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session

_LOG = logging.getLogger(__name__)


class OpenAuthPlugin(BaseAuthPlugin):
    """Accept every client, like mosquitto's allow_anonymous, without marking its session anonymous.

    amqtt's AnonymousAuthPlugin flags every session is_anonymous, and amqtt then drops QoS 1 messages for offline
    persistent sessions instead of queueing them (MQTT 3.1.2.4 requires queueing): a worker that reconnects would
    silently miss what was published while it was away.
    """

    @dataclass
    class Config:
        """No options."""

    async def authenticate(self, *, session: Session) -> bool:
        return True


def broker_config(host: str, port: int) -> dict[str, Any]:
    """One TCP listener on loopback, open access, no packet logging (it costs throughput) and no $SYS topics."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {"services.amqtt_broker.OpenAuthPlugin": {}},  # by import path, also when run as __main__
    }


async def _serve(host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    broker = Broker(broker_config(host, port))
    await broker.start()
    _LOG.info("amqtt broker listening on %s:%d", host, port)
    await stop.wait()
    await broker.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.amqtt_broker", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _LOG.setLevel(logging.INFO)
    asyncio.run(_serve(args.host, args.port))


if __name__ == "__main__":
    main()
