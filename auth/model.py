"""Roles and what each may do. The server checks these on every request; screens only hide what is not allowed."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    WALL = "wall"  # a wall display: reads, by token, never acts
    LEADER = "leader"  # district leaders: read, their district first
    OFFICER = "officer"  # duty officers: acknowledge, resolve, silence; dispatch, close and rate events
    HANDLER = "handler"  # a department's handler (处置部门): their department's events only (auth.scope.EventScope)
    ADMIN = "admin"  # manages users; may also act as an officer


class Permission(StrEnum):
    READ = "read"
    ACT = "act"  # the centre's actions: alerts, silences, and on events dispatch, close, escalate, rate
    HANDLE = "handle"  # a handler's actions on an event: sign for, progress, handle, return
    MANAGE_USERS = "manage_users"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.WALL: frozenset({Permission.READ}),
    Role.LEADER: frozenset({Permission.READ}),
    Role.OFFICER: frozenset({Permission.READ, Permission.ACT, Permission.HANDLE}),
    Role.HANDLER: frozenset({Permission.READ, Permission.HANDLE}),
    Role.ADMIN: frozenset({Permission.READ, Permission.ACT, Permission.HANDLE, Permission.MANAGE_USERS}),
}


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: Role
    display_name: str
    district: str = ""  # adcode a leader (or a handler's county unit) is scoped to; empty for the whole city
    password_hash: str = ""
    department: str = ""  # a handler's department in the event library (D02...); empty for every other role

    def may(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def public(self) -> dict[str, Any]:
        """What screens may show about a user: never the hash."""
        return {
            "username": self.username,
            "role": self.role.value,
            "display_name": self.display_name,
            "district": self.district,
            "department": self.department,
        }

    @classmethod
    def wall(cls, name: str) -> User:
        """A wall display, known by the name its token was made for."""
        return cls(username=f"wall:{name}", role=Role.WALL, display_name=name)

    @classmethod
    def from_record(cls, raw: str | bytes) -> User:
        """A user as stored in KEY_USERS."""
        return cls.from_json(json.loads(raw))

    @classmethod
    def wall_from_record(cls, raw: str | bytes) -> User:
        """The wall a KEY_WALL_TOKENS record was made for."""
        return cls.wall(json.loads(raw)["name"])

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> User:
        return cls(
            username=doc["username"],
            role=Role(doc["role"]),
            display_name=doc.get("display_name", doc["username"]),
            district=doc.get("district", ""),
            password_hash=doc.get("password_hash", ""),
            department=doc.get("department", ""),
        )
