"""Fine-tune the base network itself with RL and IN-RIL's gradient surgery (embedded backend).

    python scripts/train_full_network.py --task PegInHole-Low [--preset laptop] [--base_policy diffusion]
        [--num_envs N] [--seed S] [--max_iterations N] [--device cpu] [--base_checkpoint policy.pt]
        [fn.il.surgery=pcgrad|dual_cone|none fn.il.enabled=false fn.il.interleave.m=10 fn.actor_lr=1e-4
         dppo.ft_denoising_steps=5 dppo.min_sampling_std=0.1 gaussian.std=0.05 env.* base.* agent.*]

A diffusion base is fine-tuned with DPPO, a Gaussian one with full-network PPO. One IL update is
combined with every m-th RL update by gradient surgery (inril.algos.gradient_surgery.full_network_ppo); `fn.il.enabled=false`
is RL only. The demos and base come from the main job's cached pipeline (train_residual.py), and the
env steps per iteration, PPO epochs and interleave schedule default to its residual PPO's. Writes
logs/inril/<task>/<date>_full_network/ (config.yaml, tensorboard events, model_<it>.pt, summary.json).
"""

from __future__ import annotations

import argparse
import sys

from inril.utils.cli import add_demo_selection_flags


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="PegInHole-Low")
    parser.add_argument("--preset", default="laptop", help="laptop (2 CPU cores) or full (ResiP-sized)")
    parser.add_argument("--base_policy", default=None, help="gaussian_chunked (laptop default) or diffusion (DPPO)")
    parser.add_argument("--num_envs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max_iterations", type=int, default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--base_checkpoint", default=None, help="pre-trained base policy.pt (skips demos and BC)")
    add_demo_selection_flags(parser)
    parser.add_argument("--log_root", default="logs")
    parser.add_argument("--run_name", default="")
    args, overrides = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    from inril.train import run_full_network

    return run_full_network(args, overrides)


if __name__ == "__main__":
    sys.exit(main())
