"""Multi-process training with torch.distributed: two CPU processes with gloo on loopback."""

from __future__ import annotations

import socket

import torch
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, tmp: str, results) -> None:
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from test_residual_ppo import make_runner

    # Different seeds per rank also give the ranks different initial residual/critic weights, so
    # identical weights afterwards prove the broadcast at the start and the gradient all-reduce.
    torch.manual_seed(100 + rank)
    runner = make_runner(f"{tmp}/rank{rank}", "bc", m=2, seed=rank)
    runner.learn(2)
    updater = runner.alg.interleaving.updater
    flat = lambda module: torch.cat([p.detach().flatten() for p in module.parameters()])  # noqa: E731
    results[rank] = {
        "actor": flat(runner.alg.actor), "critic": flat(runner.alg.critic), "base": flat(updater.learner),
        "acting": flat(runner.env.base), "il_updates": updater.num_updates,
        "env_seed": runner.env.env.cfg.seed, "first_obs": runner.env.env.get_observations()["policy"][0].clone(),
        "checkpoints": sorted(os.listdir(f"{tmp}/rank{rank}")) if os.path.isdir(f"{tmp}/rank{rank}") else [],
    }
    torch.distributed.destroy_process_group()


def test_two_gloo_processes_end_with_identical_parameters_and_different_env_seeds(tmp_path):
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_worker, args=(2, _free_port(), str(tmp_path), results), nprocs=2, join=True)
        r0, r1 = dict(results[0]), dict(results[1])
    for key in ("actor", "critic", "base", "acting"):
        assert torch.equal(r0[key], r1[key]), f"{key} differs across ranks"
    assert r0["il_updates"] == r1["il_updates"] > 0
    assert r0["env_seed"] != r1["env_seed"] and not torch.equal(r0["first_obs"], r1["first_obs"])
    assert any(name.startswith("model_") for name in r0["checkpoints"])  # rank 0 checkpoints ...
    assert not any(name.startswith("model_") for name in r1["checkpoints"])  # ... the other rank does not
