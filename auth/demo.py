"""Development accounts for `make run`, so a duty officer can sign in on a fresh machine.

Only in ENVIRONMENT=development: each run directory gets its own random passwords (kept in
.run/demo-accounts.json, readable by its owner only); production has no account until an admin creates one
with `python -m auth create-user`.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import redis

from auth.model import Role
from auth.store import create_wall_token, get_user, save_user

# username, role, district, department (handlers'), display name
DEMO_ACCOUNTS = (
    ("admin", Role.ADMIN, "", "", "系统管理员"),
    ("duty", Role.OFFICER, "", "", "值班员"),
    ("leader", Role.LEADER, "420624", "", "南漳县领导"),
    ("zhujian", Role.HANDLER, "", "D02", "市住建局处置员"),  # the housing bureau of the fallen-branch story
    ("chengguan", Role.HANDLER, "", "D01", "市城管执法委处置员"),
)
DEMO_WALL = "demo-wall"


def ensure_demo_accounts(client: redis.Redis, run_dir: Path) -> dict[str, str]:
    """username -> password for each demo account, plus "wall-token"; created on first use of run_dir."""
    path = run_dir / "demo-accounts.json"
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    for username, role, district, department, display_name in DEMO_ACCOUNTS:
        if username not in known or get_user(client, username) is None:
            known[username] = secrets.token_urlsafe(9)
            save_user(
                client, username, role, known[username],
                display_name=display_name, district=district, department=department, by="make-run",
            )  # fmt: skip
    if "wall-token" not in known:
        known["wall-token"] = create_wall_token(client, DEMO_WALL, by="make-run")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(known, out)
    return known
