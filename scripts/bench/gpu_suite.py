"""One GPU measurement run, sized for a short GPU slot: IN-RIL's overheads at the full preset's scale.

    python scripts/bench/gpu_suite.py --device cuda [--out logs/bench/gpu_suite.json] [--budget 420]
    python scripts/bench/gpu_suite.py --tiny --device cpu          # the same code path in seconds (a test)

Parts, in this order, each side by side in this one process:

- setup: scripted demos and two briefly pre-trained diffusion bases, the full preset's UNet ([256, 512, 1024])
  and the laptop preset's ([32, 64, 128]), cached like the main job's (a few hundred BC steps: enough for
  demo-like actions in the physics; the timings do not depend on how well the bases succeed).
- BC step: the time of one IL update (one BC optimizer step, the full preset's UNet, its IL batch of 1024) on
  the device, CUDA events around each step, median of the timed steps after warm-up steps.
- P1, interleave overhead: residual-PPO env-steps/s of the full preset's job (1024 envs x 100 steps per
  iteration, 4 DDIM steps, C MuJoCo physics on the CPU, learner on the device) in three modes whose
  iterations alternate (rotating order, after one warm-up iteration each): the frozen base (RL only), IN-RIL
  with the IL updates on the side CUDA stream, and IN-RIL with them in line on the default stream
  (`agent.il_side_stream=false`). Goal: IN-RIL (side stream) / frozen >= 0.95; side stream / in line is
  the overlap itself. It also gives the PPO update time per iteration and the base-inference time in the
  rollout (CUDA events, `ResidualVecEnv.base_inference_timer`).
- P4, base inference: the share of the rollout loop's wall time spent sampling base chunks (DDIM with 4 and
  8 steps, warm start), for both UNets at 1024 and 4096 envs, with a zero residual so that the loop is the
  env step plus the base. Goal: <= 30% at 1024 envs.

Peak device memory (torch.cuda.max_memory_allocated, reset before each part, mode and configuration) goes
with each number. A time budget (default 420 s, counted from the start of the process) bounds the run: setup
first, then each part gets a share of the time left (BC 5%, P1 55%, P4 40%) and stops early, at a whole step,
round of iterations or chunk cycle, when its share is spent, saying so in its progress line, the table and the
JSON. A part that starts measures at least one unit (P1: if no timed round fits after the warm-up round, the
warm-up iterations are reported, marked so); a part that finds the budget spent does not start. So the run
ends within the budget plus at most one such unit. The JSON (--out) is rewritten atomically after every part,
with "complete": false until the end, so a run cut off by its slot keeps the parts it finished.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # run as a script, the budget counts from here, before the heavy imports

import argparse
import contextlib
import copy
import io
import json
import os
import platform
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from inril.algos.bc import BCLearner
from inril.apps.bench import job_and_base
from inril.apps.residual import runner_on
from inril.backends.mujoco import make_env
from inril.data.demos import DemoError
from inril.pipeline.config import TrainJob
from inril.pipeline.stages import split_demos
from inril.policies.base import Policy
from inril.policies.checkpoint import CheckpointError
from inril.residual.env import ResidualConfig, ResidualVecEnv
from inril.utils.cli import fail
from inril.utils.config import ConfigError
from inril.utils.cpu import limit_cpu_threads
from inril.utils.io import atomic_write

PART_WEIGHTS = {"bc_step": 0.05, "p1": 0.55, "p4": 0.40}  # shares of the time left after setup
# P1's modes: (agent.base, agent.il_side_stream)
P1_MODES = {"frozen": ("frozen", True), "side_stream": ("bc", True), "in_line": ("bc", False)}
P1_LABELS = {"frozen": "frozen base (RL only)", "side_stream": "IN-RIL, BC on side stream",
             "in_line": "IN-RIL, BC in line"}
P1_GOAL, P4_GOAL = 0.95, 0.30


@dataclass(frozen=True)
class Size:
    """How large each part runs. `base_overrides` go to both bases' jobs (demos, pre-training), `full_overrides`
    to the full preset's job only, `laptop_overrides` to the laptop UNet's."""

    task: str
    base_overrides: tuple[str, ...]
    full_overrides: tuple[str, ...]
    laptop_overrides: tuple[str, ...]
    p1_iterations: int  # timed iterations per mode, after one warm-up iteration each
    p4_envs: tuple[int, ...]
    p4_steps: tuple[int, ...]  # DDIM steps
    p4_cycles: int  # timed chunk cycles (action_horizon env steps each) per configuration
    bc_warmup: int
    bc_steps: int
    budget_s: float


# A few hundred BC steps from scratch: no warmup, and no EMA (its average would still be mostly the initial weights).
_PRETRAIN = ("base.pretrain.bc.warmup_steps=0", "base.pretrain.bc.ema_decay=0")
SIZES = {
    # About 7 minutes on one H200 with 16 CPU cores: nothing of it has run on a GPU yet, so the budget, not
    # these counts, is what bounds the run.
    "gpu": Size(task="OneLeg-Low",
                base_overrides=("base.num_demos=20", "base.pretrain.steps=300", "base.pretrain.val_every=300",
                                *_PRETRAIN),
                full_overrides=("agent.eval_interval=0",), laptop_overrides=(),
                p1_iterations=3, p4_envs=(1024, 4096), p4_steps=(4, 8), p4_cycles=3, bc_warmup=3, bc_steps=20,
                budget_s=420.0),
    # The same code path on CPU in seconds; both "UNets" shrunk (about 20k and 300k parameters).
    "tiny": Size(task="PegInHole-Low",
                 base_overrides=("base.num_demos=4", "base.pretrain.steps=5", "base.pretrain.val_every=5",
                                 *_PRETRAIN, "base.policy.pred_horizon=8", "base.policy.action_horizon=4"),
                 full_overrides=("agent.eval_interval=0", "env.num_envs=4", "agent.num_steps_per_env=8",
                                 "agent.il.batch_size=16", "agent.interleave.m=2",
                                 "base.policy.down_dims=[16,32,64]", "base.policy.diffusion_step_embed_dim=16"),
                 laptop_overrides=("base.policy.down_dims=[8,16]", "base.policy.diffusion_step_embed_dim=8"),
                 p1_iterations=1, p4_envs=(4, 8), p4_steps=(2, 4), p4_cycles=1, bc_warmup=1, bc_steps=2,
                 budget_s=120.0),
}


def log(message: str) -> None:
    print(f"[gpu_suite] {message}", flush=True)


class Budget:
    """The run's deadline, and each part's share of the time left when it starts."""

    def __init__(self, seconds: float, start: float):
        self.start = start
        self.deadline = start + seconds

    def left(self) -> float:
        return max(0.0, self.deadline - time.perf_counter())

    def part_deadline(self, part: str, remaining_parts: list[str]) -> float:
        share = PART_WEIGHTS[part] / sum(PART_WEIGHTS[p] for p in remaining_parts)
        return time.perf_counter() + share * self.left()


class Device:
    """Synchronisation and peak-memory bookkeeping on the measured device (no-ops on CPU)."""

    def __init__(self, name: str):
        self.name = name
        self.cuda = torch.device(name).type == "cuda"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.name)

    def reset_peak(self) -> None:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(self.name)

    def peak_mib(self) -> float | None:
        return torch.cuda.max_memory_allocated(self.name) / 2**20 if self.cuda else None

    def allocated_mib(self) -> float | None:
        return torch.cuda.memory_allocated(self.name) / 2**20 if self.cuda else None


def num_params(policy: Policy) -> int:
    return sum(p.numel() for p in policy.parameters())


# ---------------------------------------------------------------------------------------------------- parts


def bc_step_part(job: TrainJob, base: Policy, demos, dev: Device, size: Size, deadline: float) -> dict:
    """Median device time of one IL update (BCLearner.step, the job's IL optimizer and batch)."""
    train, _ = split_demos(job, base, demos, dev.name)
    learner = BCLearner(copy.deepcopy(base).train(), train, job.agent.il)
    dev.reset_peak()
    for _ in range(size.bc_warmup):
        learner.step()
    seconds, stopped = [], False
    for _ in range(size.bc_steps):
        if seconds and time.perf_counter() > deadline:
            stopped = True
            break
        if dev.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            learner.step()
            end.record()
            end.synchronize()
            seconds.append(start.elapsed_time(end) / 1000.0)
        else:
            t0 = time.perf_counter()
            learner.step()
            seconds.append(time.perf_counter() - t0)
    result = {"batch_size": job.agent.il.batch_size, "params": num_params(base), "steps_timed": len(seconds),
              "median_ms": 1000 * statistics.median(seconds), "min_ms": 1000 * min(seconds),
              "peak_mib": dev.peak_mib(), "stopped_early": stopped}
    log(f"BC step: median {result['median_ms']:.1f} ms over {len(seconds)} steps"
        + (" (stopped early: its time share was spent)" if stopped else ""))
    return result


def p1_part(job: TrainJob, base: Policy, demos, dev: Device, size: Size, deadline: float) -> dict:
    """Env-steps/s of the three modes, iterations alternating in rotating order."""
    runners = {}
    for mode, (base_mode, side_stream) in P1_MODES.items():
        mode_job = copy.deepcopy(job)
        mode_job.agent.base, mode_job.agent.il_side_stream = base_mode, side_stream
        env = make_env(job.env.task, job.env.num_envs, job.env.seed, dev.name, physics="c",
                       shaping_weight=job.env.shaping_weight)
        with contextlib.redirect_stdout(io.StringIO()):  # rsl-rl prints the networks
            runners[mode] = runner_on(env, mode_job, mode_job.agent, copy.deepcopy(base),
                                      demos if base_mode == "bc" else None, None, dev.name, job.env.seed)
    side = runners["side_stream"].alg.interleaving.updater.stream is not None
    log(f"P1: 3 runners of {job.env.num_envs} envs built (IL side stream {'on' if side else 'absent: CPU'}); "
        f"{size.p1_iterations} timed iterations each after 1 warm-up")
    warmup: dict[str, list[dict]] = {mode: [] for mode in runners}
    samples: dict[str, list[dict]] = {mode: [] for mode in runners}
    resident = dev.allocated_mib()
    order, round_seconds, stopped = list(runners), 0.0, False
    for rnd in range(size.p1_iterations + 1):
        if rnd > 0 and time.perf_counter() + round_seconds > deadline:
            stopped = True
            log(f"P1: stopped early after {rnd - 1} of {size.p1_iterations} timed rounds (its time share was spent)")
            break
        round_start = time.perf_counter()
        for mode in order[rnd % 3:] + order[:rnd % 3]:
            runner = runners[mode]
            dev.sync()
            dev.reset_peak()
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # rsl-rl's per-iteration console block
                runner.learn(1)
            dev.sync()
            seconds = time.perf_counter() - start
            scalars = runner.last_iteration_scalars
            (samples if rnd > 0 else warmup)[mode].append({
                "seconds": seconds, "ppo_update_s": scalars["time/ppo_update"],
                "base_inference_s": scalars["time/base_inference"], "il_updates": scalars.get("il_updates", 0.0),
                "peak_mib": dev.peak_mib()})
            log(f"P1 {'warm-up' if rnd == 0 else f'round {rnd}'}: {mode} {seconds:.2f} s")
        round_seconds = time.perf_counter() - round_start
    from_warmup = not samples["frozen"]
    if from_warmup:  # not even one timed round fitted: report the warm-up round, first-iteration costs included
        samples = warmup
        log("P1: no timed round fitted in its time share; reporting the warm-up iterations")
    steps = job.agent.num_steps_per_env * job.env.num_envs
    modes = {}
    for mode, rows in samples.items():
        total = sum(r["seconds"] for r in rows)
        modes[mode] = {
            "iterations": len(rows), "env_steps_per_s": len(rows) * steps / total if rows else None,
            "iteration_s": total / len(rows) if rows else None,
            "ppo_update_s": statistics.median(r["ppo_update_s"] for r in rows) if rows else None,
            "base_inference_s": statistics.median(r["base_inference_s"] for r in rows) if rows else None,
            "il_updates_per_iteration": sum(r["il_updates"] for r in rows) / len(rows) if rows else None,
            "peak_mib": max(r["peak_mib"] for r in rows) if rows and dev.cuda else None,
        }
    for runner in runners.values():
        runner.env.close()

    def ratio(a: str, b: str) -> float | None:
        ra, rb = modes[a]["env_steps_per_s"], modes[b]["env_steps_per_s"]
        return ra / rb if ra and rb else None

    return {"num_envs": job.env.num_envs, "steps_per_env": job.agent.num_steps_per_env,
            "ppo_epochs": job.agent.ppo.num_learning_epochs, "ppo_minibatches": job.agent.ppo.num_mini_batches,
            "m": job.agent.interleave.m, "il_batch_size": job.agent.il.batch_size,
            "ddim_steps": job.agent.residual.num_inference_steps, "physics": "c", "side_stream_present": side,
            "resident_mib_before": resident, "modes": modes, "ratio_side_stream": ratio("side_stream", "frozen"),
            "ratio_in_line": ratio("in_line", "frozen"), "overlap_gain": ratio("side_stream", "in_line"),
            "goal": P1_GOAL, "stopped_early": stopped, "from_warmup": from_warmup}


def p4_part(task: str, seed: int, bases: dict[str, Policy], dev: Device, size: Size, deadline: float) -> dict:
    """Share of the rollout loop in base sampling, per (envs, UNet, DDIM steps), zero residual."""
    configs = [(n, name, k) for n in size.p4_envs for name in bases for k in size.p4_steps]
    rows, envs = [], {}
    for index, (n, name, k) in enumerate(configs):
        row = {"num_envs": n, "unet": name, "params": num_params(bases[name]), "ddim_steps": k}
        if index > 0 and time.perf_counter() >= deadline:  # the first one runs whatever the time, as every part's
            rows.append({**row, "skipped": True})
            log(f"P4: {name} {n} envs DDIM {k} skipped (P4's time share was spent)")
            continue
        if n not in envs:
            for old in envs.values():
                old.close()
            envs = {n: make_env(task, n, seed, dev.name, physics="c")}
        own_deadline = time.perf_counter() + (deadline - time.perf_counter()) / (len(configs) - index)
        policy = bases[name]
        horizon = policy.cfg.action_horizon
        dev.reset_peak()
        env = ResidualVecEnv(envs[n], policy, ResidualConfig(num_inference_steps=k, warm_start=True))
        zero = torch.zeros(n, env.num_actions, device=dev.name)
        for _ in range(horizon):  # the cold start (at construction) and the first warm-started refill
            env.step(zero)
        dev.sync()
        env.base_inference_timer.reset()
        start, cycles = time.perf_counter(), 0
        while cycles < size.p4_cycles and (cycles == 0 or time.perf_counter() < own_deadline):
            for _ in range(horizon):
                env.step(zero)
            cycles += 1
        dev.sync()
        loop = time.perf_counter() - start
        base = env.base_inference_timer.seconds()
        row.update({"skipped": False, "cycles": cycles, "env_steps": cycles * horizon * n,
                    "env_steps_per_s": cycles * horizon * n / loop, "loop_s": loop, "base_s": base,
                    "share": base / loop, "peak_mib": dev.peak_mib(), "stopped_early": cycles < size.p4_cycles})
        rows.append(row)
        log(f"P4: {name} UNet, {n} envs, DDIM {k}: base {row['share']:.1%} of the loop, "
            f"{row['env_steps_per_s']:.0f} env-steps/s" + (" (stopped early)" if row["stopped_early"] else ""))
    for env in envs.values():
        env.close()
    return {"rows": rows, "goal": P4_GOAL, "goal_envs": min(size.p4_envs), "physics": "c", "warm_start": True,
            "residual": "zero"}


# ---------------------------------------------------------------------------------------------------- report


def fmt(value, spec: str, missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def table(result: dict) -> str:
    lines = [f"GPU suite: {result['device_name']} ({result['device']}), torch {result['torch']}, "
             f"{result['cpu_count']} CPU cores, task {result['task']}, size {result['size']}, "
             f"wall {result['wall_s']:.0f} s of a {result['budget_s']:.0f} s budget (setup {result['setup_s']:.0f} s)"]
    if (bc := result.get("bc_step")) is not None:
        lines.append(f"BC step (IL update), {bc['params'] / 1e6:.1f}M-param UNet, batch {bc['batch_size']}: median "
                     f"{bc['median_ms']:.1f} ms over {bc['steps_timed']} steps, peak {fmt(bc['peak_mib'], '.0f')} MiB"
                     + ("  [stopped early]" if bc["stopped_early"] else ""))
    if (p1 := result.get("p1")) is not None:
        lines.append(f"P1 interleave overhead: {p1['num_envs']} envs x {p1['steps_per_env']} steps/iteration, "
                     f"DDIM {p1['ddim_steps']}, C MuJoCo physics, PPO {p1['ppo_epochs']} epochs x "
                     f"{p1['ppo_minibatches']} minibatches, m = {p1['m']}, IL batch {p1['il_batch_size']}"
                     + ("  [stopped early]" if p1["stopped_early"] else "")
                     + ("  [warm-up iterations only: no timed round fitted]" if p1["from_warmup"] else ""))
        lines.append(f"  {'mode':<27} {'iters':>5} {'env-steps/s':>11} {'ratio':>6} {'iteration s':>11} "
                     f"{'PPO update s':>12} {'base inf. s':>11} {'IL/iter':>7} {'peak MiB':>8}")
        ratios = {"frozen": 1.0, "side_stream": p1["ratio_side_stream"], "in_line": p1["ratio_in_line"]}
        for mode, row in p1["modes"].items():
            lines.append(f"  {P1_LABELS[mode]:<27} {row['iterations']:>5} {fmt(row['env_steps_per_s'], '11.0f'):>11} "
                         f"{fmt(ratios[mode], '6.3f'):>6} {fmt(row['iteration_s'], '11.2f'):>11} "
                         f"{fmt(row['ppo_update_s'], '12.3f'):>12} {fmt(row['base_inference_s'], '11.3f'):>11} "
                         f"{fmt(row['il_updates_per_iteration'], '7.1f'):>7} {fmt(row['peak_mib'], '8.0f'):>8}")
        verdict = "not judged at --tiny size" if result["size"] == "tiny" else "n/a" \
            if p1["ratio_side_stream"] is None else "met" if p1["ratio_side_stream"] >= p1["goal"] else "NOT met"
        lines.append(f"  IN-RIL (side stream) / frozen: {fmt(p1['ratio_side_stream'], '.3f')} (goal >= {p1['goal']}: "
                     f"{verdict}); side stream / in line: {fmt(p1['overlap_gain'], '.3f')}"
                     + ("" if p1["side_stream_present"] else " (no side stream on CPU: both in line)"))
        lines.append("  (PPO update s: the runner's time/ppo_update; for IN-RIL it includes the rho(t) probe at the "
                     "iteration boundary, less the host time spent issuing IL updates)")
    if (p4 := result.get("p4")) is not None:
        lines.append("P4 base inference share of the rollout loop (zero residual, warm start, C MuJoCo physics)")
        lines.append(f"  {'UNet':<7} {'params':>7} {'envs':>5} {'DDIM':>4} {'share':>6} {'env-steps/s':>11} "
                     f"{'base s/step':>11} {'peak MiB':>8}")
        for row in p4["rows"]:
            head = f"  {row['unet']:<7} {row['params'] / 1e6:>6.2f}M {row['num_envs']:>5} {row['ddim_steps']:>4}"
            if row["skipped"]:
                lines.append(f"{head}  skipped: P4's time share was spent")
                continue
            steps = row["env_steps"] / row["num_envs"]
            lines.append(f"{head} {row['share']:>6.1%} {row['env_steps_per_s']:>11.0f} {row['base_s'] / steps:>11.4f} "
                         f"{fmt(row['peak_mib'], '8.0f'):>8}" + ("  [stopped early]" if row["stopped_early"] else ""))
        at_goal = [r for r in p4["rows"] if not r["skipped"] and r["num_envs"] == p4["goal_envs"]]
        met = [f"{r['unet']}/DDIM {r['ddim_steps']}" for r in at_goal if r["share"] <= p4["goal"]]
        lines.append(f"  goal <= {p4['goal']:.0%} at {p4['goal_envs']} envs: met by {', '.join(met) or 'none'} "
                     f"of {len(at_goal)} measured"
                     + (" (not judged at --tiny size)" if result["size"] == "tiny" else ""))
    for part in PART_WEIGHTS:
        if part not in result:
            lines.append(f"{part}: not run (the budget was spent)")
    return "\n".join(lines)


def write(path: Path, result: dict) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(result, indent=1)))


# ---------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None, started: float | None = None) -> int:
    """The suite; `started` is when the budget starts counting (default: now)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="the learner's device (physics stays on the CPU)")
    parser.add_argument("--tiny", action="store_true", help="a seconds-long run of the same code path (CPU test)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds for the whole run (default: 420 for the GPU size, 120 for --tiny)")
    parser.add_argument("--out", default="logs/bench/gpu_suite.json", help="the JSON result")
    parser.add_argument("overrides", nargs="*",
                        help="train-job overrides for the full preset's job (P1, BC step), e.g. agent.interleave.m=1")
    args = parser.parse_args(argv)
    size = SIZES["tiny" if args.tiny else "gpu"]
    budget_s = size.budget_s if args.budget is None else args.budget
    if not budget_s > 0:
        return fail(f"--budget must be > 0 seconds, got {budget_s}")
    try:
        device = torch.device(args.device)
    except RuntimeError:
        return fail(f"--device must be a torch device such as 'cuda' or 'cpu', got {args.device!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        return fail(f"--device {args.device} asked for, but this torch ({torch.__version__}) sees no CUDA GPU; "
                    "run the CPU check with --tiny --device cpu")
    if device.type not in ("cuda", "cpu"):
        return fail(f"--device must be 'cuda[:i]' or 'cpu', got {args.device!r}")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        return fail(f"--device {args.device} does not exist: {torch.cuda.device_count()} CUDA device(s) visible")
    out = Path(args.out)

    budget = Budget(budget_s, time.perf_counter() if started is None else started)
    dev = Device(str(device) if device.type == "cpu" or device.index is not None else "cuda:0")
    limit_cpu_threads(dev.name)
    if dev.cuda:
        torch.cuda.set_device(dev.name)  # events and streams are made on the current device
    result = {"suite": "gpu_suite", "size": "tiny" if args.tiny else "gpu", "complete": False, "device": dev.name,
              "device_name": torch.cuda.get_device_name(dev.name) if dev.cuda else platform.processor() or "cpu",
              "torch": torch.__version__, "cuda": torch.version.cuda, "cpu_count": os.cpu_count(),
              "task": size.task, "budget_s": budget_s}
    log(f"{result['device_name']} ({dev.name}), torch {torch.__version__}, {os.cpu_count()} CPU cores; "
        f"budget {budget_s:.0f} s; JSON -> {out}")
    try:
        log("setup: demos and the full preset's diffusion base")
        full_overrides = [*size.base_overrides, *size.full_overrides, *args.overrides]
        job, full, demos = job_and_base(size.task, "full", full_overrides, dev.name)
        log("setup: the laptop preset's diffusion UNet")
        _, laptop, _ = job_and_base(size.task, "laptop", [*size.base_overrides, *size.laptop_overrides], dev.name,
                                    base_policy="diffusion")
    except (ValueError, ConfigError, DemoError, CheckpointError) as exc:
        return fail(str(exc))
    result["setup_s"] = time.perf_counter() - budget.start
    log(f"setup done in {result['setup_s']:.0f} s; {budget.left():.0f} s left for the parts")

    parts = list(PART_WEIGHTS)
    runs = {
        "bc_step": lambda deadline: bc_step_part(job, full.policy, demos, dev, size, deadline),
        "p1": lambda deadline: p1_part(job, full.policy, demos, dev, size, deadline),
        "p4": lambda deadline: p4_part(size.task, job.env.seed, {"laptop": laptop.policy, "full": full.policy},
                                       dev, size, deadline),
    }
    for index, part in enumerate(parts):
        if budget.left() <= 0:
            log(f"{part}: not run, the budget is spent")
            continue
        deadline = budget.part_deadline(part, parts[index:])
        log(f"{part}: up to {deadline - time.perf_counter():.0f} s")
        result[part] = runs[part](deadline)
        result["wall_s"] = time.perf_counter() - budget.start
        write(out, result)
    result["wall_s"] = time.perf_counter() - budget.start
    result["complete"] = all(part in result for part in parts)
    write(out, result)
    print(table(result), flush=True)
    log(f"JSON written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(started=STARTED))
