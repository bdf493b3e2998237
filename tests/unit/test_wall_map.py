"""The wall map's list of signs: exactly the core indicators the catalogue maps per district (its `map` column), each
with a row for every district that the browser colours the districts by."""

from __future__ import annotations

import csv
from typing import Any

import pytest
from dash import dcc

from geo.admin import DISTRICTS
from layouts import wall
from signs.catalogue import CATALOGUE_DIR, catalogue


def _context() -> wall.WallContext:
    box = (111.0, 31.0, 113.0, 33.0)
    return wall.WallContext(
        catalogue=catalogue(),
        district_bounds=dict.fromkeys(DISTRICTS, box),
        city_bounds=box,
        canvas=(1920, 1080),
        poll_ms=1000,
        dwell_s={"overview": 30.0, "category": 20.0, "district": 15.0, "cameras": 20.0, "alert": 60.0},
        tile_url="",
        tile_attribution="",
    )


def _mapped_in_the_csv() -> list[str]:
    with (CATALOGUE_DIR / "signs.csv").open(encoding="utf-8", newline="") as handle:
        return [row["id"] for row in csv.DictReader(handle) if row["map"] == "district"]


def _map_list(lang: str) -> list[dict[str, Any]]:
    (dropdown,) = [c for c in wall.layout(_context(), lang)._traverse() if getattr(c, "id", None) == wall.MAP_SIGN]
    assert isinstance(dropdown, dcc.Dropdown)
    return list(dropdown.to_plotly_json()["props"]["options"])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_map_lists_exactly_the_indicators_mapped_per_district(lang: str) -> None:
    cat = catalogue()
    options = _map_list(lang)
    assert [o["value"] for o in options] == _mapped_in_the_csv()
    assert [o["label"] for o in options] == [cat.signs[o["value"]].name_in(lang) for o in options]
    assert wall.browser_context(_context(), lang, kiosk=False)["mapSigns"] == [o["value"] for o in options]


def test_each_listed_indicator_colours_every_district_by_its_own_rows() -> None:
    cat = catalogue()
    for option in _map_list("zh"):
        # assets/wall.js reads the district values at <id>.dist:<adcode>
        rows = [cat.signs.get(f"{option['value']}.dist:{adcode}") for adcode in DISTRICTS]
        assert all(r is not None and r.district and r.unit == cat.signs[option["value"]].unit for r in rows), option


def test_citywide_indicators_stay_off_the_map_and_every_view_picks_a_listed_one() -> None:
    cat = catalogue()
    listed = {o["value"] for o in _map_list("zh")}
    assert not listed & {s.id for s in cat.core_signs if s.citywide_zh}
    assert set(wall.MAP_SIGN_FOR_VIEW.values()) <= listed
    assert "XY.S.M13.S45" in listed  # 降水量(3h最大), by the districts' 3-hour rainfall
