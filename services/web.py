"""How City Eye's web tier is started, shared by `make run`, the browser tests and the benchmarks."""

from __future__ import annotations

import sys

from config import Settings


def gunicorn_command(cfg: Settings, port: int | None = None) -> list[str]:
    """gunicorn serving app:server. Threaded workers, because one wall downloading the 5 MB camera layer
    must not hold a whole worker while others poll; --preload builds the app once before forking."""
    return [
        sys.executable, "-m", "gunicorn", "app:server",
        "--workers", str(cfg.web_workers),
        "--worker-class", "gthread",
        "--threads", str(cfg.web_threads),
        "--preload",
        "--bind", f"{cfg.web_host}:{port or cfg.web_port}",
        "--access-logfile", "-" if cfg.web_access_log else "/dev/null",
    ]
