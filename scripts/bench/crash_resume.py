"""Kill -9 a training run at random moments, resume it each time, and count what was lost.

    python scripts/bench/crash_resume.py [--mode residual|full_network] [--kills 5] [--max_iterations 30]
        [--save_interval 3] [--seed 0]

Runs scripts/train_residual.py (`--mode residual`: network separation) or scripts/train_full_network.py
(`--mode full_network`: DPPO with gradient surgery) as a subprocess on PegInHole-Low with a tiny config (a
small random diffusion base and synthetic demos written to the work directory, 4 envs, IN-RIL with IL updates),
sends SIGKILL at a random moment of its training, checks every checkpoint it left, resumes with
`--resume RUN_DIR`, and repeats; the last resume runs to the end. Reports:

- runs resumed: resumes that continued after the newest valid checkpoint;
- iterations lost per kill: iterations the killed run had completed (its last logged iteration)
  beyond the checkpoint the resume started from (goal: never more than --save_interval);
- corrupt checkpoints: model_<it>.pt files that do not verify after a kill (goal: never);
- whether the final run completed all iterations with a continuous iteration count.

Prints one line and appends a JSON row to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from inril.algos.common.checkpoints import checkpoints_newest_first, newest_valid_checkpoint, read_checkpoint
from inril.apps.bench import write_row
from inril.data.demos import Episode, write_demos
from inril.policies import make_policy, make_policy_config
from inril.policies.checkpoint import CheckpointError, save_policy
from inril.policies.normalizer import MinMaxNormalizer
from inril.tasks.registry import get_task
from inril.utils.config import override

TASK = "PegInHole-Low"
TRAIN_SCRIPTS = {mode: Path(__file__).resolve().parents[1] / f"train_{mode}.py" for mode in ("residual", "full_network")}
ITERATION_LINE = re.compile(r"Learning iteration (\d+)/(\d+)")
# A tool-position range inside the workspace (m), then 6-D rotation and gripper in [-1, 1].
ACTION_LOW = [0.3, -0.3, 0.0] + [-1.0] * 7
ACTION_HIGH = [0.7, 0.3, 0.4] + [1.0] * 7


def prepare_inputs(work: Path, seed: int = 0) -> tuple[Path, Path]:
    """Synthetic demos of the task's shape and a small random diffusion base fitted to them."""
    rng = np.random.default_rng(seed)
    layout = get_task(TASK).observation_layout
    episodes = [Episode({name: rng.normal(size=(24, dim)).astype(np.float32) for name, dim in layout},
                        rng.uniform(ACTION_LOW, ACTION_HIGH, size=(24, 10)).astype(np.float32), True)
                for _ in range(10)]
    demos = work / "demos.hdf5"
    write_demos(demos, episodes, {"env_name": TASK}, obs_keys=[name for name, _ in layout])
    obs = np.concatenate([np.concatenate([e.obs[name] for name, _ in layout], axis=1) for e in episodes])
    torch.manual_seed(seed)
    cfg = make_policy_config("diffusion", obs.shape[1], 10, pred_horizon=8, action_horizon=4, down_dims=[16, 32],
                             diffusion_step_embed_dim=16, num_inference_steps=4)
    base = make_policy("diffusion", cfg, MinMaxNormalizer.fit(torch.from_numpy(obs), clip=3.0),
                       MinMaxNormalizer(torch.tensor(ACTION_LOW), torch.tensor(ACTION_HIGH)))
    checkpoint = work / "base.pt"
    save_policy(checkpoint, base, "diffusion", layout, {"env_name": TASK})
    return demos, checkpoint


def train_args(work: Path, demos: Path, base: Path, max_iterations: int, save_interval: int) -> list[str]:
    """The tiny run's arguments, the same for train_residual.py and train_full_network.py (IN-RIL: the base gets
    IL updates and their optimizer; the full-network run takes its sizes from agent.*).
    Every size the laptop preset sets is overridden, the base and final evaluations included (the preset's
    512 episodes on one evaluation env took minutes per run)."""
    return ["--task", TASK, "--base_checkpoint", str(base), "--log_root", str(work / "logs"), "--run_name", "crash",
            "--num_envs", "4", "--max_iterations", str(max_iterations), override("base.demos", demos),
            f"agent.save_interval={save_interval}", "agent.num_steps_per_env=8", "agent.eval_interval=0",
            "agent.eval_episodes=1", "agent.final_eval_episodes=2", "env.eval_num_envs=2",
            "agent.ppo.num_learning_epochs=2",
            "agent.ppo.num_mini_batches=2", "agent.il.batch_size=16", "agent.interleave.m=2"]


def logged_iterations(output: str) -> list[int]:
    return [int(m.group(1)) for m in ITERATION_LINE.finditer(output)]


def corrupt_checkpoints(run_dir: Path) -> list[str]:
    bad = []
    for path in checkpoints_newest_first(str(run_dir)):
        try:
            read_checkpoint(path)
        except CheckpointError as exc:
            bad.append(str(exc))
    return bad


def launch(script: Path, argv: list[str], log: Path) -> tuple[subprocess.Popen, object]:
    handle = log.open("w")
    # One intra-op thread: tiny networks on a shared 2-core machine run ~30x slower with two (OpenMP contention).
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, str(script), *argv], stdout=handle, stderr=subprocess.STDOUT,
                               env=env, start_new_session=True)
    return process, handle


def run_until_killed(script: Path, argv: list[str], log: Path, rng: random.Random, iteration_time: float | None,
                     max_iterations: int, window: int) -> tuple[int | None, float | None]:
    """Start a run, wait for its first logged iteration, then SIGKILL it at a uniformly random moment
    of its next `window` iterations (timed with the measured seconds per iteration). Returns (exit
    code if it finished before the kill else None, seconds per iteration)."""
    process, handle = launch(script, argv, log)
    try:
        first, first_time = None, None
        while process.poll() is None:
            done = logged_iterations(log.read_text())
            if done and first is None:
                first, first_time = done[-1], time.perf_counter()
            if first is not None and (len(done) >= 3 or iteration_time is not None):
                if iteration_time is None:
                    iteration_time = (time.perf_counter() - first_time) / (len(done) - 1)
                left = max_iterations - 1 - done[-1]
                time.sleep(rng.uniform(0.0, max(min(left, window), 0) * iteration_time))
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                    return None, iteration_time
                break
            time.sleep(0.02)
        return process.wait(), iteration_time
    finally:
        handle.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=sorted(TRAIN_SCRIPTS), default="residual",
                        help="which separation mode's training script to kill")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--max_iterations", type=int, default=30)
    parser.add_argument("--save_interval", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill times and the synthetic inputs")
    parser.add_argument("--work", type=Path, default=None, help="work directory (default: a new temporary one)")
    parser.add_argument("--out", default="logs/bench/crash_resume.jsonl")
    args = parser.parse_args(argv)
    if args.kills < 1 or args.max_iterations < 3 or args.save_interval < 1:
        parser.error("need --kills >= 1, --max_iterations >= 3 and --save_interval >= 1")

    work = args.work or Path(tempfile.mkdtemp(prefix="inril_crash_resume_"))
    work.mkdir(parents=True, exist_ok=True)
    demos, base = prepare_inputs(work, args.seed)
    argv_train = train_args(work, demos, base, args.max_iterations, args.save_interval)
    script = TRAIN_SCRIPTS[args.mode]
    rng = random.Random(args.seed)
    window = max(1, args.max_iterations // (args.kills + 1))  # spreads the kills over the whole run
    started = time.perf_counter()
    run_dir, iteration_time = None, None
    kills, resumed, lost, corrupt, restarted_fresh = 0, 0, [], [], 0
    launches, previous_newest = 0, -1
    while True:
        resume = ["--resume", str(run_dir)] if run_dir is not None else []
        log = work / f"launch_{launches}.log"
        launches += 1
        last_attempt = kills >= args.kills
        if last_attempt:
            process, handle = launch(script, argv_train + resume, log)
            code = process.wait()
            handle.close()
        else:
            code, iteration_time = run_until_killed(script, argv_train + resume, log, rng, iteration_time,
                                                    args.max_iterations, window)
        output = log.read_text()
        if resume:
            match = re.search(r"resumed .* at iteration (\d+)", output)
            expected = previous_newest + 1
            continuous = match is not None and int(match.group(1)) == expected and \
                (not logged_iterations(output) or logged_iterations(output)[0] == expected)
            resumed += continuous
        if code is not None:
            break
        kills += 1
        runs = sorted((work / "logs" / "inril" / TASK).glob("*_crash"))
        run_dir = runs[-1] if runs else None
        corrupt += corrupt_checkpoints(run_dir) if run_dir is not None else []
        done = logged_iterations(output)
        try:
            newest = read_checkpoint(newest_valid_checkpoint(str(run_dir)))["iter"] if run_dir else None
        except CheckpointError:
            newest = None
        if newest is None:  # killed before the first checkpoint: start again
            run_dir, restarted_fresh = None, restarted_fresh + 1
            lost.append(len(done))
            continue
        lost.append(max(done, default=newest) - newest)
        previous_newest = newest
    final_iterations = None
    if code == 0 and run_dir is not None:
        final_iterations = json.loads((run_dir / "summary.json").read_text())["iterations"]
    elapsed = time.perf_counter() - started
    complete = code == 0 and final_iterations == args.max_iterations
    row = {"task": TASK, "mode": args.mode, "kills": kills, "runs_resumed": resumed, "restarted_fresh": restarted_fresh,
           "iterations_lost": lost, "max_iterations_lost": max(lost, default=0), "save_interval": args.save_interval,
           "lost_within_interval": all(n <= args.save_interval for n in lost), "corrupt_checkpoints": len(corrupt),
           "final_exit_code": code, "final_iterations": final_iterations, "max_iterations": args.max_iterations,
           "complete": complete, "wall_time_s": round(elapsed, 1), "work_dir": str(work)}
    path = write_row(args.out, "crash_resume", row)
    print(f"crash_resume ({args.mode}): {kills} kill -9, {resumed}/{kills - restarted_fresh} resumed continuously, "
          f"iterations lost {lost} (max {row['max_iterations_lost']}, save interval {args.save_interval}), "
          f"corrupt checkpoints {len(corrupt)}, final run {'complete' if complete else 'INCOMPLETE'} "
          f"({final_iterations}/{args.max_iterations} iterations) in {elapsed:.0f} s -> {path}")
    for problem in corrupt:
        print(f"  corrupt: {problem}")
    return 0 if complete and not corrupt and row["lost_within_interval"] else 1


if __name__ == "__main__":
    sys.exit(main())
