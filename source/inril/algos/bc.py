"""Behaviour cloning: the IL update of IN-RIL and the pre-training loop built from it.

`BCLearner.step()` is exactly one IL update in the sense of docs/design.md ("Definitions"): one optimizer step of the
BC loss on one demo batch. Pre-training calls it N times; IN-RIL's interleaving calls it once
every m RL updates against the base policy's learner copy.
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from inril.data.demos import DemoSet, split_episodes
from inril.data.windows import WindowSampler
from inril.policies import make_policy
from inril.policies.base import Policy
from inril.policies.checkpoint import save_policy
from inril.policies.normalizer import MinMaxNormalizer
from inril.utils.config import to_yaml


@dataclass
class BCConfig:
    """One BC optimizer: AdamW with warmup then cosine (pre-training) or constant (IL during RL)."""

    lr: float = 1e-4
    weight_decay: float = 1e-6
    batch_size: int = 256
    grad_clip: float = 1.0
    warmup_steps: int = 500
    lr_schedule: str = "cosine"  # "cosine" decays to 0 over the learner's total_steps; "constant" keeps lr
    # EMA of the weights, the policy that gets evaluated and saved (Diffusion Policy's recipe); 0 disables.
    ema_decay: float = 0.0

    def __post_init__(self):
        if self.lr <= 0:
            raise ValueError(f"bc lr must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"bc weight_decay must be >= 0, got {self.weight_decay}")
        if self.batch_size < 1:
            raise ValueError(f"bc batch_size must be >= 1, got {self.batch_size}")
        if self.grad_clip <= 0:
            raise ValueError(f"bc grad_clip must be > 0, got {self.grad_clip}")
        if self.warmup_steps < 0:
            raise ValueError(f"bc warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"bc lr_schedule must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"bc ema_decay must be in [0, 1), got {self.ema_decay}")


def bc_loss(policy: Policy, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """The policy's BC loss on a raw demo batch (normalized with the policy's own normalizers)."""
    return policy.compute_loss(policy.obs_normalizer(obs), policy.action_normalizer.normalize(actions))


@torch.no_grad()
def held_out_loss(policy: Policy, sampler: WindowSampler, batch_size: int = 1024, seed: int = 0) -> float:
    """Mean BC loss of `policy` over every window of `sampler`, with fixed noise draws so that
    successive evaluations are comparable (the diffusion loss samples noise and steps)."""
    was_training = policy.training
    policy.eval()
    total, count = 0.0, 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for obs, actions in sampler.batches(batch_size):
            total += bc_loss(policy, obs, actions).item() * len(obs)
            count += len(obs)
    policy.train(was_training)
    return total / count


class BCLearner:
    """Owns the optimizer, schedule and EMA of one policy trained by BC on one window sampler."""

    def __init__(
        self,
        policy: Policy,
        sampler: WindowSampler,
        cfg: BCConfig,
        total_steps: int | None = None,
        generator: torch.Generator | None = None,
        reduce_grads: Callable[[list[torch.nn.Parameter]], None] | None = None,
    ):
        if cfg.lr_schedule == "cosine" and (total_steps is None or total_steps < 1):
            raise ValueError("a cosine BC schedule needs total_steps >= 1")
        self.policy, self.sampler, self.cfg, self.total_steps = policy, sampler, cfg, total_steps
        self.reduce_grads = reduce_grads  # e.g. an all-reduce over training processes, before clipping
        self.generator = generator
        # Fused (CPU and CUDA since torch 2.4): its step reads found_inf, so the non-finite guard of the
        # IL updates skips a step on the device, without a host sync (inril.algos.common.step_guard).
        self.optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.ema = copy.deepcopy(policy).requires_grad_(False) if cfg.ema_decay > 0 else None
        self.num_steps = 0

    def _lr_factor(self, step: int) -> float:
        if step < self.cfg.warmup_steps:
            return (step + 1) / self.cfg.warmup_steps
        if self.cfg.lr_schedule == "constant":
            return 1.0
        progress = min(1.0, (step - self.cfg.warmup_steps) / max(1, self.total_steps - self.cfg.warmup_steps))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    @property
    def eval_policy(self) -> Policy:
        """The weights to evaluate and save: the EMA copy when enabled."""
        return self.ema if self.ema is not None else self.policy

    def step(self) -> torch.Tensor:
        """One IL update: one optimizer step on one demo batch. Returns the detached batch loss as a
        tensor, so that a caller running this on a side CUDA stream is never forced to synchronise."""
        self.policy.train()
        obs, actions = self.sampler.sample(self.cfg.batch_size, self.generator)
        loss = bc_loss(self.policy, obs, actions)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.reduce_grads is not None:
            self.reduce_grads(list(self.policy.parameters()))
        torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.num_steps += 1
        if self.ema is not None:
            with torch.no_grad():
                ema_params, params = list(self.ema.parameters()), list(self.policy.parameters())
                torch._foreach_lerp_(ema_params, params, 1.0 - self.cfg.ema_decay)
        return loss.detach()

    def evaluate(self, sampler: WindowSampler, batch_size: int = 1024, seed: int = 0) -> float:
        """`held_out_loss` of the eval policy."""
        return held_out_loss(self.eval_policy, sampler, batch_size, seed)

    def state_dict(self) -> dict:
        """Policy weights, optimizer, LR scheduler, EMA weights (None without EMA) and the step count."""
        return {
            "policy": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "num_steps": self.num_steps,
        }

    def load_state_dict(self, state: dict) -> None:
        """Inverse of `state_dict()`."""
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.num_steps = state["num_steps"]


class NonFiniteLossError(RuntimeError):
    """BC pre-training reached a NaN or infinite loss; the weights after it are not worth keeping."""


@dataclass
class PretrainConfig:
    """Everything `pretrain_bc` needs beside the demos and the policy config."""

    steps: int = 50_000
    bc: BCConfig = field(default_factory=BCConfig)
    val_fraction: float = 0.1
    val_every: int = 1000
    log_every: int = 100
    obs_clip: float = 3.0  # normalized observations are clamped to [-obs_clip, obs_clip] (ResiP: 3)
    seed: int = 0

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.val_every < 1 or self.log_every < 1:
            raise ValueError("val_every and log_every must be >= 1")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.obs_clip <= 0:
            raise ValueError(f"obs_clip must be > 0, got {self.obs_clip}")


@dataclass
class PretrainResult:
    """What `pretrain` returns: the last logged train loss, the last held-out loss (None without a
    validation split), the logged rows (one dict per `log_every` / `val_every` step) and the last evaluation."""
    train_loss: float
    val_loss: float | None
    history: list[dict]
    eval_metrics: dict = field(default_factory=dict)


def split_samplers(
    demos: DemoSet, obs_horizon: int, pred_horizon: int, val_fraction: float, seed: int, device: str = "cpu"
) -> tuple[WindowSampler, WindowSampler | None]:
    """Training and validation window samplers over disjoint demo episodes: the demos' held-out episodes
    (a validation filter key) when they have them, else a `val_fraction` split seeded by `seed`. The
    validation sampler is None when no episode is held out."""
    if demos.held_out is not None:  # a validation filter key chose them (load_demos(val_filter_key=...))
        val_eps = demos.held_out
        train_eps = [i for i in range(demos.num_episodes) if i not in set(val_eps)]
    else:
        train_eps, val_eps = split_episodes(demos.num_episodes, val_fraction, seed)
    train = WindowSampler(demos, train_eps, obs_horizon, pred_horizon, device)
    val = WindowSampler(demos, val_eps, obs_horizon, pred_horizon, device) if val_eps else None
    return train, val


def pretrain(
    learner: BCLearner,
    cfg: PretrainConfig,
    val_sampler: WindowSampler | None,
    on_checkpoint: Callable[[Policy, int], None],
    evaluate: Callable[[Policy], dict] | None = None,
    log_dir: Path | None = None,
    progress: bool = True,
) -> PretrainResult:
    """Run `cfg.steps` BC updates, validating and checkpointing every `cfg.val_every` steps.

    `evaluate` is the optional hook that rolls the policy out in a VecEnv (see inril.eval).
    """
    writer = None
    if log_dir is not None:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(log_dir))
    history: list[dict] = []
    recent: list[float] = []
    val_loss, eval_metrics = None, {}
    bar = tqdm(range(cfg.steps), desc="BC pre-training", disable=not progress, dynamic_ncols=True)
    for _ in bar:
        loss = learner.step().item()
        step = learner.num_steps
        if not math.isfinite(loss):
            bar.close()
            if writer is not None:
                writer.close()
            raise NonFiniteLossError(f"BC loss is {loss} at step {step} (try a lower train.bc.lr); stopped")
        recent.append(loss)
        validate_now = step % cfg.val_every == 0 or step == cfg.steps
        if not (validate_now or step % cfg.log_every == 0):
            continue
        row = {"step": step, "train_loss": sum(recent) / len(recent), "lr": learner.scheduler.get_last_lr()[0]}
        recent.clear()
        if validate_now:
            if val_sampler is not None:
                val_loss = learner.evaluate(val_sampler, seed=cfg.seed)
                row["val_loss"] = val_loss
            if evaluate is not None:
                eval_metrics = evaluate(learner.eval_policy)
                row.update({f"eval/{k}": v for k, v in eval_metrics.items()})
            on_checkpoint(learner.eval_policy, step)
        history.append(row)
        bar.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k != "step"})
        if writer is not None:
            for key, value in row.items():
                if key != "step":
                    writer.add_scalar(key if "/" in key else f"bc/{key}", value, step)
    if writer is not None:
        writer.close()
    if log_dir is not None:
        (log_dir / "history.json").write_text(json.dumps(history, indent=1))
    return PretrainResult(history[-1]["train_loss"], val_loss, history, eval_metrics)


@dataclass
class PretrainJob:
    """The whole config of a pre-training run, as composed from defaults and Hydra overrides."""

    policy: Any  # the config dataclass of the chosen policy (see inril.policies.make_policy_config)
    train: PretrainConfig = field(default_factory=PretrainConfig)


@dataclass
class PretrainRun:
    """A ready-to-fit pre-training run: data split, normalizers fitted, policy and learner built."""

    job: PretrainJob
    policy_name: str
    demos: DemoSet
    learner: BCLearner
    val_sampler: WindowSampler | None

    def fit(self, out_dir: Path, progress: bool = True, evaluate: Callable[[Policy], dict] | None = None) -> PretrainResult:
        """Pre-train and write `out_dir` (absent or empty): policy.pt, config.yaml, tb/. The directory appears
        complete or not at all (written next to it, then renamed), so a run stopped by an exception, e.g.
        NonFiniteLossError, leaves nothing behind."""
        staging = out_dir.with_name(f".{out_dir.name}.{uuid.uuid4().hex[:8]}.partial")
        staging.mkdir(parents=True)
        try:
            (staging / "config.yaml").write_text(to_yaml(self.job))

            def checkpoint(policy: Policy, step: int) -> None:
                save_policy(staging / "policy.pt", policy, self.policy_name, self.demos.obs_layout,
                            self.demos.env_meta, extra={"bc_step": step, "demos": str(self.demos.path)})

            result = pretrain(self.learner, self.job.train, self.val_sampler, checkpoint, evaluate, staging / "tb",
                              progress)
            os.replace(staging, out_dir)  # out_dir is absent or an empty directory
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return result


def build_pretraining(job: PretrainJob, policy_name: str, demos: DemoSet, device: str = "cpu") -> PretrainRun:
    """Split demos by episode, fit the frozen normalizers on the training split, build the policy."""
    cfg = job.policy
    if (cfg.obs_dim, cfg.action_dim) != (demos.obs_dim, demos.action_dim):
        raise ValueError(
            f"policy dims (obs {cfg.obs_dim}, action {cfg.action_dim}) do not match the demos "
            f"(obs {demos.obs_dim}, action {demos.action_dim})"
        )
    train, val = split_samplers(demos, cfg.obs_horizon, cfg.pred_horizon, job.train.val_fraction, job.train.seed, device)
    obs_norm = MinMaxNormalizer.fit(train.observations, clip=job.train.obs_clip)
    act_norm = MinMaxNormalizer.fit(train.actions)
    torch.manual_seed(job.train.seed)
    policy = make_policy(policy_name, cfg, obs_norm, act_norm).to(device)
    generator = torch.Generator(device=device).manual_seed(job.train.seed)
    learner = BCLearner(policy, train, job.train.bc, total_steps=job.train.steps, generator=generator)
    return PretrainRun(job, policy_name, demos, learner, val)
