"""What a user may read: one definition, used by every endpoint and callback that serves a district's detail.

Whoever may read sees every sign's value, city-wide: the wall shows them publicly, and comparing districts is a
district leader's job. A district's detail is another matter: its district page and district exports, its
alerts with their history, the silences on it, and its entries in the duty log. A leader with a district reads
that detail of their own district only; a leader without a district, officers, admins and walls read the whole
city's. An alert on a city-wide sign belongs to the city (adcode 420600), not to a district: a district leader
sees it on the wall, not in their alert lists. docs/drilldown.md and docs/alerts.md ("What a leader may read")
say the same to users.

Refusals are `OutOfScope` (a NotAllowed: the API answers 403, a page says so); lists are filtered instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.model import Alert, Silence, SilenceScope, Transition
from alerts.rules import district_of
from auth.model import Role, User
from auth.web import NotAllowed, current_user
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
