"""Evaluate a trained policy on the embedded MuJoCo backend and print its success rate.

    python scripts/play.py --checkpoint logs/inril/<task>/<run>/model_<it>.pt --task PegInHole-Low --num_episodes 100
    python scripts/play.py --exported exported/ --task PegInHole-Low --num_episodes 100 [--seed S] [--num_envs N]

--checkpoint takes a residual-PPO runner checkpoint (base + residual mean, run through the same
ResidualVecEnv as training) or a BC policy.pt (base alone); --exported takes an export_policy.py
directory and runs its policy.pt. Either way the episodes go through inril.eval, the evaluation the
trainer runs, with deterministic DDIM: the same checkpoint, --seed and --num_envs give the same
episodes and the same success rate. The trainer's periodic evaluation uses seed env.seed + 10000 and
env.eval_num_envs envs. The policy is fed its own observation layout: the task's terms reordered by
name where it orders them differently (a term missing or of another size is one error line naming
both layouts). Prints the success rate with its 95% Wilson interval. --video writes an MP4
of the first envs (tiled) for the first --video_length steps.

Not yet here: the Isaac Lab backend (play runs on the embedded backend).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inril.envs.mujoco import make_env
from inril.envs.mujoco.render import RecordingVecEnv, VideoRecorder
from inril.envs.residual_wrapper import ResidualVecEnv
from inril.envs.wrapper import ReorderedObsEnv
from inril.eval import EvalResult, evaluate, evaluate_policy, evaluate_residual
from inril.export import load_deployable, load_exported
from inril.policies.checkpoint import CheckpointError
from inril.tasks.registry import get_task
from inril.utils.cli import fail


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None, help="runner model_<it>.pt or a BC policy.pt")
    parser.add_argument("--exported", type=Path, default=None, help="a directory written by export_policy.py")
    parser.add_argument("--task", required=True, help="task name, e.g. PegInHole-Low")
    parser.add_argument("--num_episodes", type=int, default=100)
    parser.add_argument("--num_envs", type=int, default=16, help="envs stepped in parallel")
    parser.add_argument("--seed", type=int, default=0, help="env seed (the trainer evaluates with env.seed + 10000)")
    parser.add_argument("--video", type=Path, default=None, metavar="FILE.mp4", help="record the first envs to an MP4")
    parser.add_argument("--video_length", type=int, default=None, help="steps to record (default: one episode)")
    return parser.parse_args(argv)


def eval_env(task: str, num_envs: int, seed: int, obs_index: list[int] | None, video: Path | None = None,
             video_length: int | None = None):
    """The env play evaluates in: the embedded env, recording up to 4 envs when `video` is given, with its
    observation terms reordered into the policy's layout when `obs_index` says so (see check_task)."""
    env = make_env(task, num_envs, seed)
    if video is not None:
        recorder = VideoRecorder(env, video, env_ids=range(min(4, num_envs)))
        env = RecordingVecEnv(env, recorder, video_length or int(env.max_episode_length))
    return env if obs_index is None else ReorderedObsEnv(env, obs_index)


def play_checkpoint(path: Path, task: str, num_episodes: int, num_envs: int, seed: int, **video) -> EvalResult:
    """Evaluate a checkpoint in the library, as the trainer does."""
    deployable = load_deployable(path)
    env = eval_env(task, num_envs, seed, deployable.check_task(task), **video)
    success_return = len(get_task(task).pairs)
    try:
        if deployable.actor is None:
            return evaluate_policy(deployable.base, env, num_episodes, success_return, seed=deployable.sampling_seed)
        residual_env = ResidualVecEnv(env, deployable.base, deployable.residual)
        return evaluate_residual(deployable.actor, residual_env, num_episodes, success_return)
    finally:
        env.close()


def play_exported(path: Path, task: str, num_episodes: int, num_envs: int, seed: int, **video) -> EvalResult:
    """Evaluate an exported policy.pt: raw observations in, raw actions out, reset when episodes end."""
    exported = load_exported(path)
    env = eval_env(task, num_envs, seed, exported.check_task(task), **video)
    policy = exported.module
    try:
        return evaluate(env, lambda obs: policy(obs["policy"]), num_episodes, len(get_task(task).pairs),
                        on_reset=policy.reset)
    finally:
        env.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if (args.checkpoint is None) == (args.exported is None):
        return fail("give exactly one of --checkpoint PATH or --exported DIR")
    if args.num_episodes < 1 or args.num_envs < 1:
        return fail(f"--num_episodes and --num_envs must be >= 1, got {args.num_episodes} and {args.num_envs}")
    if args.video_length is not None and args.video_length < 1:
        return fail(f"--video_length must be >= 1, got {args.video_length}")
    if args.video is not None and args.video.suffix != ".mp4":
        return fail(f"--video must name an .mp4 file, got {args.video}")
    video = {"video": args.video, "video_length": args.video_length}
    try:
        get_task(args.task)
        if args.checkpoint is not None:
            source, result = args.checkpoint, play_checkpoint(args.checkpoint, args.task, args.num_episodes,
                                                             args.num_envs, args.seed, **video)
        else:
            source, result = args.exported, play_exported(args.exported, args.task, args.num_episodes,
                                                          args.num_envs, args.seed, **video)
    except (CheckpointError, ValueError) as exc:
        return fail(str(exc))
    print(f"{source} on {args.task} (seed {args.seed}, {args.num_envs} envs): {result.summary()}")
    if args.video is not None:
        print(f"video: {args.video}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
