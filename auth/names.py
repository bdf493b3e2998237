"""What a user name may be: the one rule for the sign-in accounts, the command lines and every alert record.

A name is shown on every wall and in the duty log as who acted, so it is plain lower-case ASCII (letters,
digits, '.', '_', '-'): no markup, no spaces, no control or look-alike characters, nothing to escape anywhere.
"""

from __future__ import annotations

from typing import TypeGuard

USERNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")
USERNAME_MAX_LEN = 64
USERNAME_RULE = f"a user name is 1 to {USERNAME_MAX_LEN} lower-case letters, digits, '.', '_' or '-'"


class InvalidUsername(ValueError):
    """A user name outside USERNAME_RULE."""


def is_username(name: object) -> TypeGuard[str]:
    return isinstance(name, str) and 0 < len(name) <= USERNAME_MAX_LEN and not set(name) - USERNAME_CHARS


def check_username(name: object) -> str:
    """`name` when it follows USERNAME_RULE; InvalidUsername (a ValueError) saying what it got otherwise."""
    if not is_username(name):
        raise InvalidUsername(f"{USERNAME_RULE}, not {name!r}")
    return name
