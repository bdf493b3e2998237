"""What a user may read (auth.scope): one rule, tested on the records it decides about."""

from __future__ import annotations

import pytest

from alerts.model import Event, Silence, SilenceScope, Transition
from auth.model import Role, User
from auth.scope import WHOLE_CITY, OutOfScope, Scope, scope_of
from auth.web import NotAllowed
from geo.admin import CITY_ADCODE, DISTRICTS

NANZHANG, XIANGCHENG = "420624", "420602"
NANZHANG_SIGN = "XY.P.M01.P01.dist:420624"


def _user(role: Role, district: str = "") -> User:
    return User("someone", role, "Someone", district)


def test_only_a_leader_with_a_district_is_confined_to_it() -> None:
    assert scope_of(_user(Role.LEADER, NANZHANG)) == Scope(NANZHANG)
    for user in (_user(Role.LEADER), _user(Role.OFFICER), _user(Role.ADMIN), _user(Role.WALL), None):
        assert scope_of(user) == WHOLE_CITY and WHOLE_CITY.whole_city
    # An officer's account carrying a district (the county centres' future) still reads the city today.
    assert scope_of(_user(Role.OFFICER, NANZHANG)) == WHOLE_CITY


def test_a_district_scope_covers_its_district_only() -> None:
    own = Scope(NANZHANG)
    assert own.covers(NANZHANG)
    assert not any(own.covers(a) for a in [*DISTRICTS, CITY_ADCODE, ""] if a != NANZHANG)
    assert all(WHOLE_CITY.covers(a) for a in [*DISTRICTS, CITY_ADCODE])
    own.require(NANZHANG)
    with pytest.raises(OutOfScope, match=XIANGCHENG) as refused:
        own.require(XIANGCHENG)
    assert isinstance(refused.value, NotAllowed)  # answered like any refusal: 403


def test_a_mistyped_leaders_district_covers_no_real_district() -> None:
    assert not any(scope_of(_user(Role.LEADER, "999999")).covers(a) for a in DISTRICTS)


def test_silences_and_audit_entries_belong_to_their_district_or_their_signs() -> None:
    own = Scope(NANZHANG)

    def silence(scope: SilenceScope, target: str) -> Silence:
        return Silence("s1", scope, target, 2e9, "maintenance", "duty1", 1e9)

    assert own.covers_silence(silence(SilenceScope.DISTRICT, NANZHANG))
    assert not own.covers_silence(silence(SilenceScope.DISTRICT, XIANGCHENG))
    assert own.covers_silence(silence(SilenceScope.SIGN, NANZHANG_SIGN))
    assert not own.covers_silence(silence(SilenceScope.SIGN, "XY.P.M01.P01.dist:420602"))
    assert not own.covers_silence(silence(SilenceScope.SIGN, "XY.NO.SUCH.SIGN"))
    assert WHOLE_CITY.covers_silence(silence(SilenceScope.SIGN, "XY.NO.SUCH.SIGN"))

    alert_entry = Transition(Event.ACKNOWLEDGED, 1e9, "duty1", alert_id="a1", district=NANZHANG)
    sign_silence_entry = Transition(Event.SILENCE_ADDED, 1e9, "duty1", sign_id=NANZHANG_SIGN, silence_id="s1")
    other_entry = Transition(Event.RAISED, 1e9, "engine", alert_id="a2", district=XIANGCHENG)
    city_entry = Transition(Event.RAISED, 1e9, "engine", alert_id="a3", district=CITY_ADCODE)
    assert own.covers_transition(alert_entry) and own.covers_transition(sign_silence_entry)
    assert not own.covers_transition(other_entry) and not own.covers_transition(city_entry)
    assert all(WHOLE_CITY.covers_transition(t) for t in (alert_entry, sign_silence_entry, other_entry, city_entry))
