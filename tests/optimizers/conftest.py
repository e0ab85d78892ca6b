"""Fixtures shared by the optimizer tests."""

import pytest

import optimizers._driver


@pytest.fixture
def no_compiling(monkeypatch):
    """minimize's compiled loop must not be reached: the check under test comes first."""

    def refuse(*args, **kwargs):
        raise AssertionError("minimize went on to compile")

    monkeypatch.setattr(optimizers._driver, "_solve", refuse)
