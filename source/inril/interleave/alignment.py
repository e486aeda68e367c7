"""rho(t): how well an IL update and an RL update agree, in both separation modes.

Full-network mode (DPPO, IDQL, Gaussian PPO; one network, two losses):

    rho = cos(g_IL, g_RL) restricted to the parameters both losses reach.

Parameters only one loss reaches add to that loss's gradient norm but not to the inner product,
so including them would shrink |rho| by an amount that says nothing about conflict; they are left
out. Pass the per-parameter gradients as ``torch.autograd.grad(..., allow_unused=True)`` returns
them (None = not reached) to `full_network_alignment`. When the flat gradients are already at
hand (surgery), `inril.interleave.surgery.project(...).rho` is the same cosine.

Network-separation mode (diffusion base updated only by BC, residual updated only by PPO): the
parameter sets are disjoint, so the gradients cannot be compared. Both updates act on the same
thing, the executed action a(s) = clip(base(s) + scale * residual(s)), so we compare them there:

    rho = cos(vec(a_after_IL(S) - a_before_IL(S)), vec(a_after_RL(S) - a_before_RL(S)))

on one fixed probe batch of states S (e.g. a slice of the last rollout's observations), flattened
over batch and action dimensions. To first order a_after - a_before = J(s) * (parameter step), so
this is the cosine of the two updates mapped into action space, the quantity whose sign says
whether BC pulls the executed behaviour the way PPO pushes it (Theorem 1's conflict term). Both
changes are measured over the same window - e.g. one PPO iteration: its RL updates against the
IL updates interleaved in it (what inril.algos.network_separation.ppo does) - because single minibatch
steps are noisy and the IL update is meant to be compared with the net RL step it interleaves
with. Where the action is clipped, a change of the unclipped sum is not a change of behaviour;
measure the executed (clipped) action when the clip is often active.

Measuring a change (act maps states to actions; a Tensor or a TensorDict of observation groups)::

    with ActionDelta(residual_action, probe) as d_rl, ActionDelta(base_action, probe) as d_il:
        run_ppo_updates_with_interleaved_bc()
    rho = action_space_alignment(d_il.delta, d_rl.delta)

A diffusion base samples noise; ActionDelta runs both evaluations from the same RNG seed (forked,
so the caller's RNG stream is untouched), so the noise cancels and only the weight change remains.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Generic, TypeVar

import torch
from torch import Tensor

from inril.interleave.surgery import cosine

States = TypeVar("States")  # a Tensor, or a TensorDict of observation groups


def full_network_alignment(il_grads: Sequence[Tensor | None], rl_grads: Sequence[Tensor | None]) -> Tensor:
    """Cosine of the IL and RL gradients over the parameters both reach (0-d tensor, 0 if none)."""
    if len(il_grads) != len(rl_grads):
        raise ValueError(f"gradient lists differ in length: {len(il_grads)} vs {len(rl_grads)}")
    shared = [(a.reshape(-1), b.reshape(-1)) for a, b in zip(il_grads, rl_grads) if a is not None and b is not None]
    if not shared:
        raise ValueError("the IL and RL losses reach no common parameter; use action_space_alignment instead")
    return cosine(torch.cat([a for a, _ in shared]), torch.cat([b for _, b in shared]))


def action_space_alignment(delta_a_il: Tensor, delta_a_rl: Tensor) -> float:
    """Cosine between the IL and RL changes of the executed action on the same states (0 if either is zero)."""
    if delta_a_il.shape != delta_a_rl.shape:
        raise ValueError(f"action changes must be measured on the same states: shapes {tuple(delta_a_il.shape)} vs {tuple(delta_a_rl.shape)}")
    return float(cosine(delta_a_il.reshape(-1), delta_a_rl.reshape(-1)))


class ActionDelta(Generic[States]):
    """Context manager: `delta` = act(states) after the block minus act(states) before it.

    Both evaluations run under torch.no_grad from the same forked RNG seed, so a stochastic
    sampler draws the same noise and the difference is due to the weights alone.
    """

    def __init__(self, act: Callable[[States], Tensor], states: States, seed: int = 0) -> None:
        self._act = act
        self._states = states
        self._seed = seed
        self._before: Tensor | None = None
        self._delta: Tensor | None = None

    def _evaluate(self) -> Tensor:
        # torch.manual_seed seeds the CPU and every accelerator device, so fork them all back.
        accel = torch.accelerator.current_accelerator() if torch.accelerator.is_available() else None
        devices = list(range(torch.accelerator.device_count())) if accel is not None else []
        with torch.no_grad(), torch.random.fork_rng(devices=devices, device_type=accel.type if accel else None):
            torch.manual_seed(self._seed)
            return self._act(self._states).detach().clone()

    def __enter__(self) -> ActionDelta[States]:
        self._before = self._evaluate()
        self._delta = None
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is None:
            self._delta = self._evaluate() - self._before

    @property
    def before(self) -> Tensor:
        """act(states) as evaluated on entering the block."""
        if self._before is None:
            raise RuntimeError("ActionDelta.before is available only inside or after its with-block")
        return self._before

    @property
    def delta(self) -> Tensor:
        """act(states) after the block minus before it (act's output shape). Raises RuntimeError before the
        block has ended."""
        if self._delta is None:
            raise RuntimeError("ActionDelta.delta is available only after its with-block has completed")
        return self._delta
