"""Small shared pieces of the command-line scripts: one clear error line, and output checks."""

from __future__ import annotations

import argparse
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


def add_demo_selection_flags(parser: argparse.ArgumentParser) -> None:
    """Which demos of a file to learn from: robomimic's filter keys, and whether failures count."""
    parser.add_argument("--filter-key", dest="filter_key", default=None, metavar="KEY",
                        help="train on the demos listed in the file's mask/KEY (robomimic's hdf5_filter_key)")
    parser.add_argument("--val-filter-key", dest="val_filter_key", default=None, metavar="KEY",
                        help="hold out the demos of mask/KEY for validation (robomimic's hdf5_validation_filter_key; "
                             "default: a random share of the episodes)")
    parser.add_argument("--keep-failures", dest="keep_failures", action="store_true",
                        help="also learn from episodes marked success=False (left out by default)")
