"""The crash script (tests/crash_safety.py), shorter: SIGKILL at random moments loses nothing and
handles nothing twice, on both backends; the only duplicates are sends a kill cut off from their commit."""

from __future__ import annotations

import pytest

from tests import crash_safety
from tests.conftest import BACKENDS, KEY, POSTGRES_URL


@pytest.mark.parametrize("backend", BACKENDS)
async def test_random_kills_lose_nothing_and_handle_nothing_twice(backend):
    if backend == "postgresql" and not POSTGRES_URL:
        pytest.skip("PostgreSQL: set HERSTEL_TEST_POSTGRES_URL, e.g. postgresql://postgres@127.0.0.1:5432/test")
    figures = await crash_safety.run(backend, kills=8, couples=3, seed=2, key=KEY)
    print(figures.report())
    assert figures.kills == 8
    assert figures.written > 50
    assert figures.lost == 0
    assert figures.unhandled_updates == 0
    assert figures.processed_twice == 0
    assert figures.never_delivered == 0
    assert figures.duplicates == figures.resent_by_those_kills  # each explained by a kill between send and commit
    assert figures.exit_code == 0
