"""The residual-PPO agent config and rsl-rl-lib's OnPolicyRunner with IN-RIL attached.

`AgentConfig` is a typed, validated dataclass that becomes the dict rsl-rl-lib 5's runner takes
(`actor`, `critic`, `algorithm`, `obs_groups`, ...) through `to_rsl_rl()`; the IN-RIL parts
(base mode, IL optimizer, interleave schedule, residual scale) stay out of that dict and are
attached to the algorithm after construction. The runner's loop, checkpoint layout
(`model_<it>.pt`) and log directory are rsl-rl-lib's; we add the IN-RIL scalars to its logger.
Checkpoints are written atomically and verified when read (`read_checkpoint`); a resume starts from
the newest one that verifies (`newest_valid_checkpoint`).
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.distributed as dist
from rsl_rl.runners import OnPolicyRunner
from rsl_rl.utils.logger import Logger

from inril.algos.bc import BCConfig
from inril.algos.common.diagnostics import report_iteration
from inril.algos.network_separation.ppo import InrilPPO, Interleaving
from inril.algos.common.checkpoints import read_checkpoint
from inril.data.windows import WindowSampler
from inril.residual.env import ResidualConfig, ResidualVecEnv
from inril.interleave.schedule import InterleaveConfig, InterleaveScheduler
from inril.algos.network_separation.base_updater import BaseUpdater
from inril.policies.base import Policy
from inril.policies.diffusion import DiffusionPolicy
from inril.policies.gaussian import GaussianPolicy
from inril.utils.io import atomic_torch_save

BASE_MODES = ("bc", "frozen")


@dataclass
class PPOConfig:
    """rsl-rl-lib 5 PPO arguments (defaults follow ResiP where the two map onto each other)."""

    num_learning_epochs: int = 5
    num_mini_batches: int = 4
    clip_param: float = 0.2
    gamma: float = 0.99
    lam: float = 0.95
    value_loss_coef: float = 1.0
    entropy_coef: float = 0.0  # ResiP: no entropy bonus, exploration comes from the fixed std
    learning_rate: float = 3e-4
    max_grad_norm: float = 1.0
    schedule: str = "adaptive"  # rsl-rl's KL-adaptive learning rate, or "fixed"
    desired_kl: float = 0.01
    critic_learning_rate: float | None = None  # None: the critic shares learning_rate (rsl-rl's one optimizer)

    def __post_init__(self):
        if self.num_learning_epochs < 1 or self.num_mini_batches < 1:
            raise ValueError("ppo num_learning_epochs and num_mini_batches must be >= 1")
        if not 0 < self.gamma <= 1 or not 0 <= self.lam <= 1:
            raise ValueError(f"ppo needs 0 < gamma <= 1 and 0 <= lam <= 1, got {self.gamma}, {self.lam}")
        if self.learning_rate <= 0 or self.clip_param <= 0 or self.max_grad_norm <= 0:
            raise ValueError("ppo learning_rate, clip_param and max_grad_norm must be > 0")
        if self.schedule not in ("adaptive", "fixed"):
            raise ValueError(f"ppo schedule must be 'adaptive' or 'fixed', got {self.schedule!r}")
        if self.critic_learning_rate is not None and (self.critic_learning_rate <= 0 or self.schedule != "fixed"):
            raise ValueError("ppo critic_learning_rate must be > 0 and needs schedule 'fixed' (the KL-adaptive "
                             "schedule sets one rate for actor and critic)")


@dataclass
class MLPConfig:
    hidden_dims: list[int] = field(default_factory=lambda: [256, 256])
    activation: str = "relu"

    def __post_init__(self):
        if not self.hidden_dims or any(h < 1 for h in self.hidden_dims):
            raise ValueError(f"hidden_dims must be positive, got {self.hidden_dims}")


@dataclass
class AgentConfig:
    """Everything that defines a residual-PPO run on top of a base policy."""

    base: str = "bc"  # "bc": IN-RIL network separation; "frozen": plain residual PPO (the RL-only baseline)
    num_steps_per_env: int = 50
    max_iterations: int = 100
    save_interval: int = 10
    eval_interval: int = 10  # iterations between deterministic evaluations (0 disables)
    eval_episodes: int = 32
    # Episodes of the base-alone and final evaluations, which the run's summary pairs episode by episode;
    # more than the periodic ones, since that comparison is the run's result. None: eval_episodes.
    final_eval_episodes: int | None = None
    residual: ResidualConfig = field(default_factory=ResidualConfig)
    interleave: InterleaveConfig = field(default_factory=InterleaveConfig)
    # The base's IL optimizer during RL (ResiP's prototype: AdamW 5e-5, grad clip 1, batch 1024).
    il: BCConfig = field(default_factory=lambda: BCConfig(lr=5e-5, warmup_steps=0, lr_schedule="constant"))
    # On CUDA, queue the IL updates on a side stream so they overlap PPO's updates (False: in line on the default
    # stream, the same updates; bench/gpu_suite.py measures the overlap against it). No effect on CPU.
    il_side_stream: bool = True
    ppo: PPOConfig = field(default_factory=PPOConfig)
    actor: MLPConfig = field(default_factory=MLPConfig)
    critic: MLPConfig = field(default_factory=MLPConfig)
    init_std: float = math.exp(-1.0)  # residual exploration std (ResiP: init_logstd -1)
    learn_std: bool = False
    logger: str = "tensorboard"  # or "wandb" (needs the wandb extra)
    # Consecutive optimizer steps (PPO or IL) with a non-finite loss or gradient, each skipped, that stop the run.
    max_nonfinite_streak: int = 10

    def __post_init__(self):
        if self.base not in BASE_MODES:
            raise ValueError(f"base must be one of {BASE_MODES}, got {self.base!r}")
        for name in ("num_steps_per_env", "max_iterations", "save_interval", "eval_episodes", "max_nonfinite_streak"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.final_eval_episodes is not None and self.final_eval_episodes < 1:
            raise ValueError(f"final_eval_episodes must be >= 1 or None, got {self.final_eval_episodes}")
        if self.eval_interval < 0:
            raise ValueError(f"eval_interval must be >= 0, got {self.eval_interval}")
        if self.init_std <= 0:
            raise ValueError(f"init_std must be > 0, got {self.init_std}")
        if self.logger not in ("tensorboard", "wandb"):
            raise ValueError(f"logger must be 'tensorboard' or 'wandb', got {self.logger!r}")

    def to_rsl_rl(self) -> dict:
        """The train_cfg dict rsl-rl-lib 5's OnPolicyRunner takes."""
        return {
            "num_steps_per_env": self.num_steps_per_env,
            "save_interval": self.save_interval,
            "obs_groups": {"actor": ["policy", "base_action"], "critic": ["policy", "base_action"]},
            "actor": {
                "class_name": "inril.residual.actor:ResidualActor",
                "hidden_dims": list(self.actor.hidden_dims),
                "activation": self.actor.activation,
                "obs_normalization": False,  # inputs are already min-max normalized by the base's normalizer
                "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": self.init_std,
                                     "std_type": "log", "learn_std": self.learn_std},
            },
            "critic": {"class_name": "MLPModel", "hidden_dims": list(self.critic.hidden_dims),
                       "activation": self.critic.activation, "obs_normalization": False},
            "algorithm": {"class_name": "inril.algos.network_separation.ppo:InrilPPO", **vars(self.ppo)},
            "logger": self.logger if self.logger == "tensorboard" else {"class_name": "WandbLogWriter",
                                                                       "project_name": "inril"},
        }


class InrilLogger(Logger):
    """rsl-rl-lib's logger plus the IN-RIL diagnostics of each iteration under `INRIL/`."""

    def __init__(self, alg: InrilPPO, runner: InrilRunner, **kwargs):
        super().__init__(**kwargs)
        self.alg, self.runner = alg, runner

    def log(self, it: int, start_it: int, total_it: int, collect_time: float, learn_time: float,
            loss_dict: dict, learning_rate: float, action_std: torch.Tensor, rnd_weight, **kwargs) -> None:
        super().log(it, start_it, total_it, collect_time, learn_time, loss_dict, learning_rate, action_std,
                    rnd_weight, **kwargs)
        if self.disable_logs:  # another rank than 0 of a multi-process run: rank 0 logs and evaluates
            self.runner.env.base_inference_timer.reset()
        else:
            scalars = self.runner.iteration_scalars(it, collect_time)
            if self.writer is not None:
                report_iteration(self.writer, scalars, it)
        self.runner.stop_if_diverged(it)


class NonFiniteTrainingError(RuntimeError):
    """Training stopped: too many consecutive updates had a non-finite loss or gradient."""


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
        self.alg.attach(Interleaving(InterleaveScheduler(agent.interleave), updater, env))
        self.val_demos, self.evaluate_fn = val_demos, evaluate
        self.logger = InrilLogger(
            self.alg, self, log_dir=log_dir, cfg=self.cfg, env_cfg=env.cfg, num_envs=env.num_envs,
            is_distributed=self.is_distributed, gpu_world_size=self.gpu_world_size,
            gpu_global_rank=self.gpu_global_rank, device=device,
        )
        self.eval_history: list[dict] = []
        self.last_iteration_scalars: dict[str, float] = {}  # the newest iteration's diagnostics, as logged

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
        interval = self.agent.eval_interval
        if self.evaluate_fn is not None and interval and ((it + 1) % interval == 0 or it == 0):
            result = self.evaluate_fn(self)
            env_steps = (it + 1) * self.cfg["num_steps_per_env"] * self.env.num_envs
            self.eval_history.append({"iteration": it, "env_steps": env_steps, **result.as_dict()})
            scalars.update({f"eval/{k}": v for k, v in result.as_dict().items()})
        self.last_iteration_scalars = scalars
        return scalars

    def _configure_multi_gpu(self) -> None:
        """rsl-rl-lib's multi-process setup, extended to CPU processes.

        Under torchrun (WORLD_SIZE > 1) CUDA runs take rsl-rl-lib's own path (NCCL, device
        cuda:<LOCAL_RANK>); CPU runs join a gloo group. A process group initialised earlier (train.py
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
        saved["iter"] = self.current_learning_iteration
        saved["infos"] = infos
        saved["rng_states"] = self._rng_states()
        saved["eval_history"] = self.eval_history
        saved["logger_state"] = {"tot_timesteps": self.logger.tot_timesteps, "tot_time": self.logger.tot_time}
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
        loaded = read_checkpoint(path, map_location or self.device)
        if self.alg.load(loaded, load_cfg, strict):
            self.current_learning_iteration = loaded["iter"] + 1
        if "base_state_dict" in loaded:
            self.env.base.load_state_dict(loaded["base_state_dict"])
        self._set_rng_states(loaded["rng_states"])
        self.eval_history = list(loaded["eval_history"])
        self.logger.tot_timesteps = loaded["logger_state"]["tot_timesteps"]
        self.logger.tot_time = loaded["logger_state"]["tot_time"]
        return loaded["infos"]

    def _generators(self) -> dict[str, torch.Generator]:
        updater = self.alg.interleaving.updater
        return {} if updater is None else {"il_batches": updater.bc.generator}

    def _rng_states(self) -> dict:
        # numpy's key array is stored as a tensor so checkpoints load with weights_only=True.
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        states = {"torch": torch.get_rng_state(), "python": random.getstate(),
                  "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
                  **{name: g.get_state() for name, g in self._generators().items()}}
        if torch.cuda.is_available():
            states["cuda"] = torch.cuda.get_rng_state_all()
        return states

    def _set_rng_states(self, states: dict) -> None:
        # Generator states are CPU byte tensors whatever map_location moved them to.
        torch.set_rng_state(states["torch"].cpu())
        random.setstate(states["python"])
        kind, keys, pos, has_gauss, cached = states["numpy"]
        np.random.set_state((kind, keys.cpu().numpy().astype(np.uint32), pos, has_gauss, cached))
        for name, generator in self._generators().items():
            generator.set_state(states[name].cpu())
        if "cuda" in states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([state.cpu() for state in states["cuda"]])

    def _deploy_info(self) -> dict:
        base: Policy = self.env.base
        return {"task": self.task, "policy_name": policy_registry_name(base), "policy_cfg": asdict(base.cfg),
                "residual": asdict(self.env.residual_cfg), "actor": dict(self.cfg["actor"]),
                "actor_obs_groups": list(self.cfg["obs_groups"]["actor"]),
                **({} if self.obs_layout is None else {"obs_layout": [[n, d] for n, d in self.obs_layout]})}


def policy_registry_name(policy: Policy) -> str:
    """The inril.policies registry name that rebuilds `policy` (gaussian and gaussian_chunked share a class)."""
    if isinstance(policy, DiffusionPolicy):
        return "diffusion"
    if isinstance(policy, GaussianPolicy):
        return "gaussian" if policy.cfg.pred_horizon == 1 else "gaussian_chunked"
    raise TypeError(f"no registry name for {type(policy).__name__}")
