"""Every service has the same shape (issue 16): routes are thin entrypoints of about 30
lines (body, access, one use-case call, response). A route that grows past 40 lines has
rules in it that belong in ``usecases/`` or ``domain/``.

When this test was written 41 routes were longer (the longest, inventory's ``dispense``,
163 lines); their rules moved into use cases and domain modules. None may pass 40 again.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 40
HTTP_METHODS = {"get", "post", "put", "patch", "delete", "api_route"}


def route_lengths() -> dict[str, int]:
    found: dict[str, int] = {}
    files = sorted(ROOT.glob("services/*/src/halcyon/*/api/*.py")) + sorted(
        ROOT.glob("services/*/src/halcyon/*/api.py")
    )
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
                isinstance(d, ast.Call)
                and isinstance(d.func, ast.Attribute)
                and d.func.attr in HTTP_METHODS
                for d in node.decorator_list
            ):
                assert node.end_lineno is not None
                name = f"{str(path).split('/src/halcyon/')[1]}::{node.name}"
                found[name] = node.end_lineno - node.lineno + 1
    return found


def test_routes_stay_thin() -> None:
    lengths = route_lengths()
    assert len(lengths) > 150  # the walk found the services' routes
    too_long = {name: length for name, length in lengths.items() if length > LIMIT}
    assert too_long == {}, f"routes over {LIMIT} lines: move their rules into usecases/"
