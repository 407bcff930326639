"""The package docstring of core.services lists its modules, every one and no other."""

from __future__ import annotations

import pkgutil
import re

import core.services


def test_docstring_lists_every_module_and_no_other():
    modules = {m.name for m in pkgutil.iter_modules(core.services.__path__)}
    listed = set(re.findall(r"^``(\w+)``", core.services.__doc__ or "", re.MULTILINE))
    assert listed == modules
