"""The unit tier: the ledger over an in-memory table with a fixed clock."""

from __future__ import annotations

import datetime as dt

import pytest

from chalicelib import clock as service_clock
from devtools.memory_ledger import FixedClock, memory_ledger

from .memory_shop import Shop

NOW = dt.datetime(2027, 5, 10, 3, 0, 0, tzinfo=dt.UTC)  # 12:00 in Seoul


@pytest.fixture
def clock(monkeypatch) -> FixedClock:
    fixed = FixedClock(NOW)
    monkeypatch.setattr(service_clock, "now", fixed.now)
    return fixed


@pytest.fixture
def shop(clock) -> Shop:
    """A shop with the test program (memory_shop.PROGRAM) and no members."""
    shop = Shop(memory_ledger(), clock)
    shop.program()
    return shop
