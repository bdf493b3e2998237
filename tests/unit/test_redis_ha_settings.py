"""REDIS_SENTINELS: a list of host:port, refused at start when an entry is not one; REDIS_CLUSTER: not with sentinels,
and not with the embedded Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from config import Settings, parse_sentinels
from services.__main__ import resolve_services


def test_sentinels_are_host_port_pairs_with_spaces_and_ipv6_brackets_allowed() -> None:
    assert parse_sentinels("10.0.0.1:26379, sentinel-b:26380,[::1]:26381") == [
        ("10.0.0.1", 26379), ("sentinel-b", 26380), ("::1", 26381),
    ]  # fmt: skip
    assert parse_sentinels("") == []


@pytest.mark.parametrize("entry", ["10.0.0.1", "10.0.0.1:", ":26379", "host:port"])
def test_an_entry_without_a_port_is_refused_at_start(entry: str) -> None:
    with pytest.raises(ValidationError, match="is not host:port"):
        Settings(redis_sentinels=f"127.0.0.1:26379,{entry}")


def test_a_cluster_with_sentinels_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="exclude each other"):
        Settings(redis_cluster=True, redis_sentinels="127.0.0.1:26379")


def test_make_run_refuses_a_cluster_without_its_url_rather_than_embed_one_redis(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="REDIS_CLUSTER needs REDIS_URL"):
        resolve_services(Settings(redis_cluster=True, redis_url="", run_dir=tmp_path))
    assert not any(tmp_path.iterdir()), "nothing was started"
