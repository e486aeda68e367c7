"""Evaluate a trained policy on the embedded MuJoCo backend and print its success rate.

    python scripts/play.py --checkpoint logs/inril/<task>/<run>/model_<it>.pt --task PegInHole-Low --num_episodes 100
    python scripts/play.py --exported exported/ --task PegInHole-Low --num_episodes 100 [--seed S] [--num_envs N]
    python scripts/play.py --expert --task Lamp-Low --num_episodes 100 [--video expert.mp4]

--checkpoint takes a residual-PPO runner checkpoint (base + residual mean, run through the same
ResidualVecEnv as training) or a BC policy.pt (base alone); --exported takes an export_policy.py
directory and runs its policy.pt; --expert runs the task's scripted expert (the demos' source, seeded by
--seed). Either way the episodes go through inril.eval, the evaluation the trainer runs, with deterministic
DDIM: the same checkpoint, --seed and --num_envs give the same episodes and the same success rate. The
trainer's periodic evaluation uses seed env.seed + 10000 and env.eval_num_envs envs. The policy is fed its own
observation layout: the task's terms reordered by name where it orders them differently (a term missing or of
another size is one error line naming both layouts). Prints the success rate with its 95% Wilson interval.
--video writes an MP4 of the first --video_envs envs (tiled in a 640 x 480 frame) for the first --video_length
steps; with --keep_going episodes run on to their time limit after success (the env ends them on success
otherwise), so a video shows what happens after the assembly (the scripted expert lets go and backs off).

Not yet here: the Isaac Lab backend (play runs on the embedded backend).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from inril.backends.mujoco import make_env
from inril.backends.mujoco.collect import evaluate_expert
from inril.backends.mujoco.render import RecordingVecEnv, VideoRecorder
from inril.backends.wrappers import ReorderedObsEnv
from inril.data.groups import POLICY_GROUP
from inril.eval import EvalResult, evaluate, evaluate_policy, evaluate_residual
from inril.export import load_deployable, load_exported
from inril.policies.checkpoint import CheckpointError
from inril.residual.env import ResidualVecEnv
from inril.tasks.registry import get_task
from inril.utils.cli import fail


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None, help="runner model_<it>.pt or a BC policy.pt")
    parser.add_argument("--exported", type=Path, default=None, help="a directory written by export_policy.py")
    parser.add_argument("--expert", action="store_true", help="run the task's scripted expert")
    parser.add_argument("--task", required=True, help="task name, e.g. PegInHole-Low")
    parser.add_argument("--num_episodes", type=int, default=100)
    parser.add_argument("--num_envs", type=int, default=16, help="envs stepped in parallel")
    parser.add_argument("--seed", type=int, default=0, help="env seed (the trainer evaluates with env.seed + 10000)")
    parser.add_argument("--video", type=Path, default=None, metavar="FILE.mp4", help="record the first envs to an MP4")
    parser.add_argument("--video_length", type=int, default=None, help="steps to record (default: one episode)")
    parser.add_argument("--video_envs", type=int, default=4, help="envs to record (default 4; 1 shows one larger)")
    parser.add_argument("--keep_going", action="store_true", help="do not end episodes on success")
    return parser.parse_args(argv)


VIDEO_FRAME = (640, 480)  # pixels; the recorded envs' tiles share it


def eval_env(task: str, num_envs: int, seed: int, obs_index: list[int] | None = None, video: Path | None = None,
             video_length: int | None = None, video_envs: int = 4, keep_going: bool = False):
    """The env play evaluates in: the embedded env, recording its first `video_envs` envs when `video` is given,
    with its observation terms reordered into the policy's layout when `obs_index` says so (see check_task)."""
    env = make_env(task, num_envs, seed, terminate_on_success=not keep_going)
    if video is not None:
        ids = range(min(video_envs, num_envs))
        cols = math.ceil(math.sqrt(len(ids)))
        rows = math.ceil(len(ids) / cols)
        tile = (VIDEO_FRAME[0] // cols // 2 * 2, VIDEO_FRAME[1] // rows // 2 * 2)  # even sizes for H.264
        recorder = VideoRecorder(env, video, env_ids=ids, width=tile[0], height=tile[1])
        env = RecordingVecEnv(env, recorder, video_length or int(env.max_episode_length))
    return env if obs_index is None else ReorderedObsEnv(env, obs_index)


def play_checkpoint(path: Path, task: str, num_episodes: int, num_envs: int, seed: int, **video) -> EvalResult:
    """Evaluate a checkpoint in the library, as the trainer does."""
    deployable = load_deployable(path)
    env = eval_env(task, num_envs, seed, deployable.check_task(task), **video)
    success_return = len(get_task(task).pairs)
    try:
        if deployable.actor is None:
            return evaluate_policy(deployable.base, env, num_episodes, success_return)
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
        return evaluate(env, lambda obs: policy(obs[POLICY_GROUP]), num_episodes, len(get_task(task).pairs),
                        on_reset=policy.reset)
    finally:
        env.close()


def play_expert(task: str, num_episodes: int, num_envs: int, seed: int, **video) -> EvalResult:
    """Evaluate the task's scripted expert, noisy as when it writes demos (collect_demos.py with --seed)."""
    env = eval_env(task, num_envs, seed, **video)
    try:
        return evaluate_expert(env, num_episodes, seed)
    finally:
        env.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if (args.checkpoint is not None) + (args.exported is not None) + args.expert != 1:
        return fail("give exactly one of --checkpoint PATH, --exported DIR or --expert")
    if args.num_episodes < 1 or args.num_envs < 1:
        return fail(f"--num_episodes and --num_envs must be >= 1, got {args.num_episodes} and {args.num_envs}")
    if args.video_length is not None and args.video_length < 1:
        return fail(f"--video_length must be >= 1, got {args.video_length}")
    if args.video_envs < 1:
        return fail(f"--video_envs must be >= 1, got {args.video_envs}")
    if args.video is not None and args.video.suffix != ".mp4":
        return fail(f"--video must name an .mp4 file, got {args.video}")
    video = {"video": args.video, "video_length": args.video_length, "video_envs": args.video_envs,
             "keep_going": args.keep_going}
    try:
        get_task(args.task)
        if args.expert:
            source, result = "scripted expert", play_expert(args.task, args.num_episodes, args.num_envs, args.seed,
                                                            **video)
        elif args.checkpoint is not None:
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
