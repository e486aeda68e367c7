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


def add_training_flags(parser: argparse.ArgumentParser, default_task: str) -> None:
    """The flags scripts/train_residual.py and scripts/train_full_network.py share (inril.pipeline.compose.JobFlags
    and the run's own): task, preset, base, sizes, device, resume, demo selection, where runs go."""
    parser.add_argument("--task", default=default_task, help="task name, e.g. OneLeg-Low, PegInHole-Med")
    parser.add_argument("--preset", default="laptop", help="laptop (2 CPU cores, < 1 h) or full (ResiP-sized)")
    parser.add_argument("--base_policy", default=None,
                        help="base policy to pre-train: gaussian_chunked (laptop default), diffusion (full default) "
                             "or gaussian (unchunked)")
    parser.add_argument("--num_envs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max_iterations", type=int, default=None)
    parser.add_argument("--device", default=None, help="torch device (embedded default: cpu; Isaac Lab: its own)")
    parser.add_argument("--video", action="store_true", help="write an MP4 of the final evaluation")
    parser.add_argument("--base_checkpoint", default=None, help="pre-trained base policy.pt (skips demos and BC)")
    parser.add_argument("--resume", nargs="?", const="latest", default=None,
                        help="continue a run: a run directory, or 'latest' for the newest run of this task and kind")
    add_demo_selection_flags(parser)
    parser.add_argument("--log_root", default="logs", help="root of logs/inril/<task>/...")
    parser.add_argument("--run_name", default="", help="suffix of the run directory name")
