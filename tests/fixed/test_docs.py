"""The examples in the docstrings of hepinfer.fixed run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["hepinfer.fixed", "hepinfer.fixed.types", "hepinfer.fixed.fit"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
