"""Fixtures shared by the platform tests (one platform for all files of a run)."""

from tests.platform.two_agencies import issue19_platform, world

__all__ = ["issue19_platform", "world"]
