"""Clarion's test suite (a package, so that ``tests.support`` always resolves here)."""
