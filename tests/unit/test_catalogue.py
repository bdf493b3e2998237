"""The sign catalogue: the shipped CSVs satisfy the design, the loader rejects broken ones by file:line,
and the pure level and derivation rules behave at their edges."""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from feeds import contract
from signs import model
from signs.__main__ import main, value_json
from signs.catalogue import (
    CATALOGUE_DIR,
    KNOT_COLUMNS,
    OPTIONAL_SIGN_COLUMNS,
    PROFILE_COLUMNS,
    SIGN_COLUMNS,
    CatalogueError,
    catalogue,
    derivation_order,
    load_catalogue,
)
from signs.citytime import CITY_TZ
from signs.keys import Latest
from signs.model import (
    BoundsKind,
    Derivation,
    DeriveOp,
    Direction,
    Level,
    MqttSource,
    core_sign_id,
    derive_value,
    expected_value,
    level_of,
    thresholds_at,
)

DISTRICTS = {"420602", "420606", "420607", "420624", "420625", "420626", "420682", "420683", "420684"}
CORE_MODULES = {  # catalogue-reference §5.5 "Checks"
    "M01": range(1, 5), "M02": range(5, 10), "M03": range(10, 13), "M04": range(13, 17), "M05": range(17, 20),
    "M06": range(20, 23), "M07": range(23, 26), "M08": range(26, 29), "M09": range(29, 34), "M10": range(34, 38),
    "M11": range(38, 41), "M12": range(41, 44), "M13": range(44, 49), "M14": range(49, 53), "M15": range(53, 56),
}  # fmt: skip
ID = re.compile(r"^XY\.([PTDS])\.(M\d\d)\.([PTDS]\d\d)(?:\.([a-z0-9]+):([A-Za-z0-9_-]+))?$")


@pytest.fixture(scope="module")
def cat():
    return catalogue()


# The shipped catalogue --------------------------------------------------------------------------


def test_summary_counts(cat):
    summary = cat.summary()
    assert summary["categories"] == 4
    assert summary["modules"] == 15
    assert summary["core"] == 55
    assert summary["signs"] >= 1300


def test_core_codes_and_modules_follow_the_reference(cat):
    def letter(n: int) -> str:
        return "P" if n <= 12 else "T" if n <= 28 else "D" if n <= 43 else "S"

    expected = {f"{letter(n)}{n:02d}": module for module, numbers in CORE_MODULES.items() for n in numbers}
    assert {s.core: s.module for s in cat.core_signs} == expected
    assert {c.code for c in cat.categories.values()} == {"P", "T", "D", "S"}
    assert [m.code for m in cat.modules.values()] == [f"M{i:02d}" for i in range(1, 16)]


def test_ids_match_their_columns(cat):
    for sign in cat.signs.values():
        match = ID.match(sign.id)
        assert match, sign.id
        category, module, core, dim_type, dim_value = match.groups()
        assert (category, module, core) == (sign.category, sign.module, sign.core), sign.id
        if dim_type is None:
            assert sign.dimension == "city" and sign.is_core, sign.id
        else:
            assert sign.dimension == f"{dim_type}:{dim_value}", sign.id


def test_district_dimensions_are_the_nine_real_units(cat):
    districts = {s.district for s in cat.signs.values() if s.district}
    assert districts == DISTRICTS


def test_every_unit_is_declared(cat):
    assert {s.unit for s in cat.signs.values()} <= cat.units


def test_every_core_has_children_or_a_source(cat):
    for core in cat.core_signs:
        children = [s for s in cat.signs.values() if s.core == core.core and not s.is_core]
        assert children or isinstance(core.source, MqttSource), core.id


def test_derived_cores_are_consistent_with_their_children(cat):
    """A city figure computed from signs reads only signs of its own indicator (or their weights)."""
    for core in cat.core_signs:
        source = core.source
        if isinstance(source, Derivation) and source.inputs:
            assert all(cat.signs[i].core == core.core for i in source.inputs), core.id


def test_thresholds_are_monotonic(cat):
    for sign in cat.signs.values():
        bounds = [b for b in sign.thresholds if b is not None]
        ordered = sorted(bounds) if sign.direction is Direction.HIGH_IS_BAD else sorted(bounds, reverse=True)
        assert bounds == ordered, sign.id


def test_every_core_has_at_least_one_threshold(cat):
    for core in cat.core_signs:
        assert any(b is not None for b in core.thresholds), core.id


def test_mqtt_sources_use_known_feeds_and_adcodes(cat):
    for sign in cat.signs.values():
        if isinstance(sign.source, MqttSource):
            assert sign.source.feed in contract.FEEDS and sign.source.feed != contract.FEED_VIDEO, sign.id
            assert sign.source.adcode in DISTRICTS | {"420600"}, sign.id
            if sign.district:
                assert sign.source.adcode == sign.district, sign.id


def test_routes_cover_every_sourced_sign_once(cat):
    routed = [sign_id for fields in cat.routes.values() for sign_id in fields.values()]
    sourced = [s.id for s in cat.signs.values() if isinstance(s.source, MqttSource)]
    assert sorted(routed) == sorted(sourced)


def test_wmean_pairs_values_and_weights_by_dimension(cat):
    for sign in cat.derived_signs():
        if sign.source.op is DeriveOp.WEIGHTED_MEAN:
            dims = [cat.signs[i].dimension for i in sign.source.inputs]
            assert dims == [cat.signs[w].dimension for w in sign.source.weights], sign.id


def test_camera_signs_and_warning_signals(cat):
    t23 = cat.signs[core_sign_id("T", "M07", "T23")].source
    assert (t23.op, t23.camera_kind, t23.adcode) == (DeriveOp.CAMERA_ONLINE_RATE, "fixed", "420600")
    t24 = cat.signs[core_sign_id("T", "M07", "T24")].source
    assert (t24.op, t24.camera_kind, t24.adcode) == (DeriveOp.CAMERA_ONLINE_COUNT, "mobile", "420600")
    signals = [s for s in cat.signs.values() if s.dimension.startswith("sig:")]
    assert len(signals) == 14
    assert all((s.source.feed, s.source.adcode, s.source.source_id) == ("weather", "420600", "CMA") for s in signals)
    assert set(cat.signs[core_sign_id("S", "M13", "S48")].source.inputs) >= {s.id for s in signals}


CJK = re.compile(r"[\u2e80-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")


def test_every_text_has_an_english_form_without_chinese(cat):
    for sign in cat.signs.values():
        english = (sign.name_en, sign.short_en, sign.definition_en, sign.owner_en, sign.unit_en)
        assert all(english[i] for i in (0, 2, 3, 4)), sign.id
        assert not any(CJK.search(text) for text in english), (sign.id, english)
    for named in (*cat.categories.values(), *cat.modules.values()):
        assert named.name_en and not CJK.search(named.name_en), named


def test_chinese_units_translate_through_units_csv(cat):
    units = {s.unit: s.unit_en for s in cat.signs.values()}
    assert units["万人"] == "10k people" and units["件"] == "cases" and units["mm"] == "mm"
    assert all(not CJK.search(english) for english in units.values())


def test_derivations_are_acyclic_and_cadences_positive(cat):
    order = derivation_order(cat.signs)
    assert len(order) == len(cat.derived_signs())
    assert all(s.cadence_s > 0 for s in cat.signs.values())


def _map_column() -> dict[str, str]:
    """The map column of every core row, as signs.csv writes it."""
    with (CATALOGUE_DIR / "signs.csv").open(encoding="utf-8", newline="") as handle:
        return {row["id"]: row["map"] for row in csv.DictReader(handle) if row["dimension"] == "city"}


def test_every_core_is_mapped_in_all_nine_districts_or_citywide_with_a_reason(cat):
    column = _map_column()
    mapped, citywide = [], []
    for core in cat.core_signs:
        rows = [s for s in cat.signs.values() if s.id.startswith(f"{core.id}.dist:")]
        if column[core.id] == "district":
            mapped.append(core.id)
            assert {s.district for s in rows} == DISTRICTS and len(rows) == 9, core.id
            assert core.on_map and not core.citywide_zh
        else:
            citywide.append(core.id)
            reason = re.fullmatch(r"citywide: (.+) / (.+)", column[core.id])
            assert reason, (core.id, column[core.id])
            assert (core.citywide_zh, core.citywide_en) == reason.groups()
            assert re.search(r"[\u4e00-\u9fff]", core.citywide_zh), core.id
            assert not rows and not core.on_map, core.id
    assert len(mapped) + len(citywide) == 55
    assert [s.id for s in cat.map_signs] == mapped
    # The map shows every indicator whose meaning is per district; what stays off it is one system or facility.
    assert len(mapped) == 35, citywide


def test_district_rows_share_their_cores_unit_cadence_and_kind(cat):
    """A count that the city adds up has district bounds scaled to the district's share; a rate, level or extreme is
    judged per district by the city's own bounds."""
    for core in cat.map_signs:
        source = core.source
        additive = isinstance(source, Derivation) and source.op in (DeriveOp.SUM, DeriveOp.CAMERA_ONLINE_COUNT)
        for adcode in sorted(DISTRICTS):
            row = cat.signs[f"{core.id}.dist:{adcode}"]
            assert (row.unit, row.direction, row.cadence_s, row.bounds) == (
                core.unit, core.direction, core.cadence_s, core.bounds), row.id  # fmt: skip
            if additive:
                pairs = zip(row.thresholds, core.thresholds, strict=True)
                assert all(b is None or abs(b) <= abs(c) for b, c in pairs), row.id
                assert "[P]" in row.definition and "[P]" in row.definition_en or row.thresholds == core.thresholds
            else:
                assert row.thresholds == core.thresholds, row.id


def test_the_rainfall_map_paints_three_hour_rainfall(cat):
    """降水量(3h最大) is the districts' highest 3-hour rainfall: each district row is that district's 3-hour areal
    rainfall, and the city value is their maximum; the 1-hour maxima per district are rain1h rows."""
    city = cat.signs["XY.S.M13.S45"]
    assert city.source.op is DeriveOp.MAX and set(city.source.inputs) == {f"XY.S.M13.S45.dist:{a}" for a in DISTRICTS}
    for adcode in DISTRICTS:
        row = cat.signs[f"XY.S.M13.S45.dist:{adcode}"]
        assert row.source.inputs == (f"XY.S.M13.S45.rain3h:{adcode}",), row.id
        assert "3-hour" in row.name_en and "3小时" in row.definition
        hourly = cat.signs[f"XY.S.M13.S45.rain1h:{adcode}"]
        assert {cat.signs[i].source.field for i in hourly.source.inputs} == {"precipitation_1h"}


def test_the_city_value_derives_from_the_district_rows_where_they_add_up(cat):
    """A city sum is the sum of the districts; a city maximum or minimum over places (stations, points, hotspots) is
    that of the districts. (The city AQI is the maximum of the city's pollutant sub-indices, which are no places.)"""
    for core in cat.map_signs:
        source = core.source
        if not isinstance(source, Derivation) or source.op not in (DeriveOp.SUM, DeriveOp.MAX, DeriveOp.MIN):
            continue
        places = [i for i in source.inputs if cat.signs[i].district or getattr(cat.signs[i].source, "adcode", "")
                  in DISTRICTS]  # fmt: skip
        if source.op is DeriveOp.SUM or places:
            assert {f"{core.id}.dist:{a}" for a in DISTRICTS} <= set(source.inputs), core.id


# The loader on broken catalogues -----------------------------------------------------------------

CORE_ROW = {
    "id": "XY.P.M01.P01", "name_zh": "实时人口", "name_en": "Real-time population", "unit": "万人", "category": "P",
    "module": "M01", "core": "P01", "dimension": "city", "cadence_s": "300", "direction": "high", "blue": "1",
    "yellow": "2", "orange": "3", "red": "4", "definition": "d", "owner": "o", "source": "sum(XY.P.M01.P01.dist:*)",
}  # fmt: skip


def child(adcode: str = "420602", **changes: str) -> dict[str, str]:
    row = dict(CORE_ROW, id=f"XY.P.M01.P01.dist:{adcode}", dimension=f"dist:{adcode}",
               source=f"mqtt:population/{adcode}/DIST#population")  # fmt: skip
    row.update(changes)
    return row


def write_catalogue(tmp_path: Path, rows: list[dict[str, str]], profiles: list[dict[str, str]] | None = None) -> Path:
    for name in ("categories.csv", "modules.csv", "units.csv"):
        shutil.copy(CATALOGUE_DIR / name, tmp_path / name)
    columns = (*SIGN_COLUMNS, *(c for c in OPTIONAL_SIGN_COLUMNS if any(c in row for row in rows)))
    with (tmp_path / "signs.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n", restval="")
        writer.writeheader()
        writer.writerows(rows)
    if profiles is not None:
        with (tmp_path / "profiles.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=PROFILE_COLUMNS, lineterminator="\n", restval="")
            writer.writeheader()
            writer.writerows(profiles)
    return tmp_path


def test_a_minimal_catalogue_loads(tmp_path):
    loaded = load_catalogue(write_catalogue(tmp_path, [CORE_ROW, child("420602"), child("420606")]))
    assert loaded.summary() == {"categories": 4, "modules": 15, "core": 1, "signs": 3}
    assert loaded.signs["XY.P.M01.P01"].source.inputs == ("XY.P.M01.P01.dist:420602", "XY.P.M01.P01.dist:420606")
    assert loaded.routes[("population", "420606", "DIST")] == {"population": "XY.P.M01.P01.dist:420606"}


@pytest.mark.parametrize(
    ("rows", "where", "words"),
    [
        pytest.param([CORE_ROW, child(), child()], "signs.csv:4", "duplicate id", id="duplicate-id"),
        pytest.param([CORE_ROW, child(core="P02")], "signs.csv:3", "parent core indicator 'P02'", id="unknown-parent"),
        pytest.param([CORE_ROW, child(blue="5", yellow="4")], "signs.csv:3", "must rise", id="non-monotonic-high"),
        pytest.param([CORE_ROW, child(direction="low")], "signs.csv:3", "must fall", id="non-monotonic-low"),
        pytest.param([CORE_ROW, child(unit="furlongs")], "signs.csv:3", "unit 'furlongs'", id="unknown-unit"),
        pytest.param(
            [CORE_ROW, child(source="mqtt:population/4206/DIST#population")],
            "signs.csv:3",
            "is not mqtt:",
            id="bad-mqtt-source",
        ),
        pytest.param(
            [CORE_ROW, child(), child("420606", source="mqtt:populaton/420606/DIST#population")],
            "signs.csv:4",
            "unknown feed 'populaton'",
            id="unknown-feed",
        ),
        pytest.param(
            [CORE_ROW, child(source="mqtt:video/420602/DIST#online")],
            "signs.csv:3",
            "camera status",
            id="video-feed-as-reading",
        ),
        pytest.param([CORE_ROW, child(source="median(XY.P.*)")], "signs.csv:3", "unknown derivation", id="unknown-op"),
        pytest.param(
            [CORE_ROW, child(source="camera_online_rate(parked, 420602)")],
            "signs.csv:3",
            "fixed|mobile|all",
            id="bad-camera-kind",
        ),
        pytest.param(
            [dict(CORE_ROW, source="sum(XY.P.M01.P01.stn:*)"), child()],
            "signs.csv:2",
            "matches no sign",
            id="pattern-matches-nothing",
        ),
        pytest.param(
            [dict(CORE_ROW, source="wmean(XY.P.M01.P01.dist:*)"), child()],
            "signs.csv:2",
            "VALUES by WEIGHTS",
            id="wmean-without-weights",
        ),
        pytest.param(
            [CORE_ROW, child(), child("420606", source="mqtt:population/420602/DIST#population")],
            "signs.csv:4",
            "already feeds",
            id="shared-field",
        ),
        pytest.param([CORE_ROW, child(cadence_s="0")], "signs.csv:3", "cadence_s", id="zero-cadence"),
        pytest.param([CORE_ROW, child(orange="lots")], "signs.csv:3", "not a number", id="threshold-text"),
        pytest.param([CORE_ROW, child(module="M02")], "signs.csv:3", "parent core", id="module-of-other-core"),
        pytest.param([CORE_ROW, child(module="M04")], "signs.csv:3", "not in category", id="module-of-other-category"),
        pytest.param([CORE_ROW, child(owner="")], "signs.csv:3", "required", id="missing-owner"),
        pytest.param(
            [CORE_ROW, child(name_en="Real-time population – 襄城区")], "signs.csv:3", "Chinese", id="chinese-name-en"
        ),
        pytest.param([CORE_ROW, child(short_en="Pop. 襄城")], "signs.csv:3", "Chinese", id="chinese-short-en"),
        pytest.param(
            [dict(CORE_ROW, definition_en="Population of the city"), child(definition_en="")],
            "signs.csv:3",
            "definition_en is required",
            id="missing-definition-en",
        ),
        pytest.param(
            [dict(CORE_ROW, definition_en="Population（全市）")], "signs.csv:2", "Chinese", id="chinese-definition-en"
        ),
    ],
)
def test_loader_names_file_and_line(tmp_path, rows, where, words):
    with pytest.raises(CatalogueError) as error:
        load_catalogue(write_catalogue(tmp_path, rows))
    assert f"{where}:" in str(error.value)
    assert words in str(error.value)


def mapped_rows(**changes: str) -> list[dict[str, str]]:
    """A core mapped per district with a row for each of the nine districts; `changes` go to Xiangcheng's row."""
    rows = [dict(CORE_ROW, map="district")]
    rows += [child(adcode, **(changes if adcode == "420602" else {})) for adcode in sorted(DISTRICTS)]
    return rows


def test_a_mapped_core_and_a_citywide_core_load(tmp_path):
    citywide = dict(CORE_ROW, id="XY.P.M01.P02", core="P02", source="mqtt:population/420600/CITY#inflow",
                    map="citywide: 全市一个口径 / one count for the whole city")  # fmt: skip
    loaded = load_catalogue(write_catalogue(tmp_path, [*mapped_rows(blue="0.5"), citywide]))
    assert [s.id for s in loaded.map_signs] == ["XY.P.M01.P01"]
    assert loaded.signs["XY.P.M01.P02"].citywide_reason_in("en") == "one count for the whole city"
    assert loaded.signs["XY.P.M01.P02"].citywide_reason_in("zh") == "全市一个口径"


@pytest.mark.parametrize(
    ("rows", "where", "words"),
    [
        pytest.param(mapped_rows()[:-1], "signs.csv:2", "no row XY.P.M01.P01.dist:420684", id="a-district-missing"),
        pytest.param(mapped_rows(unit="人"), "signs.csv:2", "unit 人 differs", id="other-unit"),
        pytest.param(mapped_rows(cadence_s="60"), "signs.csv:2", "cadence_s 60.0 differs", id="other-cadence"),
        pytest.param(
            mapped_rows(blue="5", yellow="6", orange="7", red="8"),
            "signs.csv:2",
            "none above",
            id="count-bounds-above-the-city",
        ),
        pytest.param(mapped_rows(blue=""), "signs.csv:2", "other levels", id="other-levels"),
        pytest.param(
            [dict(CORE_ROW, map="district", source="max(XY.P.M01.P01.dist:*)"), *mapped_rows(blue="0.5")[1:]],
            "signs.csv:2",
            "must be XY.P.M01.P01's",
            id="extreme-bounds-not-the-citys",
        ),
        pytest.param([dict(CORE_ROW, map="citywide: 全市 / "), child()], "signs.csv:2", "neither", id="no-en-reason"),
        pytest.param([dict(CORE_ROW, map="citywide"), child()], "signs.csv:2", "neither", id="no-reason"),
        pytest.param([dict(CORE_ROW, map="somewhere"), child()], "signs.csv:2", "neither", id="unknown-map"),
        pytest.param(
            [dict(CORE_ROW, map="citywide: 全市 / 全市"), child()], "signs.csv:2", "Chinese", id="chinese-en-reason"
        ),
        pytest.param(
            [dict(CORE_ROW, map="citywide: 全市 / the city"), child()],
            "signs.csv:2",
            "has district rows",
            id="citywide-with-district-rows",
        ),
        pytest.param([dict(CORE_ROW, map=""), child()], "signs.csv:2", "neither", id="core-without-map"),
        pytest.param(
            [dict(CORE_ROW, map="district"), *mapped_rows()[1:-1], child("420684", map="district")],
            "signs.csv:11",
            "core indicators only",
            id="map-on-a-district-row",
        ),
    ],
)
def test_loader_checks_the_map_column(tmp_path, rows, where, words):
    with pytest.raises(CatalogueError) as error:
        load_catalogue(write_catalogue(tmp_path, rows))
    assert f"{where}:" in str(error.value)
    assert words in str(error.value)


def test_loader_refuses_a_chinese_unit_without_an_english_symbol(tmp_path):
    write_catalogue(tmp_path, [CORE_ROW, child()])
    (tmp_path / "units.csv").write_text("unit,symbol_en,description\n万人,,ten thousand people\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"units.csv:2: symbol_en .*Chinese"):
        load_catalogue(tmp_path)


def test_owners_csv_gives_every_owner_its_english_name(tmp_path):
    write_catalogue(tmp_path, [CORE_ROW, child(owner="市统计局")])
    (tmp_path / "owners.csv").write_text("owner,name_en\no,The owner\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match="signs.csv:3: owner '市统计局' is not in owners.csv"):
        load_catalogue(tmp_path)
    (tmp_path / "owners.csv").write_text("owner,name_en\no,The owner\n市统计局,Statistics Bureau\n", encoding="utf-8")
    loaded = load_catalogue(tmp_path)
    assert loaded.signs["XY.P.M01.P01.dist:420602"].owner_in("en") == "Statistics Bureau"
    assert loaded.signs["XY.P.M01.P01.dist:420602"].owner_in("zh") == "市统计局"


def test_loader_rejects_a_derivation_cycle(tmp_path):
    rows = [
        CORE_ROW,
        child("420602", source="max(XY.P.M01.P01.dist:420606)"),
        child("420606", source="max(XY.P.M01.P01.dist:420602)"),
    ]
    with pytest.raises(CatalogueError, match="derivation cycle") as error:
        load_catalogue(write_catalogue(tmp_path, rows))
    assert "XY.P.M01.P01.dist:420602" in str(error.value) and "XY.P.M01.P01.dist:420606" in str(error.value)


def test_derivation_cycle_names_file_and_line_of_a_sign_in_it(tmp_path):
    """The core (line 2) only reads the cycle; the message names a line of the cycle and only its signs."""
    rows = [
        CORE_ROW,
        child("420602"),  # line 3, outside the cycle
        child("420606", source="max(XY.P.M01.P01.dist:420607)"),  # line 4
        child("420607", source="min(XY.P.M01.P01.dist:420624)"),  # line 5
        child("420624", source="mean(XY.P.M01.P01.dist:420606)"),  # line 6
    ]
    with pytest.raises(CatalogueError) as error:
        load_catalogue(write_catalogue(tmp_path, rows))
    where, _, cycle = str(error.value).partition(": derivation cycle: ")
    assert where in {"signs.csv:4", "signs.csv:5", "signs.csv:6"}, str(error.value)
    ids = cycle.split(" -> ")
    assert ids[0] == ids[-1] and set(ids) == {f"XY.P.M01.P01.dist:{a}" for a in ("420606", "420607", "420624")}


def test_feed_names_have_one_definition_and_signs_does_not_import_feeds():
    assert contract.FEEDS is model.FEEDS and contract.FEED_VIDEO is model.FEED_VIDEO
    probe = "import sys, signs.catalogue; print(sorted(m for m in sys.modules if m.split('.')[0] == 'feeds'))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=CATALOGUE_DIR.parents[1], capture_output=True,
                            text=True, check=True)  # fmt: skip
    assert result.stdout.strip() == "[]"


def test_loader_rejects_self_reference(tmp_path):
    rows = [CORE_ROW, child(source="sum(XY.P.M01.P01.dist:*)")]
    with pytest.raises(CatalogueError, match=r"signs\.csv:3: .* derived from itself"):
        load_catalogue(write_catalogue(tmp_path, rows))


def test_loader_names_the_modules_file(tmp_path):
    write_catalogue(tmp_path, [CORE_ROW])
    (tmp_path / "modules.csv").write_text("code,category,name_zh,name_en\nM01,P,a,b\nM02,X,c,d\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"modules\.csv:3: unknown category 'X'"):
        load_catalogue(tmp_path)


# Rule kinds and hour-of-week profiles ----------------------------------------------------------------

# Tuesday 2025-11-25 in Xiangyang, hour by hour.
TUESDAY = datetime(2025, 11, 25, tzinfo=CITY_TZ).timestamp()


def day_row(days: str = "mon-sun", night: float = 0.5, day: float = 1.0, floor: str = "", **changes: str):
    """A profile day: `night` until 06:00, `day` from 08:00 to 20:00, straight lines between."""
    knots = [night] * 7 + [(night + day) / 2] + [day] * 13 + [(night + day) / 2] + [night] * 3
    row = {"profile": "fleet", "days": days, "floor": floor, "description": "d"}
    row.update({column: f"{f:g}" for column, f in zip(KNOT_COLUMNS, knots, strict=True)})
    row.update(changes)
    return row


def fleet_child(**changes: str) -> dict[str, str]:
    """A low-is-bad count whose bounds 80/70/60/50 hold at its expected level of 100."""
    fields = {"direction": "low", "blue": "80", "yellow": "70", "orange": "60", "red": "50",
              "bounds": "hour_of_week(fleet, 100)"}  # fmt: skip
    return child(**{**fields, **changes})


def event_child(**changes: str) -> dict[str, str]:
    fields = {"blue": "", "yellow": "", "orange": "", "red": "3", "bounds": "first_occurrence(orange)"}
    return child(**{**fields, **changes})


def test_hour_of_week_bounds_follow_the_profile(tmp_path):
    loaded = load_catalogue(write_catalogue(tmp_path, [CORE_ROW, fleet_child()], [day_row()]))
    sign = loaded.signs["XY.P.M01.P01.dist:420602"]
    assert sign.bounds is BoundsKind.HOUR_OF_WEEK and sign.profile is loaded.profiles["fleet"]
    night, seven, noon = TUESDAY + 3 * 3600, TUESDAY + 7 * 3600, TUESDAY + 12 * 3600
    assert expected_value(sign, night) == pytest.approx(50.0) and expected_value(sign, noon) == pytest.approx(100.0)
    assert expected_value(sign, seven) == pytest.approx(75.0)  # halfway along the line from 06:00 to 08:00
    assert thresholds_at(sign, night) == pytest.approx((40.0, 35.0, 30.0, 25.0))
    assert thresholds_at(sign, noon) == (80.0, 70.0, 60.0, 50.0)
    assert sign.thresholds == (80.0, 70.0, 60.0, 50.0)  # the catalogue's numbers, at the expected level
    absolute = loaded.signs["XY.P.M01.P01"]
    assert absolute.bounds is BoundsKind.ABSOLUTE and thresholds_at(absolute, night) == absolute.thresholds
    assert expected_value(absolute, night) is None


def test_profile_days_and_the_floor_of_a_count_since_midnight(tmp_path):
    def count(share_at_midnight: float, days: str) -> dict[str, str]:
        """A steady count since midnight: share h/24 of the day's total at hh:00."""
        knots = {c: f"{share_at_midnight * h / 24:.4f}" for h, c in enumerate(KNOT_COLUMNS)}
        return {**day_row(days, floor="0.25"), **knots}

    profiles = [count(1.0, "mon-fri"), count(0.5, "sat-sun")]
    rows = [CORE_ROW, child(blue="130", yellow="150", orange="200", red="300", bounds="hour_of_week(fleet, 100)")]
    sign = load_catalogue(write_catalogue(tmp_path, rows, profiles)).signs["XY.P.M01.P01.dist:420602"]
    just_after_midnight, evening = TUESDAY + 60, TUESDAY + 18 * 3600
    assert expected_value(sign, just_after_midnight) == pytest.approx(100 / 1440, rel=1e-3)
    assert thresholds_at(sign, just_after_midnight)[0] == pytest.approx(0.25 * 130)  # the floor, not ~0
    assert thresholds_at(sign, evening)[0] == pytest.approx(0.75 * 130)
    before, after = TUESDAY + 86_400 - 1, TUESDAY + 86_400 + 1  # the count restarts at midnight
    assert expected_value(sign, before) == pytest.approx(100, rel=1e-3) and expected_value(sign, after) < 0.01
    saturday_evening = TUESDAY + 4 * 86_400 + 18 * 3600
    assert expected_value(sign, saturday_evening) == pytest.approx(37.5)


def test_first_occurrence_puts_one_at_the_catalogue_level(tmp_path):
    sign = load_catalogue(write_catalogue(tmp_path, [CORE_ROW, event_child()])).signs["XY.P.M01.P01.dist:420602"]
    assert sign.bounds is BoundsKind.FIRST_OCCURRENCE
    assert sign.thresholds == (None, None, 1.0, 3.0)
    assert level_of(0, sign.thresholds, sign.direction) is Level.NORMAL
    assert level_of(1, sign.thresholds, sign.direction) is Level.ORANGE
    assert level_of(3, sign.thresholds, sign.direction) is Level.RED


@pytest.mark.parametrize(
    ("rows", "profiles", "where", "words"),
    [
        pytest.param([CORE_ROW, child(bounds="seasonal(fleet)")], None, "signs.csv:3", "unknown rule kind 'seasonal'",
                     id="unknown-kind"),
        pytest.param([CORE_ROW, child(bounds="hour_of_week")], None, "signs.csv:3", "is not absolute",
                     id="kind-without-arguments"),
        pytest.param([CORE_ROW, fleet_child()], None, "signs.csv:3", "profile 'fleet' is not in profiles.csv",
                     id="missing-profile"),
        pytest.param([CORE_ROW, fleet_child(bounds="hour_of_week(fleet)")], [day_row()], "signs.csv:3",
                     "takes (PROFILE, LEVEL)", id="missing-level"),
        pytest.param([CORE_ROW, fleet_child(bounds="hour_of_week(fleet, -5)")], [day_row()], "signs.csv:3",
                     "must be a positive number", id="negative-level"),
        pytest.param([CORE_ROW, fleet_child(bounds="hour_of_week(fleet, 50)")], [day_row()], "signs.csv:3",
                     "must lie below the expected level 50", id="bounds-above-a-low-is-bad-level"),
        pytest.param([CORE_ROW, child(bounds="hour_of_week(fleet, 5)")], [day_row()], "signs.csv:3",
                     "must lie above the expected level 5", id="bounds-below-a-high-is-bad-level"),
        pytest.param([CORE_ROW, fleet_child()], [day_row(floor="0.9")], "signs.csv:3", "floor lies above",
                     id="floor-above-a-low-is-bad-profile"),
        pytest.param([CORE_ROW, event_child(bounds="first_occurrence(crimson)")], None, "signs.csv:3",
                     "takes a level", id="first-occurrence-unknown-level"),
        pytest.param([CORE_ROW, event_child(blue="1")], None, "signs.csv:3", "leave blue empty",
                     id="first-occurrence-with-lower-bound"),
        pytest.param([CORE_ROW, event_child(red="1")], None, "signs.csv:3", "must be more than 1",
                     id="first-occurrence-red-at-one"),
        pytest.param([CORE_ROW, event_child(direction="low", red="")], None, "signs.csv:3", "direction must be high",
                     id="first-occurrence-low-is-bad"),
        pytest.param([CORE_ROW, fleet_child()], [day_row(h07="lots")], "profiles.csv:2", "h07 'lots' is not a number",
                     id="factor-text"),
        pytest.param([CORE_ROW, fleet_child()], [day_row(h07="-0.2")], "profiles.csv:2", "finite number, 0 or more",
                     id="factor-negative"),
        pytest.param([CORE_ROW, fleet_child()], [day_row(h07="inf")], "profiles.csv:2", "finite number",
                     id="factor-infinite"),
        pytest.param([CORE_ROW, fleet_child()], [day_row("mon-fri"), day_row("fri-sun")], "profiles.csv:3",
                     "gives fri twice", id="day-twice"),
        pytest.param([CORE_ROW, fleet_child()], [day_row("mon-fri")], "profiles.csv:2", "no factors for sat, sun",
                     id="days-missing"),
        pytest.param([CORE_ROW, fleet_child()], [day_row("weekdays")], "profiles.csv:2", "days 'weekdays'",
                     id="bad-days"),
        pytest.param([CORE_ROW, fleet_child()], [day_row("sun-mon")], "profiles.csv:2", "days 'sun-mon'",
                     id="backward-days"),
        pytest.param([CORE_ROW, fleet_child()], [day_row(floor="1.5")], "profiles.csv:2", "between 0 and 1",
                     id="floor-above-one"),
        pytest.param([CORE_ROW, fleet_child()], [day_row(night=0, day=0)], "profiles.csv:2", "zero all week",
                     id="profile-all-zero"),
        pytest.param([CORE_ROW, fleet_child()], [day_row(profile="Fleet!")], "profiles.csv:2", "profile name",
                     id="bad-profile-name"),
    ],
)  # fmt: skip
def test_loader_rejects_bad_rule_kinds_and_profiles(tmp_path, rows, profiles, where, words):
    with pytest.raises(CatalogueError) as error:
        load_catalogue(write_catalogue(tmp_path, rows, profiles))
    assert f"{where}:" in str(error.value)
    assert words in str(error.value)


def test_profiles_file_needs_its_columns(tmp_path):
    write_catalogue(tmp_path, [CORE_ROW, fleet_child()])
    (tmp_path / "profiles.csv").write_text("profile,days,h00\nfleet,mon-sun,1\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"profiles\.csv:1: columns must be profile,days,floor,h00"):
        load_catalogue(tmp_path)


def test_shipped_rule_kinds(cat):
    kinds = {s.id: s.bounds for s in cat.signs.values()}
    for item in ("1208", "1206", "1205", "0907", "0901"):  # 大面积停电, 山洪, 地质灾害, 森林火情, 火灾
        sign = cat.signs[f"XY.S.M15.S53.item:{item}"]
        assert sign.bounds is BoundsKind.FIRST_OCCURRENCE and level_of(1, sign.thresholds, sign.direction) > 0
    for sign_id in ("XY.D.M11.D38", "XY.P.M02.P05", "XY.D.M10.D35", "XY.T.M05.T17", "XY.T.M04.T13",
                    "XY.D.M09.D33.flow:X1"):  # fmt: skip
        assert kinds[sign_id] is BoundsKind.HOUR_OF_WEEK, sign_id
    assert kinds["XY.T.M07.T23"] is BoundsKind.ABSOLUTE


def test_an_hour_of_week_sum_expects_what_its_inputs_expect(cat):
    """A district or city sum of signs that follow one profile follows it too, at the sum of their levels."""
    for sign in cat.signs.values():
        source = sign.source
        if sign.profile is None or not isinstance(source, Derivation) or source.op is not DeriveOp.SUM:
            continue
        inputs = [cat.signs[i] for i in source.inputs]
        assert all(i.profile is sign.profile for i in inputs), sign.id
        assert sign.expected_level == pytest.approx(sum(i.expected_level for i in inputs), rel=2e-3), sign.id


# Levels and derivations --------------------------------------------------------------------------

HIGH = (10.0, 25.0, 50.0, 60.0)
LOW = (99.0, 98.0, 95.0, 90.0)


@pytest.mark.parametrize(
    ("value", "level"),
    [(0, Level.NORMAL), (9.99, Level.NORMAL), (10, Level.BLUE), (24.9, Level.BLUE), (25, Level.YELLOW),
     (50, Level.ORANGE), (60, Level.RED), (1e9, Level.RED)],
)  # fmt: skip
def test_level_high_is_bad(value, level):
    assert level_of(value, HIGH, Direction.HIGH_IS_BAD) is level


@pytest.mark.parametrize(
    ("value", "level"),
    [(100, Level.NORMAL), (99, Level.NORMAL), (98.99, Level.BLUE), (97.5, Level.YELLOW), (95, Level.YELLOW),
     (94.9, Level.ORANGE), (89.9, Level.RED), (-1, Level.RED)],
)  # fmt: skip
def test_level_low_is_bad(value, level):
    assert level_of(value, LOW, Direction.LOW_IS_BAD) is level


def test_level_skips_unused_levels():
    heat = (None, 35.0, 37.0, 40.0)  # CMA heat has no blue
    assert level_of(34.9, heat, Direction.HIGH_IS_BAD) is Level.NORMAL
    assert level_of(35.0, heat, Direction.HIGH_IS_BAD) is Level.YELLOW
    fog = (None, 500.0, 200.0, 50.0)
    assert level_of(600, fog, Direction.LOW_IS_BAD) is Level.NORMAL
    assert level_of(499, fog, Direction.LOW_IS_BAD) is Level.YELLOW
    assert level_of(10, fog, Direction.LOW_IS_BAD) is Level.RED
    only_orange = (None, None, 50.0, None)
    assert level_of(120, only_orange, Direction.HIGH_IS_BAD) is Level.ORANGE
    assert level_of(5, (None, None, None, None), Direction.HIGH_IS_BAD) is Level.NORMAL


def test_level_of_nan_is_normal():
    assert level_of(math.nan, HIGH, Direction.HIGH_IS_BAD) is Level.NORMAL


def test_level_of_shipped_signs(cat):
    rain_3h = cat.signs["XY.S.M13.S45.rain3h:420624"]
    assert level_of(49.9, rain_3h.thresholds, rain_3h.direction) is Level.NORMAL
    assert level_of(50, rain_3h.thresholds, rain_3h.direction) is Level.ORANGE
    assert level_of(100, rain_3h.thresholds, rain_3h.direction) is Level.RED
    pressure = cat.signs[core_sign_id("T", "M04", "T14")]
    assert level_of(0.139, pressure.thresholds, pressure.direction) is Level.ORANGE


@pytest.mark.parametrize(
    ("op", "values", "weights", "expected"),
    [
        (DeriveOp.SUM, [1.0, 2.0, 3.5], None, 6.5),
        (DeriveOp.MAX, [1.0, -2.0, 3.5], None, 3.5),
        (DeriveOp.MIN, [1.0, -2.0, 3.5], None, -2.0),
        (DeriveOp.MEAN, [1.0, 2.0, 3.0, 4.0], None, 2.5),
        (DeriveOp.WEIGHTED_MEAN, [90.0, 100.0], [1.0, 3.0], 97.5),
        (DeriveOp.WEIGHTED_MEAN, [90.0, 100.0], [0.0, 0.0], 95.0),  # no weight yet: plain mean
        (DeriveOp.SUM, [], None, None),
    ],
)
def test_derive_value(op, values, weights, expected):
    assert derive_value(op, values, weights) == expected


def test_derive_value_rejects_bad_input():
    with pytest.raises(ValueError, match="one weight per value"):
        derive_value(DeriveOp.WEIGHTED_MEAN, [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="camera registry"):
        derive_value(DeriveOp.CAMERA_ONLINE_RATE, [1.0])


# The command line (no Redis needed) --------------------------------------------------------------


def test_cli_summary_json(capsys, cat):
    assert main(["summary", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == cat.summary()


def test_cli_list_filters(capsys):
    assert main(["list", "--json", "--module", "M09", "--category", "D"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed and {s["module"] for s in listed} == {"M09"}
    tpi = next(s for s in listed if s["id"] == "XY.D.M09.D29")
    assert tpi["source"] == {"kind": "mqtt", "topic": "cityeye/v1/traffic/420600/TOCC", "field": "tpi"}
    assert tpi["thresholds"] == {"blue": 4.0, "yellow": 6.0, "orange": 8.0, "red": 9.0}


def test_cli_list_rejects_unknown_module(capsys):
    assert main(["list", "--module", "M99"]) == 2
    assert "M99" in capsys.readouterr().err


def test_cli_get_unknown_id(capsys):
    assert main(["get", "XY.NOPE", "--json"]) == 2
    assert "unknown sign id 'XY.NOPE'" in capsys.readouterr().err


def test_get_payload_times_level_and_staleness(cat):
    sign = cat.signs["XY.S.M13.S44.stn:AWS01"]  # cadence 60 s
    latest = Latest(value=37.5, source_ts=1_750_000_000.0, receive_ts=1_750_000_000.25)
    fresh = value_json(sign, latest, now=1_750_000_030.0)
    assert fresh["level"] == "orange" and fresh["stale"] is False and fresh["age_s"] == 30.0
    assert fresh["source_time"] == "2025-06-15T23:06:40.000+08:00"
    assert fresh["receive_time"] == "2025-06-15T23:06:40.250+08:00"
    assert value_json(sign, latest, now=1_750_000_121.0)["stale"] is True
    assert value_json(sign, None, now=0.0)["value"] is None
