"""Fixtures of the api unit tests; the harness itself is in api_harness.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api_harness import Env


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[Callable[..., Env]]:
    made: list[Env] = []

    def factory(**kwargs: Any) -> Env:
        sub = tmp_path / f"env{len(made)}"
        sub.mkdir()
        env = Env(sub, **kwargs)
        made.append(env)
        return env

    yield factory
    for env in made:
        env.close()


@pytest.fixture
def env(make_env: Callable[..., Env]) -> Env:
    return make_env()
