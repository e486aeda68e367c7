"""rsl-rl-lib's OnPolicyRunner with IN-RIL attached (network separation: PPO on the residual, BC on the base).

The runner is built from `AgentConfig.to_rsl_rl()` (inril.algos.network_separation.config); the IN-RIL parts
(the base updater, the interleave schedule) are attached to InrilPPO after construction. The runner's loop,
checkpoint layout (`model_<it>.pt`) and log directory are rsl-rl-lib's; the end of each iteration
(inril.algos.common.iteration) adds the IN-RIL scalars, the periodic evaluation and the divergence check.
Checkpoints are written atomically and verified when read (`read_checkpoint`); a resume starts from
the newest one that verifies (`newest_valid_checkpoint`).
"""

from __future__ import annotations

import os
from dataclasses import asdict

import torch
import torch.distributed as dist
from rsl_rl.runners import OnPolicyRunner
from rsl_rl.utils.logger import Logger

from inril.algos.common.checkpoints import deployed_policy, read_checkpoint, restore_run_keys, run_keys
from inril.algos.common.iteration import PeriodicEvaluation, report_iteration
from inril.algos.common.step_guard import NonFiniteTrainingError
from inril.algos.network_separation.base_updater import BaseUpdater
from inril.algos.network_separation.config import AgentConfig
from inril.algos.network_separation.ppo import InrilPPO, Interleaving
from inril.data.windows import WindowSampler
from inril.interleave.schedule import InterleaveScheduler
from inril.residual.env import ResidualVecEnv
from inril.utils.io import atomic_torch_save


class InrilLogger(Logger):
    """rsl-rl-lib's logger, which hands the end of each iteration to the runner: OnPolicyRunner.learn calls
    nothing else between an iteration's update and its checkpoint."""

    def __init__(self, runner: InrilRunner, **kwargs):
        super().__init__(**kwargs)
        self.runner = runner

    def log(self, it: int, start_it: int, total_it: int, collect_time: float, learn_time: float,
            loss_dict: dict, learning_rate: float, action_std: torch.Tensor, rnd_weight, **kwargs) -> None:
        """rsl-rl-lib's per-iteration log, then `InrilRunner.end_iteration` (diagnostics, evaluation,
        divergence check)."""
        super().log(it, start_it, total_it, collect_time, learn_time, loss_dict, learning_rate, action_std,
                    rnd_weight, **kwargs)
        self.runner.end_iteration(it, collect_time)


class InrilRunner(OnPolicyRunner):
    """OnPolicyRunner over a ResidualVecEnv with InrilPPO, the base updater and evaluation.

    `task` and `obs_layout` (the (term, size) order the base and the residual read, see inril.data.layout)
    are recorded in checkpoints so that export and play can rebuild the deployed policy and feed it.
    """

    alg: InrilPPO

    def __init__(self, env: ResidualVecEnv, agent: AgentConfig, demos: WindowSampler | None,
                 val_demos: WindowSampler | None, log_dir: str | None, device: str = "cpu",
                 evaluate=None, seed: int = 0, task: str | None = None,
                 obs_layout: list[tuple[str, int]] | None = None):
        if agent.base == "bc" and demos is None:
            raise ValueError("base 'bc' needs demonstrations for its IL updates")
        self.agent, self.task, self.obs_layout = agent, task, obs_layout
        super().__init__(env, agent.to_rsl_rl(), log_dir, device)
        updater = BaseUpdater(env.base, demos, agent.il, seed=seed, side_stream=agent.il_side_stream) \
            if agent.base == "bc" else None
        self.alg.attach(Interleaving(InterleaveScheduler(agent.interleave), updater, env.residual_cfg))
        self.val_demos, self.evaluate_fn = val_demos, evaluate
        self.evaluation = PeriodicEvaluation(evaluate, agent.eval_interval)
        self.logger = InrilLogger(
            self, log_dir=log_dir, cfg=self.cfg, env_cfg=env.cfg, num_envs=env.num_envs,
            is_distributed=self.is_distributed, gpu_world_size=self.gpu_world_size,
            gpu_global_rank=self.gpu_global_rank, device=device,
        )
        self.last_iteration_scalars: dict[str, float] = {}  # the newest iteration's diagnostics, as logged
        self.iterations_done = 0  # completed iterations (rsl-rl's current_learning_iteration is an index)

    @property
    def eval_history(self) -> list[dict]:
        """The periodic evaluations so far, one dict per evaluation (saved in checkpoints)."""
        return self.evaluation.history

    def learn(self, num_learning_iterations: int, init_at_random_ep_len: bool = False) -> None:
        """rsl-rl-lib's training loop; afterwards `iterations_done` counts the completed iterations."""
        super().learn(num_learning_iterations, init_at_random_ep_len)
        self.iterations_done = self.current_learning_iteration + 1

    def end_iteration(self, it: int, collect_time: float) -> None:
        """After iteration `it`'s update, before its checkpoint: the diagnostics and the periodic evaluation
        (rank 0), then the divergence check (every rank). Raises NonFiniteTrainingError."""
        if self.logger.disable_logs:  # another rank than 0 of a multi-process run: rank 0 logs and evaluates
            self.env.base_inference_timer.reset()
        else:
            scalars = self.iteration_scalars(it, collect_time)
            if self.logger.writer is not None:
                report_iteration(self.logger.writer, scalars, it)
        self.stop_if_diverged(it)

    def iteration_scalars(self, it: int, collect_time: float) -> dict[str, float]:
        """Diagnostics of the iteration just finished; runs the periodic evaluation."""
        env: ResidualVecEnv = self.env
        scalars = dict(self.alg.diagnostics)
        base_inference = env.base_inference_timer.seconds()
        scalars["time/base_inference"] = base_inference
        scalars["time/rollout"] = collect_time - base_inference
        scalars["time/ppo_update"] = scalars.pop("ppo_time")
        if "bc_time" in scalars:
            scalars["time/bc_update"] = scalars.pop("bc_time")
        env.base_inference_timer.reset()
        if self.alg.interleaving.updater is not None and self.val_demos is not None:
            scalars["bc_val_loss"] = self.alg.interleaving.updater.validation_loss(self.val_demos)
        scalars.update(self.evaluation.after_iteration(self, it, (it + 1) * self.cfg["num_steps_per_env"] * env.num_envs))
        self.last_iteration_scalars = scalars
        return scalars

    def _configure_multi_gpu(self) -> None:
        """rsl-rl-lib's multi-process setup, extended to CPU processes.

        Under torchrun (WORLD_SIZE > 1) CUDA runs take rsl-rl-lib's own path (NCCL, device
        cuda:<LOCAL_RANK>); CPU runs join a gloo group. A process group initialised earlier (apps/training.py
        does, so that rank 0 alone builds the cached demos and base) is reused. Every rank then runs
        its own envs, PPO and IL gradients are all-reduced, and rank 0 alone logs and checkpoints."""
        distributed = int(os.getenv("WORLD_SIZE", "1")) > 1
        if distributed and not dist.is_initialized() and torch.device(self.device).type == "cpu":
            dist.init_process_group("gloo")
        if not dist.is_initialized():
            super()._configure_multi_gpu()
            return
        self.gpu_world_size, self.gpu_global_rank = dist.get_world_size(), dist.get_rank()
        self.gpu_local_rank = int(os.getenv("LOCAL_RANK", "0"))
        self.is_distributed = self.gpu_world_size > 1
        self.cfg["multi_gpu"] = {"global_rank": self.gpu_global_rank, "local_rank": self.gpu_local_rank,
                                 "world_size": self.gpu_world_size} if self.is_distributed else None
        if torch.device(self.device).type == "cuda":
            if self.device != f"cuda:{self.gpu_local_rank}":
                raise ValueError(f"device {self.device!r} does not match local rank {self.gpu_local_rank}")
            torch.cuda.set_device(self.gpu_local_rank)

    def stop_if_diverged(self, it: int) -> None:
        """After iteration `it`: stop when an optimizer skipped `max_nonfinite_streak` steps in a row.

        Skipped steps never touch the weights, so the current state is the last good one: it is saved
        as this iteration's checkpoint (resuming continues after it) and named in the error."""
        streak, which = self.alg.worst_nonfinite_streak()
        if streak < self.agent.max_nonfinite_streak:
            return
        where = "no checkpoint written (no log directory)" if self.gpu_global_rank == 0 else "rank 0 checkpoints"
        if self.logger.log_dir is not None and self.gpu_global_rank == 0:
            path = os.path.join(self.logger.log_dir, f"model_{it}.pt")
            self.save(path)
            where = f"last good checkpoint: {path}"
        raise NonFiniteTrainingError(
            f"stopped at iteration {it}: {streak} consecutive {which} updates had a non-finite loss or gradient "
            f"(each was skipped, the weights are untouched); {where}")

    def save(self, path: str, infos: dict | None = None) -> None:
        """Atomic checkpoint with RNG states: a crash mid-write leaves the previous file intact.

        Besides rsl-rl's keys it holds everything a resume and a deployment need: RNG states (global
        and the IL-batch generator), the logger's counters, and under `deploy`
        the task, base policy config, residual config and actor config (see `deployed_base_state`
        for the base weights)."""
        saved = self.alg.save()
        saved.update(run_keys("residual_ppo", self.current_learning_iteration, self._generators(), self.eval_history,
                              self.logger))
        saved["infos"] = infos
        saved["deploy"] = self._deploy_info()
        if self.alg.interleaving.updater is None:  # with base=bc the acting base is in base_updater_state_dict
            saved["base_state_dict"] = self.env.base.state_dict()
        atomic_torch_save(saved, path)
        self.logger.save_model(path, self.current_learning_iteration)

    def load(self, path: str, load_cfg: dict | None = None, strict: bool = True, map_location: str | None = None):
        """Resume from a verified checkpoint (see `read_checkpoint`): models, optimizers, normalizers,
        schedule, RNG states and counters. rsl-rl stores the index of the last *completed*
        iteration, so training continues after it. Tensors map to `map_location` (default: the runner's
        device), so a run written on a GPU resumes on a CPU."""
        loaded = read_checkpoint(path, map_location or self.device, "residual_ppo")
        if self.alg.load(loaded, load_cfg, strict):
            self.current_learning_iteration = loaded["iter"] + 1
        if "base_state_dict" in loaded:
            self.env.base.load_state_dict(loaded["base_state_dict"])
        self.evaluation.history = restore_run_keys(loaded, self._generators(), self.logger)
        self.iterations_done = loaded["iter"] + 1
        return loaded["infos"]

    def _generators(self) -> dict[str, torch.Generator]:
        updater = self.alg.interleaving.updater
        return {} if updater is None else {"il_batches": updater.bc.generator}

    def _deploy_info(self) -> dict:
        return {**deployed_policy(self.task, self.env.base, self.obs_layout), "residual": asdict(self.env.residual_cfg),
                "actor": dict(self.cfg["actor"]), "actor_obs_groups": list(self.cfg["obs_groups"]["actor"])}

