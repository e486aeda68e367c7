"""Fine-tune the base network itself with RL and IN-RIL's gradient surgery (embedded backend).

    python scripts/train_full_network.py --task PegInHole-Low [--preset laptop] [--base_policy diffusion]
        [--num_envs N] [--seed S] [--max_iterations N] [--device cpu] [--base_checkpoint policy.pt]
        [--resume [RUN_DIR]] [full_network.il.surgery=pcgrad|dual_cone|none full_network.il.enabled=false
         full_network.il.interleave.m=10 full_network.actor_lr=1e-4
         dppo.ft_denoising_steps=5 dppo.min_sampling_std=0.1 gaussian.std=0.05 env.* base.* agent.*]

A diffusion base is fine-tuned with DPPO, a Gaussian one with full-network PPO. One IL update is
combined with every m-th RL update by gradient surgery (inril.algos.gradient_surgery.full_network_ppo); `full_network.il.enabled=false`
is RL only. The demos and base come from the main job's cached pipeline (train_residual.py), and the
env steps per iteration, PPO epochs and interleave schedule default to its residual PPO's. Writes
logs/inril/<task>/<date>_full_network/ (config.yaml, job.json, tensorboard events, model_<it>.pt every
agent.save_interval iterations, summary.json); `--resume` continues such a run after a crash, as residual runs do.
"""

from __future__ import annotations

import argparse
import sys

from inril.utils.cli import add_training_flags


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_flags(parser, default_task="PegInHole-Low")
    parser.set_defaults(distributed=False)
    args, overrides = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    from inril.apps.full_network import FULL_NETWORK
    from inril.apps.training import run_training

    return run_training(FULL_NETWORK, args, overrides)


if __name__ == "__main__":
    sys.exit(main())
