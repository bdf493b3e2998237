"""`python -m auth`: manage who may use City Eye. The first admin is created here; there is no default password.

    python -m auth create-user NAME --role admin|officer|leader|handler [--district ADCODE] [--department D02]
        [--display-name TEXT]
        (a handler needs --department, the event library's id of their department; --district makes them that
        department's county unit; the password is read from the terminal, or from stdin with --password-stdin);
        on an existing user it replaces the record, password included, and ends every session of theirs
    python -m auth set-password NAME [--password-stdin]   a new password; every session of the user ends
    python -m auth delete-user NAME
    python -m auth list [--json]
    python -m auth wall-token WALL_NAME      prints a new token for one wall display (shown once)
    python -m auth revoke-wall WALL_NAME     every wall showing with its tokens stops at its next poll
    python -m auth open311-key CLIENT_NAME   prints a new Open311 api_key for one reporting app (shown once)
    python -m auth log [--count N]          recent sign-ins and access changes
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time

from auth.model import Role
from auth.passwords import WeakPassword
from auth.store import (
    AccessError,
    create_open311_key,
    create_wall_token,
    delete_user,
    list_users,
    read_auth_log,
    revoke_wall_tokens,
    save_user,
    set_password,
)
from signs.store import open_redis

OPERATOR = "cli"


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise AccessError("the passwords differ")
    return first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m auth", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-user")
    create.add_argument("username")
    create.add_argument("--role", required=True, choices=[r.value for r in Role if r is not Role.WALL])
    create.add_argument("--district", default="")
    create.add_argument("--department", default="")
    create.add_argument("--display-name", default="")
    create.add_argument("--password-stdin", action="store_true")
    new_password = commands.add_parser("set-password")
    new_password.add_argument("username")
    new_password.add_argument("--password-stdin", action="store_true")
    commands.add_parser("delete-user").add_argument("username")
    commands.add_parser("list").add_argument("--json", action="store_true")
    commands.add_parser("wall-token").add_argument("wall_name")
    commands.add_parser("revoke-wall").add_argument("wall_name")
    commands.add_parser("open311-key").add_argument("client_name")
    commands.add_parser("log").add_argument("--count", type=int, default=50)
    args = parser.parse_args(argv)
    client = open_redis()
    try:
        if args.command == "create-user":
            user = save_user(
                client, args.username, Role(args.role), _password(args.password_stdin),
                display_name=args.display_name, district=args.district, department=args.department, by=OPERATOR,
            )
            print(f"saved {user.username} ({user.role.value})")
        elif args.command == "set-password":
            user = set_password(client, args.username, _password(args.password_stdin), by=OPERATOR)
            print(f"new password for {user.username}; their sessions are ended")
        elif args.command == "delete-user":
            print("deleted" if delete_user(client, args.username, by=OPERATOR) else f"no user {args.username!r}")
        elif args.command == "list":
            users = [u.public() for u in list_users(client)]
            rows = (f"{u['username']}\t{u['role']}\t{u['district'] or 'city'}\t{u['department']}" for u in users)
            print(json.dumps(users, ensure_ascii=False, indent=2) if args.json else "\n".join(rows))
        elif args.command == "wall-token":
            print(create_wall_token(client, args.wall_name, by=OPERATOR))
        elif args.command == "open311-key":
            print(create_open311_key(client, args.client_name, by=OPERATOR))
        elif args.command == "revoke-wall":
            print(f"revoked {revoke_wall_tokens(client, args.wall_name, by=OPERATOR)} token(s)")
        elif args.command == "log":
            for row in reversed(read_auth_log(client, args.count)):
                at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(row["at"])))
                print(f"{at}\t{row['event']}\t{row['username']}\t{row['detail']}\t{row['remote']}")
    except (AccessError, WeakPassword) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
