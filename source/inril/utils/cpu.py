"""The CPU thread policy of training and benchmark processes."""

from __future__ import annotations

import os

import torch


def limit_cpu_threads(device: str) -> None:
    """Our networks are small and MuJoCo's rollout threads use every core during RL: a second torch
    thread mostly spin-waits (BC steps measured 15x slower with 2 threads on 2 busy cores). So one
    thread on CPU, unless OMP_NUM_THREADS says otherwise."""
    if device == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)
