"""The suite refuses old top-level names: the forwarding warning is an error under pytest.

pyproject.toml's ``filterwarnings`` turns "skillneuron_lens.X moved to ..." into an error, so any test or
in-process README snippet that still uses a name that left the top level fails. The forwarding itself
(every moved name reachable from its home, with the warning) is checked by the layout test
(test_layout.py) under ``pytest.warns``.
"""

from __future__ import annotations

import re
import warnings

import pytest

import skillneuron_lens as snl


@pytest.mark.parametrize(("name", "home"), sorted(snl._MOVED.items())[:3])
def test_the_suite_turns_the_forwarding_warning_into_an_error(name, home):
    message = rf"^skillneuron_lens\.{name} moved to {re.escape(home)}\.{name};"
    with pytest.raises(FutureWarning, match=message):
        getattr(snl, name)


def test_other_future_warnings_stay_ignored():
    warnings.warn("some library's future change", FutureWarning, stacklevel=1)  # ignored, not an error
