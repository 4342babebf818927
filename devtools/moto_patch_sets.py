"""A pytest plugin that runs a test session on one patch set of
devtools/moto_patches.py, named by DANGOL_MOTO_PATCH_SET:

- `stock`: moto 5.2.5 as installed;
- `patches`: the in-process patches (`apply()`: 1-3, 5, 6), as the test
  suite runs them;
- `compaction`: the patches with compaction (4., `Partitions`), as the local
  service runs them: the stored partitions are packed after every AWS call a
  boto3/botocore client makes, as the serial server packs them after every
  request.

scripts/moto_own_tests.py loads it (`-p devtools.moto_patch_sets`) into
moto's own test suite.
"""

from __future__ import annotations

import os

import pytest

PATCH_SETS = ("stock", "patches", "compaction")
ENV = "DANGOL_MOTO_PATCH_SET"


def chosen() -> str:
    name = os.environ.get(ENV, "stock")
    if name not in PATCH_SETS:
        raise pytest.UsageError(f"{ENV}={name!r}: one of {', '.join(PATCH_SETS)}")
    return name


def pytest_configure(config) -> None:
    from devtools import moto_patches

    name = chosen()
    if name == "stock":
        moto_patches.remove()
        return
    saved = moto_patches.stock_requested
    moto_patches.stock_requested = lambda: False  # the set is named here, not by DANGOL_STOCK_MOTO
    try:
        moto_patches.apply()
    finally:
        moto_patches.stock_requested = saved
    if name == "compaction":
        from botocore.client import BaseClient

        assert moto_patches.enable_compaction()
        make_api_call = BaseClient._make_api_call

        def packed_after(self, operation_name, api_params):
            try:
                return make_api_call(self, operation_name, api_params)
            finally:
                moto_patches.compact()

        BaseClient._make_api_call = packed_after


def pytest_report_header(config) -> str:
    from devtools import moto_patches

    return (
        f"moto patch set: {chosen()} (patches applied: {moto_patches.applied()}, "
        f"compaction: {moto_patches.compacting()})"
    )
