"""What a user may read: one definition, used by every endpoint and callback that serves a district's detail.

Whoever may read sees every sign's value, city-wide: the wall shows them publicly, and comparing districts is a
district leader's job. A district's detail is another matter: its district page and district exports, its
alerts with their history, the silences on it, and its entries in the duty log. A leader with a district reads
that detail of their own district only; a leader without a district, officers, admins and walls read the whole
city's. An alert on a city-wide sign belongs to the city (adcode 420600), not to a district: a district leader
sees it on the wall, not in their alert lists. docs/drilldown.md and docs/alerts.md ("What a leader may read")
say the same to users.

Events of the hub (dispatch/) have a scope of their own, `EventScope`: a department handler sees the events of
their department's units (lead, co-dispatched or supervising; with a district, its county unit and the township
units in it) and may act as handler only where one of those units leads; a leader with a district sees the
events located in it; officers, admins, walls and a leader of the whole city see every event (docs/dispatch.md).

Refusals are `OutOfScope` (a NotAllowed: the API answers 403, a page says so); lists are filtered instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.model import Alert, Silence, SilenceScope, Transition
from alerts.rules import district_of
from auth.model import Permission, Role, User
from auth.web import NotAllowed, current_user
from dispatch.model import Event, Unit
from signs.catalogue import catalogue


class OutOfScope(NotAllowed):
    """Detail of a district the user may not read."""


@dataclass(frozen=True, slots=True)
class Scope:
    """The districts whose detail a user may read: one (`district`), or the whole city when it is empty."""

    district: str = ""

    @property
    def whole_city(self) -> bool:
        return not self.district

    def covers(self, adcode: str) -> bool:
        """Whether detail of `adcode` (a district, or the city's code for what is city-wide) may be read."""
        return self.whole_city or adcode == self.district

    def require(self, adcode: str) -> None:
        if not self.covers(adcode):
            raise OutOfScope(f"district {adcode} is outside district {self.district}, the only one you may read")

    def covers_alert(self, alert: Alert) -> bool:
        return self.covers(alert.district)

    def covers_silence(self, silence: Silence) -> bool:
        if silence.scope is SilenceScope.DISTRICT:
            return self.covers(silence.target)
        return self.covers(_sign_district(silence.target))

    def covers_transition(self, transition: Transition) -> bool:
        """An audit entry: an alert's (its district) or a silence's (its district, or its sign's)."""
        return self.covers(transition.district or _sign_district(transition.sign_id))


WHOLE_CITY = Scope()


def _sign_district(sign_id: str) -> str:
    """The district alerts on this sign belong to; "" (only the whole city's scope covers it) when unknown."""
    sign = catalogue().signs.get(sign_id)
    return district_of(sign) if sign is not None else ""


def scope_of(user: User | None) -> Scope:
    """A leader with a district: that district. Everyone else who reads (and anonymous readers where reading
    is open): the whole city. A leader's district that is no district of the city covers nothing but itself,
    so a mistyped account sees no district's detail rather than every district's."""
    if user is not None and user.role is Role.LEADER and user.district:
        return Scope(user.district)
    return WHOLE_CITY


def current_scope() -> Scope:
    """The signed-in user's scope (auth.web's request guard has resolved who that is)."""
    return scope_of(current_user())


@dataclass(frozen=True, slots=True)
class EventScope:
    """The events a user may see: a department's (`department`, in `district` when set), a district's
    (`district` alone: a leader's), or every event when both are empty."""

    department: str = ""
    district: str = ""

    @property
    def whole_city(self) -> bool:
        return not self.department and not self.district

    def covers_unit(self, unit: Unit | None) -> bool:
        """A unit of the user's department, in their district when they have one (a township unit is in its
        county). Only a department's scope covers units."""
        if unit is None or not self.department or unit.department != self.department:
            return False
        return not self.district or unit.county == self.district

    def sees(self, event: Event) -> bool:
        if self.whole_city:
            return True
        if not self.department:
            return event.location.district == self.district
        return any(self.covers_unit(u) for u in (event.unit, *event.co_units, event.supervisor))

    def leads(self, event: Event) -> bool:
        """The user's unit is the event's lead: a handler's actions are theirs to take."""
        return self.whole_city or self.covers_unit(event.unit)

    def require_sight(self, event: Event) -> None:
        if not self.sees(event):
            raise OutOfScope(f"event {event.id} is not one of your unit's")

    def require_lead(self, event: Event) -> None:
        """For a handler's action: the user's unit leads the event (a co-dispatched unit is told, and helps)."""
        self.require_sight(event)
        if not self.leads(event):
            raise OutOfScope(f"event {event.id} is led by {event.unit}; a co-dispatched unit cannot act on it")


def event_scope_of(user: User | None) -> EventScope:
    """A handler: their department (in their district, if any). A leader with a district: the events in it.
    Everyone else: every event."""
    if user is not None and user.role is Role.HANDLER:
        return EventScope(user.department, user.district)
    if user is not None and user.role is Role.LEADER and user.district:
        return EventScope(district=user.district)
    return EventScope()


def may_handle(user: User | None, event: Event) -> bool:
    """Whether the user may sign for, note, finish or return this event: a handler whose unit leads it, or a
    centre officer (who may act for any unit)."""
    return user is not None and user.may(Permission.HANDLE) and event_scope_of(user).leads(event)


def current_event_scope() -> EventScope:
    return event_scope_of(current_user())
