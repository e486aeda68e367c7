"""Control-steps/s of the MuJoCo VecEnv against raw MuJoCo stepping of the same work, side by side.

    python scripts/bench/env_throughput.py [--task PegInHole-Low] [--num_envs 64 256] [--blocks 6] [--steps 10]

The env runs its full `step` (IK, physics, assembly check, observations, auto-resets) on hold-pose actions,
while its physics stepper records each call's start states and controls. The raw side is a fresh stepper of
the same kind (`mujoco.rollout` in as many threads, or MuJoCo Warp) replaying exactly those calls: the same
model, substeps, states and controls, with no Python env around it. So both sides do identical physics and
the ratio measures only the env's own overhead. Blocks of the two alternate, so machine load hits both
alike. Prints env-steps/s of each and their ratio (goal: >= 0.8) per env count, and appends a JSON row per
env count to --out.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from inril.apps.bench import write_row
from inril.backends.mujoco import MujocoVecEnv, make_env
from inril.backends.mujoco.stepper import RolloutStepper, Stepper
from inril.utils.rotations import quat_to_rot6d


def hold_actions(env: MujocoVecEnv) -> torch.Tensor:
    """Actions that keep every tool where it is, gripper open."""
    terms = env.obs_terms()
    return torch.cat((terms["ee_pos"], quat_to_rot6d(terms["ee_quat"]), -torch.ones(env.num_envs, 1)), dim=-1)


class RecordingStepper:
    """Wraps the env's stepper and keeps the (state, ctrl) of every call for the raw side to replay."""

    def __init__(self, inner: Stepper) -> None:
        self.inner, self.calls = inner, []

    def step(self, state: np.ndarray, ctrl: np.ndarray) -> None:
        self.calls.append((state.copy(), ctrl.copy()))
        self.inner.step(state, ctrl)

    def close(self) -> None:
        self.inner.close()


def raw_stepper(env: MujocoVecEnv) -> Stepper:
    if env.physics == "warp":
        from inril.backends.mujoco.warp_stepper import WarpStepper

        return WarpStepper(env.model, env.num_envs, env.substeps, str(env.device))
    return RolloutStepper(env.model, env.num_envs, env.substeps, env.cfg.num_threads)


def measure(task: str, num_envs: int, blocks: int, steps: int, seed: int, device: str) -> dict:
    env = make_env(task, num_envs, seed=seed, device=device)
    recorder = RecordingStepper(env.stepper)
    env.stepper = recorder
    raw, state = raw_stepper(env), env.physics_state.copy()
    sync = torch.cuda.synchronize if env.device.type == "cuda" else (lambda: None)
    seconds = {"env": 0.0, "raw": 0.0}
    for block in range(blocks + 1):  # block 0 warms up caches, allocators and (Warp) graphs
        recorder.calls.clear()
        elapsed = 0.0
        for _ in range(steps):
            actions = hold_actions(env)  # the policy's work, not the env's: kept off the clock
            sync()
            start = time.perf_counter()
            env.step(actions)
            sync()
            elapsed += time.perf_counter() - start
        start = time.perf_counter()
        for recorded_state, ctrl in recorder.calls:
            state[:] = recorded_state
            raw.step(state, ctrl)
        sync()
        if block:
            seconds["env"] += elapsed
            seconds["raw"] += time.perf_counter() - start
    env.close()
    raw.close()
    rate = {name: blocks * steps * num_envs / s for name, s in seconds.items()}
    return {"task": task, "num_envs": num_envs, "device": device, "physics": env.physics,
            "substeps": env.substeps, "env_steps_per_s": rate["env"], "raw_steps_per_s": rate["raw"],
            "ratio": rate["env"] / rate["raw"], "ms_per_step_env": 1e3 * seconds["env"] / (blocks * steps),
            "ms_per_step_raw": 1e3 * seconds["raw"] / (blocks * steps)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="PegInHole-Low")
    parser.add_argument("--num_envs", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--blocks", type=int, default=6, help="timed blocks per side (after 1 warm-up block)")
    parser.add_argument("--steps", type=int, default=10, help="control steps per block")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cuda[:i] runs MuJoCo Warp when mujoco_warp is installed")
    parser.add_argument("--out", default="logs/bench/env_throughput.jsonl")
    args = parser.parse_args(argv)

    for num_envs in args.num_envs:
        row = measure(args.task, num_envs, args.blocks, args.steps, args.seed, args.device)
        print(f"{args.task} {num_envs} envs x {row['substeps']} substeps ({row['physics']} physics on "
              f"{args.device}): env {row['env_steps_per_s']:.0f} env-steps/s ({row['ms_per_step_env']:.1f} ms/step), "
              f"raw MuJoCo {row['raw_steps_per_s']:.0f} ({row['ms_per_step_raw']:.1f} ms/step), "
              f"ratio {row['ratio']:.3f} (goal >= 0.8)")
        path = write_row(args.out, "env_throughput", row)
    print(f"rows appended to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
