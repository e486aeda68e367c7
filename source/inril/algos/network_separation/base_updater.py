"""IL updates of the base policy on a learner copy, off the rollout's path.

Network separation keeps two copies of the base diffusion policy:

- the acting copy, which the env wrapper samples chunks from during rollouts;
- the learner copy, which receives the BC optimizer steps the interleave schedule asks for.

IL updates run against the learner copy only, so a rollout never reads half-written weights. At
each iteration boundary `sync()` waits for the pending IL updates and copies the learner weights
into the acting copy. On CUDA the IL updates are queued on their own stream, so they overlap
with PPO's minibatch updates on the default stream (`side_stream=False` queues them in line on the
default stream instead, which is what the side stream's overlap is measured against); on CPU they
run in line. Which IL updates run, in which order and against which weights is the same on all.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

import torch
import torch.distributed as dist
from rsl_rl.utils import reduce_gradients_in_buckets

from inril.algos.bc import BCConfig, BCLearner
from inril.data.windows import WindowSampler
from inril.policies.base import Policy


def distributed_grad_mean() -> Callable[[list[torch.nn.Parameter]], None] | None:
    """Averages gradients over the training processes (rsl-rl-lib's bucketed all-reduce), or None
    when this process trains alone. Each rank samples its own demo batches: one IL update then
    uses world_size batches, like PPO's minibatch across ranks."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return None
    world = dist.get_world_size()
    return lambda params: reduce_gradients_in_buckets(params, world, bucket_mb=25)


class BaseUpdater:
    """The base's IL side of network separation: an acting copy (`acting`, read by the env wrapper during
    rollouts) and a learner copy (`learner`, a deep copy that `il_update` trains with BC); `sync()` copies the
    learner into the acting copy at the iteration boundary. Raises ValueError when `cfg.ema_decay` is set (IL
    updates during RL train the learner directly). `seed` seeds the demo-batch generator; `side_stream`: see
    the module docstring."""
    def __init__(self, acting: Policy, sampler: WindowSampler, cfg: BCConfig, seed: int = 0, side_stream: bool = True):
        if cfg.ema_decay:
            raise ValueError("IL updates during RL train the learner copy directly; set ema_decay to 0")
        self.acting = acting
        self.learner = copy.deepcopy(acting).train()
        device = acting.obs_normalizer.low.device
        generator = torch.Generator(device=device).manual_seed(seed)
        self.bc = BCLearner(self.learner, sampler, cfg, generator=generator, reduce_grads=distributed_grad_mean())
        self.stream = torch.cuda.Stream(device=device) if side_stream and device.type == "cuda" else None
        self._loss_sum = torch.zeros((), device=device)
        self._pending = 0  # IL updates since the last sync
        self.time = 0.0  # host seconds spent issuing IL updates since the last sync

    @property
    def num_updates(self) -> int:
        """IL updates (BC optimizer steps) run since construction or the last load, skipped ones included."""
        return self.bc.num_steps

    def il_update(self, count: int = 1) -> None:
        """Run `count` BC optimizer steps on the learner copy (queued on the side stream, if there is one)."""
        start = time.perf_counter()
        if self.stream is None:
            for _ in range(count):
                self._loss_sum += self.bc.step()
        else:
            # The side stream must see everything the default stream wrote before (e.g. a previous
            # sync's weight copy) before it reads the learner weights.
            self.stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.stream):
                for _ in range(count):
                    self._loss_sum += self.bc.step()
        self._pending += count
        self.time += time.perf_counter() - start

    def sync(self) -> dict[str, float]:
        """Iteration boundary: finish pending IL updates, refresh the acting copy, return stats."""
        if self.stream is not None:
            torch.cuda.current_stream().wait_stream(self.stream)
        with torch.no_grad():
            torch._foreach_copy_(list(self.acting.parameters()), list(self.learner.parameters()))
        stats = {
            "il_updates": float(self._pending),
            "bc_train_loss": (self._loss_sum / self._pending).item() if self._pending else float("nan"),
            "bc_time": self.time,
        }
        self._loss_sum.zero_()
        self._pending, self.time = 0, 0.0
        return stats

    def validation_loss(self, sampler: WindowSampler, seed: int = 0) -> float:
        """BC loss on held-out demos (the paper's IL-loss-during-RL curve); call after `sync()`,
        when the learner and acting copies are equal."""
        return self.bc.evaluate(sampler, seed=seed)

    def state_dict(self) -> dict:
        """The acting copy's weights and the BC learner's state (learner weights, optimizer, LR scheduler,
        step count)."""
        return {"acting": self.acting.state_dict(), "bc": self.bc.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Inverse of `state_dict()`."""
        self.acting.load_state_dict(state["acting"])
        self.bc.load_state_dict(state["bc"])
