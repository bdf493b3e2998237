"""Automatic dispatch: where a report is (district, township) and who handles it (unit and level), by event type and
place. Pure functions over the library; the district of a point is geo's point-in-polygon."""

from __future__ import annotations

from dataclasses import dataclass

from dispatch.library import CENTRE, EventType, Level, Library, Reach
from dispatch.model import Location, Unit
from geo.admin import DISTRICTS

# The central urban districts, where city departments handle city-level events themselves; in the six counties and
# county-level cities their county counterparts do (events-reference.md §2.5 [P]).
CENTRAL_DISTRICTS = frozenset({"420602", "420606", "420607"})
# The township centre: the unit of the township level.
TOWNSHIP_CENTRE = "D17"


@dataclass(frozen=True, slots=True)
class Assignment:
    level: Level
    unit: Unit
    co_units: tuple[Unit, ...]


def locate(library: Library, location: Location, district_of_point: str) -> Location:
    """The report's location with its district and township settled.

    `district_of_point` is geo.districts.district_of for the report's point ("" without one, or outside the city).
    The point decides the district; a township from the report is kept when it lies in that district (a township
    contradicting the point is dropped: the point is measured, the township typed). Without a point the township,
    else the district the report named, decides. There are no township boundaries yet, so a township cannot be found
    from a point alone."""
    township = library.townships.get(location.township)
    district = district_of_point or (township.county if township else "")
    if not district and location.district in DISTRICTS:
        district = location.district
    if township is not None and township.county != district:
        township = None
    return Location(location.lat, location.lon, location.address, district, township.code if township else "")


def unit_at(department: str, level: Level, location: Location, library: Library) -> Unit:
    """The unit of a department that handles at a level in a place: the most specific scope the department reaches
    and the place is known to."""
    reaches = library.departments[department].reaches
    if level is Level.COMMAND or reaches is Reach.CITY or not location.district:
        return Unit(department)
    if level is Level.CITY:
        return Unit(department) if location.district in CENTRAL_DISTRICTS else Unit(department, location.district)
    if level is Level.TOWNSHIP and location.township:
        return Unit(department, location.township)
    return Unit(department, location.district)


def match(event_type: EventType, location: Location, library: Library) -> Assignment:
    """The type's departments at its level in the located place: the lead first, the others co-dispatched."""
    lead, *others = event_type.departments
    level = event_type.level
    return Assignment(
        level=level,
        unit=unit_at(lead, level, location, library),
        co_units=tuple(unit_at(d, level, location, library) for d in others),
    )


def superior(unit: Unit) -> Unit | None:
    """Who an escalation goes to: the same department one scope up (township -> county -> city); the county's
    operations centre above a township centre, the city's above a city department; None above the city centre."""
    if unit.department == TOWNSHIP_CENTRE and unit.scope:
        return Unit(CENTRE, unit.county)
    if len(unit.scope) == 9:
        return Unit(unit.department, unit.county)
    if unit.scope:
        return Unit(unit.department)
    return None if unit.department == CENTRE else Unit(CENTRE)
