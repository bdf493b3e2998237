"""The read API answers in the requested language: ?lang=en gives each sign's name, unit label, definition and owner
in English (no Chinese), while "unit" stays the catalogue's unit that values carry; any other lang is a 400."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from api.signs import signs_blueprint
from signs.catalogue import catalogue
from signs.keys import Latest
from views.snapshot import sign_json

CJK = re.compile(r"[\u2e80-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")
NOW = 1_748_000_000.0


def test_every_sign_reads_in_english_and_keeps_its_unit() -> None:
    for sign in catalogue().signs.values():
        doc = sign_json(sign, Latest(1.0, NOW - 5, NOW - 5), NOW, "en")
        shown = {k: doc[k] for k in ("name", "unit_label", "definition", "owner")}
        assert not any(CJK.search(text) for text in shown.values()), (sign.id, shown)
        assert doc["unit"] == sign.unit and doc["value"] == 1.0


def test_chinese_is_the_default() -> None:
    sign = catalogue().signs["XY.P.M01.P01"]
    doc = sign_json(sign, None, NOW)
    assert (doc["name"], doc["unit_label"], doc["owner"]) == (sign.name_zh, "万人", sign.owner)
    english = sign_json(sign, None, NOW, "en")
    assert (english["name"], english["unit_label"]) == ("Real-time population", "10k people")


@pytest.mark.parametrize("url", ["/api/v1/signs/XY.P.M01.P01?lang=fr", "/api/v1/snapshot?district=420624&lang=fr"])
def test_an_unknown_language_is_refused(url: str) -> None:
    app = Flask(__name__)
    app.register_blueprint(signs_blueprint)
    answer = app.test_client().get(url)
    assert answer.status_code == 400
    assert "lang must be one of en, zh" in answer.get_json()["error"]
