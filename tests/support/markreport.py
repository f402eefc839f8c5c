"""A pytest plugin (`-p tests.support.markreport`): what each collected test asks for and is marked.

Writes JSON to $HOTSPARE_MARK_REPORT: for each test id, its own parameters,
the closure of its fixtures, whether its file or function marks it `lab`
(before tests/conftest.py adds marks), and whether it ends up marked.
tests/test_lab_marks.py reads it.
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Any

import pytest

_seen: dict[str, dict[str, Any]] = {}


@pytest.hookimpl(tryfirst=True)  # before conftest's hook: what the file itself says
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        function = getattr(item, "function", None)
        _seen[item.nodeid] = {
            "own": sorted(inspect.signature(function).parameters) if function else [],
            "closure": sorted(getattr(item, "fixturenames", ())),
            "said": item.get_closest_marker("lab") is not None,
        }


def pytest_collection_finish(session: pytest.Session) -> None:
    for item in session.items:
        _seen[item.nodeid]["marked"] = item.get_closest_marker("lab") is not None
    Path(os.environ["HOTSPARE_MARK_REPORT"]).write_text(json.dumps(_seen))
