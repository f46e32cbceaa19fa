"""Names that left the top level: reachable there with a FutureWarning, never used by the repository.

The pytest configuration (pyproject.toml ``filterwarnings``) turns the forwarding warning into an error,
so any test, example run in-process or README snippet that still uses an old top-level name fails. This
module is the one place that reaches the old names on purpose.
"""

from __future__ import annotations

import importlib
import re

import pytest

import skillneuron_lens as snl

MOVED = sorted(snl._MOVED.items())


@pytest.mark.parametrize(("name", "home"), MOVED)
def test_a_moved_name_is_forwarded_to_its_home_with_a_warning_naming_it(name, home):
    expected = getattr(importlib.import_module(home), name)
    with pytest.warns(FutureWarning, match=rf"^skillneuron_lens\.{name} moved to {re.escape(home)}\.{name};"):
        forwarded = getattr(snl, name)
    assert forwarded is expected
    assert name not in snl.__all__


def test_the_test_suite_turns_the_forwarding_warning_into_an_error():
    name, home = MOVED[0]
    with pytest.raises(FutureWarning, match=f"moved to {re.escape(home)}"):
        getattr(snl, name)


def test_other_future_warnings_stay_ignored():
    import warnings

    warnings.warn("some library's future change", FutureWarning, stacklevel=1)  # no error: ignored


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        snl.no_such_name  # noqa: B018
