"""The commands City Eye queues in pipelines that redis-py's Redis Cluster pipeline refuses as methods (MGET, MSET, and
EVALSHA, which a registered Script sends), in the form both pipelines accept. Redis Cluster itself serves them when
their keys share one slot, as City Eye's hash tags see to (signs/keys.py); sent as plain commands, redis-py routes them
to that slot's node. (redis-py leaves Pipeline.execute_command unannotated.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

from redis.client import Pipeline
from redis.typing import EncodableT


def mget(pipe: Pipeline, keys: Sequence[str]) -> list[bytes | None]:
    """MGET; answered at once by a pipeline that WATCHes (before MULTI), else queued."""
    return cast(list[bytes | None], pipe.execute_command("MGET", *keys))  # type: ignore[no-untyped-call]


def mset(pipe: Pipeline, values: Mapping[str, EncodableT]) -> None:
    pipe.execute_command("MSET", *[part for item in values.items() for part in item])  # type: ignore[no-untyped-call]


def run_script(pipe: Pipeline, script: str, keys: Sequence[str], args: Sequence[EncodableT]) -> None:
    """EVAL of the script's source, not EVALSHA of its digest: Redis compiles a script once and caches it either way,
    and a pipeline's EVALSHA needs a SCRIPT LOAD first, which a cluster pipeline cannot send."""
    pipe.execute_command("EVAL", script, len(keys), *keys, *args)  # type: ignore[no-untyped-call]
