"""The separation ablation: how IL and RL updates should share a policy (the paper's Figure 9).

    python scripts/bench/separation_ablation.py [--task PegInHole-Low] [--seeds 0 1] [--iterations 30]
        [--eval_interval 5] [--variants rl_only,naive,pcgrad,dual_cone,network_separation]
        [--out logs/bench/separation_ablation] [overrides ...]

From one BC base (the laptop preset's, cached by the main job's pipeline) and the same seeds,
every variant trains for the same env steps and is evaluated on the same held-out env seeds:

    rl_only             full-network PPO on the base network, no IL updates
    naive               + one IL update every m RL updates, gradients simply added
    pcgrad, dual_cone   + the same IL updates with gradient surgery
    network_separation  residual PPO on a base updated only by the IL updates (IN-RIL's other mode)

Full-network PPO is DPPO on a diffusion base and Gaussian PPO on the laptop's Gaussian base
(`--base_policy diffusion` switches). Writes curves to DIR/curves.json and DIR/success_vs_steps.png
and prints each variant's final success with its ratio to RL-only's (> 1: better than RL-only).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inril.algos.gradient_surgery.actors import make_full_network_actor
from inril.algos.gradient_surgery.config import FullNetworkPPOConfig
from inril.algos.gradient_surgery.gaussian_actor import GaussianPPOConfig
from inril.apps.bench import job_and_base, plot_success_curves, write_row
from inril.apps.full_network import FullNetworkJob, build_full_network_ppo, full_network_defaults
from inril.apps.residual import build_runner
from inril.interleave.surgery import METHODS

VARIANTS = {"rl_only": "RL only", "naive": "naive interleave", "pcgrad": "PCGrad", "dual_cone": "dual cone",
            "network_separation": "network separation (residual)"}


@dataclass
class AblationSettings:
    iterations: int
    eval_interval: int
    actor_lr: float
    std: float


def full_network_config(job, variant: str, settings: AblationSettings) -> FullNetworkPPOConfig:
    """The job's full-network defaults (matched to its residual PPO) with this variant's IL mode."""
    cfg = full_network_defaults(job)
    cfg.actor_lr, cfg.eval_interval = settings.actor_lr, settings.eval_interval
    cfg.il.enabled, cfg.il.surgery = variant != "rl_only", variant if variant in METHODS else "none"
    return cfg


def run_variant(job, base, demos, variant: str, seed: int, settings: AblationSettings,
                device: str) -> list[tuple[int, float]]:
    job = copy.deepcopy(job)
    job.env.seed, job.agent.max_iterations, job.agent.eval_interval = seed, settings.iterations, settings.eval_interval
    if variant == "network_separation":
        job.agent.base = "bc"
        trainer = build_runner(job, copy.deepcopy(base), demos, None, device)
    else:
        actor = make_full_network_actor(base, FullNetworkJob(gaussian=GaussianPPOConfig(std=settings.std)))
        trainer = build_full_network_ppo(job, actor, full_network_config(job, variant, settings), demos, None, device)
    start = trainer.evaluate_fn(trainer)
    trainer.learn(settings.iterations)
    return [(0, start.success_rate)] + [(row["env_steps"], row["success_rate"]) for row in trainer.eval_history]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="PegInHole-Low")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--preset", default="laptop")
    parser.add_argument("--base_policy", default=None, help="diffusion: DPPO instead of Gaussian PPO")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated subset of {','.join(VARIANTS)}")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--eval_interval", type=int, default=5)
    parser.add_argument("--actor_lr", type=float, default=1e-4, help="full-network PPO's actor learning rate")
    parser.add_argument("--std", type=float, default=0.05, help="Gaussian PPO's exploration std (normalized)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="logs/bench/separation_ablation")
    parser.add_argument("overrides", nargs="*", help="train-job overrides (env.*, base.*, agent.*)")
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.eval_interval < 1 or args.iterations % args.eval_interval:
        parser.error("--iterations must be a positive multiple of --eval_interval")
    args.variants = args.variants.split(",")
    if unknown := set(args.variants) - set(VARIANTS):
        parser.error(f"unknown variants {sorted(unknown)}; known: {', '.join(VARIANTS)}")
    settings = AblationSettings(args.iterations, args.eval_interval, args.actor_lr, args.std)
    job, loaded, demos = job_and_base(args.task, args.preset, args.overrides, args.device, args.base_policy)
    curves: dict[str, list] = {variant: [] for variant in args.variants}
    for seed in args.seeds:  # seed-major, so a partial run still compares every variant
        for variant in args.variants:
            curves[variant].append(run_variant(job, loaded.policy, demos, variant, seed, settings, args.device))
            print(f"[{args.task} seed {seed}] {VARIANTS[variant]}: success " +
                  " ".join(f"{s:.2f}" for _, s in curves[variant][-1]), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "curves.json").write_text(json.dumps({"task": args.task, "seeds": args.seeds, "curves": curves,
                                                 "settings": vars(settings)}, indent=1))
    plot_success_curves({f"Separation ablation, {args.task}": {VARIANTS[v]: runs for v, runs in curves.items()}},
                        out / "success_vs_steps.png")
    finals = {v: float(np.mean([run[-1][1] for run in runs])) for v, runs in curves.items()}
    # Success averaged over every evaluation after the start: how much of the base a variant kept along the way.
    during = {v: float(np.mean([[s for _, s in run[1:]] for run in runs])) for v, runs in curves.items()}
    base_success = float(np.mean([run[0][1] for runs in curves.values() for run in runs]))
    print(f"{args.task}: base success {base_success:.3f} after 0 env steps")
    reference = finals.get("rl_only")
    for variant, final in finals.items():
        ratio = "" if not reference else f"  ratio to RL-only {final / reference:.2f}"
        print(f"  {VARIANTS[variant]:32s} final success {final:.3f}{ratio}  (mean over the run {during[variant]:.3f})")
    write_row(out / "results.jsonl", "separation_ablation", {"task": args.task, "seeds": args.seeds,
                                                             "base_success": base_success, "final_success": finals,
                                                             "mean_success_during": during,
                                                             "settings": vars(settings)})
    print(f"wrote {out / 'curves.json'} and {out / 'success_vs_steps.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
