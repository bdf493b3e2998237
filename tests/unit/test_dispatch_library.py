"""The event library loads, holds the seeds' structure, and refuses a broken file with its place."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dispatch.library import LIBRARY_DIR, Evidence, Level, LibraryError, load_library


def test_the_library_has_the_seeds_structure_and_every_type_is_complete() -> None:
    lib = load_library()
    assert len(lib.categories) == 12 and len(lib.items) >= 105
    assert {item.category for item in lib.items.values()} == set(lib.categories)
    assert {t.item for t in lib.types.values()} == set(lib.items)
    for event_type in lib.types.values():
        assert event_type.departments[0] in lib.departments
        assert event_type.closure_en and event_type.closure_en != event_type.closure
        limits = event_type.limits
        assert 0 < limits.response_s <= limits.handling_s <= limits.feedback_s
        assert event_type.closure
    branch = lib.types["0500101"]  # the seed story: a branch across a compound gate, to the housing bureau
    assert branch.departments == ("D02",) and branch.level is Level.CITY and branch.evidence is Evidence.PHOTO
    assert (branch.limits.response_s, branch.limits.handling_s, branch.limits.feedback_s) == (1800, 7200, 86400)
    # Emergencies have shorter limits than the default, and are not offered to outside apps.
    assert lib.types["0900101"].limits.response_s < branch.limits.response_s and not lib.types["0900101"].open311
    assert len(lib.townships) == 130 and lib.township_named("石花镇", "420625") is not None


def _broken(tmp_path: Path, name: str, old: str, new: str) -> Path:
    directory = tmp_path / "library"
    shutil.copytree(LIBRARY_DIR, directory)
    path = directory / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return directory


@pytest.mark.parametrize(
    ("name", "old", "new", "message"),
    [
        (
            "types.csv",
            "0500101,05001,树枝横出/断枝,Overhanging or broken branch,D02,",
            "0500101,05001,树枝横出/断枝,Overhanging or broken branch,D99,",
            r"types.csv:\d+: unknown department\(s\) D99",
        ),
        ("types.csv", ",city,S1,photo,", ",city,S9,photo,", r"types.csv:\d+: unknown SLA profile 'S9'"),
        ("types.csv", ",township,S2,photo,", ",street,S2,photo,", r"types.csv:\d+: level 'street' is not one of"),
        (
            "types.csv",
            "0100201,01002,",
            "0100101,01002,",
            r"types.csv:3: type 0100101 is already defined at types.csv:2",
        ),
        ("types.csv", "0100201,01002,", "0100299,01003,", r"types.csv:3: type 0100299 must start with its item"),
        ("sla_profiles.csv", "S1,default,1800,7200,", "S1,default,9000,7200,", r"sla_profiles.csv:3: limits must"),
        ("items.csv", "01002,01,", "01001,01,", r"items.csv:3: item 01001 is already defined at items.csv:2"),
        ("townships.csv", "420602001,真武山街道,420602,", "420602001,真武山街道,420606,", r"townships.csv:2: township"),
        ("departments.csv", "CTR,", "CTX,", r"departments.csv:\d+: department 'CTX' is not of the form"),
        (
            "types.csv",
            "消除,Photos before and after handling;",
            "消除,处置前后 Photos before and after handling;",
            r"types.csv:2: closure_en '处置前后 Photos.*' contains the Chinese character '处'",
        ),
        ("categories.csv", "street order", "street order (街面)", r"categories.csv:3: name_en .* character '街'"),
    ],
)
def test_a_broken_file_stops_the_load_naming_file_and_line(
    tmp_path: Path, name: str, old: str, new: str, message: str
) -> None:
    with pytest.raises(LibraryError, match=message):
        load_library(_broken(tmp_path, name, old, new))


def test_an_item_without_any_type_is_refused(tmp_path: Path) -> None:
    directory = _broken(tmp_path, "types.csv", "1200801,12008,", "1200702,12007,")
    with pytest.raises(LibraryError, match="items without any type: 12008"):
        load_library(directory)
