"""Fixtures of the data-quality check tests.

Every test here runs Great Expectations against this worker's copy of `expectations/`
(`gx_project`, tests/conftest.py), so the validation results and Data Docs it writes never
land in the repository. The world runs (the whole pipeline on the default world and on a
second seed) are session-scoped: each world runs once, on the worker its tests are grouped
on (`xdist_group`), whichever tests ask for it.
"""

import pytest

from tests.worlds import WorldRun


@pytest.fixture(
    params=[
        pytest.param("default_world", marks=[pytest.mark.slow, pytest.mark.xdist_group("world_7")]),
        pytest.param(
            "second_seed_world", marks=[pytest.mark.slow, pytest.mark.xdist_group("world_11")]
        ),
    ],
    scope="session",
)
def world(request: pytest.FixtureRequest) -> WorldRun:
    return request.getfixturevalue(request.param)
