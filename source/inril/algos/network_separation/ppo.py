"""IN-RIL with network separation on rsl-rl-lib 5: PPO on the residual, BC on the base.

`InrilPPO` is rsl-rl-lib's PPO with one hook: a post-step hook on its optimizer, so that after
every PPO optimizer step (one RL update) the interleave schedule is asked how many IL updates
are due, and those BC steps run on the base's learner copy (see inril.algos.network_separation.base_updater).
PPO's own update loop, losses and storage are rsl-rl-lib's, untouched. PPO's optimizer holds
only the residual actor and the critic; the BC optimizer holds only the base: the two gradient
flows never share a parameter.

At the end of each `update()` (the iteration boundary) the pending IL updates are synced into the
acting copy, and rho(t) is measured in action space (inril.interleave.alignment) on a probe batch
of the rollout's states: the change of the executed action caused by this iteration's IL updates
against the change caused by its PPO updates. The adaptive schedule reads it for the next
iteration's m(t).

Both optimizers are guarded by `NonFiniteStepGuard` (inril.algos.common.step_guard): a step whose
gradients are not all finite (a NaN or infinite loss) is skipped and counted, so the weights are
never poisoned. The BC optimizer's guard decides on the device, so the IL updates on the side
stream never wait for the host; PPO's decides on the host, where PPO's update syncs anyway, and a
skipped PPO step does not count as an RL update for the interleave schedule. The skip counters
are read once per iteration, at the boundary; the runner stops the run when one optimizer skips
too many steps in a row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from rsl_rl.algorithms import PPO
from tensordict import TensorDict

from inril.algos.common.step_guard import NonFiniteStepGuard
from inril.algos.network_separation.base_updater import BaseUpdater
from inril.data.groups import POLICY_GROUP
from inril.interleave.alignment import ActionDelta, action_space_alignment
from inril.interleave.schedule import InterleaveScheduler
from inril.residual.env import ResidualConfig, compose_action


@dataclass
class Interleaving:
    """What InrilPPO needs beside PPO: the schedule, the base updater (None: frozen base) and the residual
    composition (how base and residual make the executed action, and the base's DDIM steps during RL)."""

    scheduler: InterleaveScheduler
    updater: BaseUpdater | None
    residual: ResidualConfig
    probe_size: int = 256  # states used to measure rho(t) each iteration


class InrilPPO(PPO):
    """rsl-rl-lib 5's PPO on the residual actor and the critic, with IL updates of the base interleaved
    after every PPO optimizer step (see the module docstring). Built by rsl-rl's OnPolicyRunner from
    `AgentConfig.to_rsl_rl()`; `attach()` must be called before the first `update()`."""
    interleaving: Interleaving | None = None
    diagnostics: dict[str, float]
    rl_guard: NonFiniteStepGuard
    il_guard: NonFiniteStepGuard | None

    def __init__(self, *args, critic_learning_rate: float | None = None, **kwargs):
        """rsl-rl-lib's PPO; `critic_learning_rate` gives the critic its own rate (ResiP: 5e-3 against the
        actor's 3e-4), as a second param group of the same optimizer (the actor's group stays first, where
        rsl-rl reads `learning_rate` back on load)."""
        super().__init__(*args, **kwargs)
        if critic_learning_rate is not None:
            if self.schedule == "adaptive":  # rsl-rl's KL schedule writes one rate into every group
                raise ValueError("ppo critic_learning_rate needs schedule 'fixed'")
            self.optimizer = type(self.optimizer)([
                {"params": list(self.actor.parameters()), "lr": self.learning_rate},
                {"params": list(self.critic.parameters()), "lr": critic_learning_rate},
            ])

    def attach(self, interleaving: Interleaving) -> None:
        """Attach the IN-RIL parts (schedule, base updater, residual composition): installs the non-finite step
        guards on both optimizers and the post-step hook on PPO's optimizer that runs the due IL updates.
        Call once, after construction and before `update()`, `save()` or `load()`."""
        self.interleaving = interleaving
        self.diagnostics = {}
        self.rl_guard = NonFiniteStepGuard(self.optimizer)
        self.il_guard = None if interleaving.updater is None else NonFiniteStepGuard(interleaving.updater.bc.optimizer)
        self.optimizer.register_step_post_hook(lambda *_: self._after_rl_update())

    def _guards(self) -> list[NonFiniteStepGuard]:
        return [guard for guard in (self.rl_guard, self.il_guard) if guard is not None]

    def worst_nonfinite_streak(self) -> tuple[int, str]:
        """The longest run of skipped steps in the last update() and whose it was ('PPO' or 'IL'),
        as read at its end."""
        il = 0 if self.il_guard is None else self.il_guard.worst_streak
        return (self.rl_guard.worst_streak, "PPO") if self.rl_guard.worst_streak >= il else (il, "IL")

    def _after_rl_update(self) -> None:
        if self.rl_guard.last_skipped:  # known on the host: PPO's optimizer is not fused
            return  # a skipped step is not an RL update
        due = self.interleaving.scheduler.on_rl_step()
        if due and self.interleaving.updater is not None:
            self.interleaving.updater.il_update(due)

    def _probe_states(self) -> TensorDict:
        obs = self.storage.observations.flatten(0, 1)
        generator = torch.Generator(device="cpu").manual_seed(self.interleaving.scheduler.rl_steps)
        rows = torch.randperm(obs.batch_size[0], generator=generator)[: self.interleaving.probe_size]
        return obs[rows.to(obs.device)]

    @torch.no_grad()
    def _residual_action(self, probe: TensorDict) -> torch.Tensor:
        return self.actor(probe)  # the mean residual; the wrapper's compose() scales it

    def _base_action(self, probe: TensorDict) -> torch.Tensor:
        # The probe holds single observations; a base with a longer history sees each one repeated,
        # as right after a reset.
        learner = self.interleaving.updater.learner
        nobs = probe[POLICY_GROUP].unsqueeze(1).expand(-1, learner.cfg.obs_horizon, -1)
        kwargs = {"num_inference_steps": self.interleaving.residual.num_inference_steps}
        return learner.sample(nobs, deterministic=True, **kwargs if learner.supports_warm_start else {})[:, 0]

    def update(self) -> dict[str, float]:
        """rsl-rl-lib's PPO update with IL updates interleaved by the optimizer hook, then the
        iteration boundary: sync the base copies and measure rho(t) on the executed action
        clip(base + scale * residual). The RL change holds the base at its pre-update action;
        the IL change holds the residual at its pre-update output; both on the same probe states."""
        if self.interleaving is None:
            raise RuntimeError("InrilPPO.update() needs attach(Interleaving(...)) first")
        scheduler, updater, residual = self.interleaving.scheduler, self.interleaving.updater, self.interleaving.residual
        for guard in self._guards():
            guard.reset_worst()
        probe = self._probe_states()  # taken before PPO.update() clears the storage
        start = time.perf_counter()
        if updater is None:
            loss_dict = super().update()
            diagnostics = {"ppo_time": time.perf_counter() - start}
        else:
            with ActionDelta(self._base_action, probe) as base_probe:
                pass  # only the before-value: the base action under the same noise the deltas use
            base0, residual0 = base_probe.before, self._residual_action(probe)
            with ActionDelta(lambda p: compose_action(base0, self._residual_action(p), residual), probe) as d_rl, \
                    ActionDelta(lambda p: compose_action(self._base_action(p), residual0, residual), probe) as d_il:
                loss_dict = super().update()
                stats = updater.sync()
            rho = self._mean_over_processes(action_space_alignment(d_il.delta, d_rl.delta))
            scheduler.observe_alignment(rho)  # the same on every rank, so m(t) and the IL count agree
            diagnostics = {**stats, "ppo_time": time.perf_counter() - start - stats["bc_time"], "rho": rho,
                           "rho_ema": scheduler.rho_ema, "il_updates_total": float(updater.num_updates)}
        for guard in self._guards():
            guard.resolve()  # after updater.sync(): the IL steps' counts are final
        self.diagnostics = {**diagnostics, "m": float(scheduler.m), "rl_updates_total": float(scheduler.rl_steps),
                            "nonfinite_rl_updates_total": float(self.rl_guard.skipped)}
        if self.il_guard is not None:
            self.diagnostics["nonfinite_il_updates_total"] = float(self.il_guard.skipped)
        return loss_dict

    def _mean_over_processes(self, value: float) -> float:
        if not self.is_multi_gpu:
            return value
        total = torch.tensor(value, device=self.device, dtype=torch.float64)
        torch.distributed.all_reduce(total)
        return total.item() / self.gpu_world_size

    def broadcast_parameters(self) -> None:
        """rsl-rl-lib's broadcast of actor and critic, plus both base copies, from rank 0."""
        super().broadcast_parameters()
        if self.interleaving.updater is not None:
            for model in (self.interleaving.updater.learner, self.interleaving.updater.acting):
                for tensor in model.state_dict().values():
                    torch.distributed.broadcast(tensor, src=0)

    def save(self) -> dict:
        """rsl-rl-lib's PPO state plus the interleave schedule (`interleave_state_dict`), the base updater
        (`base_updater_state_dict`, absent with a frozen base) and the skipped-step counters (`nonfinite_skips`)."""
        saved = super().save()
        saved["interleave_state_dict"] = self.interleaving.scheduler.state_dict()
        if self.interleaving.updater is not None:
            saved["base_updater_state_dict"] = self.interleaving.updater.state_dict()
        saved["nonfinite_skips"] = {"rl": self.rl_guard.skipped, "il": 0 if self.il_guard is None else self.il_guard.skipped}
        return saved

    def load(self, loaded_dict: dict, load_cfg: dict | None, strict: bool) -> bool:
        """Inverse of `save()`: rsl-rl-lib's PPO load, then the schedule, the base updater and the skip counters.
        Returns rsl-rl's flag whether the iteration counter should be restored."""
        load_iteration = super().load(loaded_dict, load_cfg, strict)
        self.interleaving.scheduler.load_state_dict(loaded_dict["interleave_state_dict"])
        if self.interleaving.updater is not None:
            self.interleaving.updater.load_state_dict(loaded_dict["base_updater_state_dict"])
        self.rl_guard.restore(loaded_dict["nonfinite_skips"]["rl"])
        if self.il_guard is not None:
            self.il_guard.restore(loaded_dict["nonfinite_skips"]["il"])
        return load_iteration
