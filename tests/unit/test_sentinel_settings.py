"""REDIS_SENTINELS: a list of host:port, refused at start when an entry is not one."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config import Settings, parse_sentinels


def test_sentinels_are_host_port_pairs_with_spaces_and_ipv6_brackets_allowed() -> None:
    assert parse_sentinels("10.0.0.1:26379, sentinel-b:26380,[::1]:26381") == [
        ("10.0.0.1", 26379), ("sentinel-b", 26380), ("::1", 26381),
    ]  # fmt: skip
    assert parse_sentinels("") == []


@pytest.mark.parametrize("entry", ["10.0.0.1", "10.0.0.1:", ":26379", "host:port"])
def test_an_entry_without_a_port_is_refused_at_start(entry: str) -> None:
    with pytest.raises(ValidationError, match="is not host:port"):
        Settings(redis_sentinels=f"127.0.0.1:26379,{entry}")
