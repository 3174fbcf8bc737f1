"""The ``impl`` fixture: each test that takes it runs against both twins."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.support.twins import twin, twin_params


@pytest.fixture(params=twin_params())
def impl(request: pytest.FixtureRequest) -> ModuleType:
    # a missing compiled twin fails in the test's call phase (a FAILED test,
    # not a setup ERROR)
    return twin(request.param)
