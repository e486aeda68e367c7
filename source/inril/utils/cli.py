"""Small shared pieces of the command-line scripts: one clear error line, and output checks."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def fail(message: str, code: int = 2) -> int:
    """Print one error line to stderr and return the exit code for `sys.exit(main())`."""
    print(f"error: {message}", file=sys.stderr)
    return code


def check_output_dir(path: Path) -> None:
    """Refuse to write into a non-empty directory or where we cannot write, before any work."""
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"output path {path} exists and is not a directory")
        if any(path.iterdir()):
            raise ValueError(f"output directory {path} is not empty; choose a new one")
        if not os.access(path, os.W_OK):
            raise ValueError(f"output directory {path} is not writable")
        return
    parent = next(p for p in path.absolute().parents if p.exists())
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ValueError(f"cannot create output directory {path}: {parent} is not writable")
