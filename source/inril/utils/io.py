"""Crash-safe file writing: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> None:
    """Call `write(tmp_path)` on a temporary file next to `path`, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as f:  # make the bytes durable before the rename publishes them
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def reserve_dir(parent: str | os.PathLike, name: str) -> Path:
    """Create and return `parent`/`name`, or `name`_1, `name`_2, ... when taken, atomically: runs started in the
    same second (an array job on a cluster, two seeds side by side) never share a directory."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(10_000):
        path = parent / (name if n == 0 else f"{name}_{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free run directory named {name}[_N] under {parent}")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """torch.save `obj` to `path` atomically (see `atomic_write`): the old file or the new, never half of one."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp))
