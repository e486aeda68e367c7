"""Skip optimizer steps with non-finite gradients, deciding on the device where the optimizer allows.

A NaN or infinite loss must not reach the weights: `NonFiniteStepGuard` hooks an optimizer so
that such a step is skipped and counted. Before each step it computes `found_inf` on the device
with the check torch.amp.GradScaler uses (`torch._amp_foreach_non_finite_check_and_unscale_`,
here with an inverse scale of 1, which leaves finite gradients bitwise unchanged). How the step
is then skipped depends on the optimizer:

- On the device, where the optimizer's step reads `optimizer.found_inf` (torch's fused
  optimizers, `_step_supports_amp_scaling`; the way GradScaler skips): the fused kernel does
  nothing when found_inf is 1 and the increment of the `step` counter is undone, so parameters
  and state (exp_avg, exp_avg_sq, step) stay bitwise unchanged and the host never waits. The BC
  optimizer is a fused AdamW for this reason (inril.algos.bc): during RL its steps are queued on
  a side CUDA stream (inril.algos.network_separation.base_updater), and a host sync per step would serialise it.
- On the host otherwise: one sync per step, and a skipped step runs without gradients (torch
  optimizers skip parameters without one). Zeroing the gradients would not do: Adam's moments
  would still decay, its step count grow and weight decay apply. This is PPO's optimizer, which
  rsl-rl-lib builds by name without a `fused` option; its update loop reads `.item()` every
  minibatch anyway, and the interleave schedule must know on the host whether an RL update
  happened. So is a fused optimizer after loading a state dict saved by a non-fused one, which
  turns `fused` off again (resuming a run from before the BC optimizer was fused).

The counters (skipped steps, current and worst streak) live on the device in both cases and are
read by `resolve()`, one sync, which the trainer calls at the iteration boundary.
"""

from __future__ import annotations

import torch


class NonFiniteTrainingError(RuntimeError):
    """Training stopped: too many consecutive optimizer steps had a non-finite loss or gradient."""


class NonFiniteStepGuard:
    """Skips every step of `optimizer` whose gradients are not all finite, and counts the skips.

    `skipped`, `streak` and `worst_streak` are as of the last `resolve()`."""

    def __init__(self, optimizer: torch.optim.Optimizer):
        devices = {p.device for group in optimizer.param_groups for p in group["params"]}
        if len(devices) != 1:
            raise ValueError(f"NonFiniteStepGuard needs an optimizer on one device, got {sorted(map(str, devices))}")
        device = devices.pop()
        self.optimizer = optimizer
        self.found_inf = torch.zeros((), device=device)  # 1.0 when the latest step was skipped
        self._one = torch.ones((), device=device)  # the inverse scale of the finiteness check
        self._skipped, self._streak, self._worst = (torch.zeros((), dtype=torch.int64, device=device) for _ in range(3))
        self.skipped = 0  # skipped steps in total
        self.streak = 0  # skipped steps in a row, up to now
        self.worst_streak = 0  # longest streak since the last reset_worst()
        self._host_decision: bool | None = None  # the latest step's skip, where it was decided on the host
        optimizer.register_step_pre_hook(self._before_step)

    @property
    def skips_on_device(self) -> bool:
        """Whether the optimizer's next step reads found_inf (a loaded state dict can turn fused off)."""
        return bool(getattr(self.optimizer, "_step_supports_amp_scaling", False)) and all(
            group.get("fused") for group in self.optimizer.param_groups)

    @property
    def last_skipped(self) -> bool:
        """Whether the latest step was skipped: free where it was decided on the host, a sync otherwise."""
        return bool(self.found_inf) if self._host_decision is None else self._host_decision

    def _before_step(self, optimizer: torch.optim.Optimizer, args, kwargs) -> None:
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        self.found_inf.zero_()
        if params:
            torch._amp_foreach_non_finite_check_and_unscale_([p.grad for p in params], self.found_inf, self._one)
        found = self.found_inf.to(torch.int64)
        self._skipped.add_(found)
        self._streak.add_(found).mul_(found)
        torch.maximum(self._worst, self._streak, out=self._worst)
        if self.skips_on_device:
            optimizer.found_inf = self.found_inf
            self._host_decision = None
            return
        vars(optimizer).pop("found_inf", None)  # a non-fused step refuses found_inf
        self._host_decision = bool(self.found_inf)
        if self._host_decision:
            for p in params:
                p.grad = None

    def reset_worst(self) -> None:
        """Start a new window for `worst_streak` (e.g. one update()), from the current streak."""
        self._worst.copy_(self._streak)

    def resolve(self) -> None:
        """Read the counters from the device (one host sync)."""
        self.skipped, self.streak, self.worst_streak = torch.stack((self._skipped, self._streak, self._worst)).tolist()

    def restore(self, skipped: int) -> None:
        """Continue the total count of skipped steps from a checkpoint."""
        self._skipped.fill_(skipped)
        self.skipped = skipped
