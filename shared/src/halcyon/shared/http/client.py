"""Outgoing HTTP (httpx over httpcore) without an import search on every request."""

from __future__ import annotations

import importlib.util
import sys


def remember_missing_sniffio() -> None:
    """Record, once per process, that ``sniffio`` is not installed.

    httpcore asks ``import sniffio`` on every pool lock, event and connection clean-up
    (several times per proxied request) to learn which async library runs. anyio 4 no
    longer brings sniffio along, and Python does not remember a failed import: each ask
    searched the whole ``sys.path`` again, about 0.45 ms of CPU every time, and 18 % of
    the gateway's CPU on a proxied chart open (py-spy). ``sys.modules[name] = None`` is
    Python's own "known to be missing": the import then fails at once (8 µs), and
    httpcore goes on exactly as before, with asyncio. Nothing changes where sniffio is
    installed.
    """
    if "sniffio" in sys.modules or importlib.util.find_spec("sniffio") is not None:
        return
    sys.modules["sniffio"] = None  # type: ignore[assignment]
