"""Integration tests against the real Isaac Lab 3.0.0 (kit-less Newton, MuJoCo Warp on the CPU).

Run in the Isaac Lab environment: `./inril.sh isaaclab test` (after `./inril.sh isaaclab-setup`). Building an
env costs seconds and stepping 2-4 envs runs at a few env-steps/s on two CPU cores, so the tests share env
builds: `isaac_env(task, num_envs)` keeps the last env it built and closes it before building another (Isaac Lab
runs one simulation per process). Tests that need the same build are ordered next to each other.
"""

from __future__ import annotations

import pytest


class EnvCache:
    def __init__(self) -> None:
        self.key: tuple[str, int] | None = None
        self.env = None

    def get(self, task: str, num_envs: int):
        from inril_isaac.envs import make_env

        if self.key != (task, num_envs):
            self.close()
            self.env = make_env(task, num_envs)
            self.key = (task, num_envs)
        return self.env

    def close(self) -> None:
        if self.env is not None:
            self.env.close()
        self.env, self.key = None, None


@pytest.fixture(scope="session")
def isaac_env():
    cache = EnvCache()
    yield cache.get
    cache.close()
