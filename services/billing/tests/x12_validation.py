"""Run pyx12's x12valid (which carries the 005010X222A1 map) on a generated file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def x12valid(text: str, directory: Path, name: str = "claims.837") -> tuple[bool, str]:
    path = directory / name
    path.write_text(text, encoding="ascii")
    tool = Path(sys.executable).parent / "x12valid"
    result = subprocess.run(
        [str(tool), str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    output = result.stdout + result.stderr
    ok = f"{path}: OK" in output and " ERROR " not in output
    return ok, output
