"""The examples in docstrings run, and give what they say."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import hyperrace


def _modules() -> list[str]:
    return sorted(
        m.name
        for m in pkgutil.walk_packages(hyperrace.__path__, "hyperrace.")
        if ".migrations" not in m.name
    )


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name: str) -> None:
    try:
        module = importlib.import_module(name)
    except hyperrace.MissingDependencyError as exc:  # a module that needs an extra not installed
        pytest.skip(str(exc))
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"
