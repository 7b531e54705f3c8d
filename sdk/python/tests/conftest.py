"""Shared by the unit suite (tests/unit, no network) and the end-to-end suite (tests/e2e, a
real keygate stack: see tests/e2e/stack.py; skipped without KEYGATE_SDK_BASE_URL)."""

import os
from pathlib import Path

import pytest

_E2E = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(config, items):
    if os.environ.get("KEYGATE_SDK_BASE_URL") and os.environ.get("KEYGATE_SDK_ADMIN_KEY"):
        return
    skip = pytest.mark.skip(reason="needs KEYGATE_SDK_BASE_URL and KEYGATE_SDK_ADMIN_KEY (make test runs this suite against the local stack)")
    for item in items:
        if _E2E in Path(str(item.fspath)).parents:
            item.add_marker(skip)


@pytest.fixture
def anyio_backend():
    return "asyncio"
