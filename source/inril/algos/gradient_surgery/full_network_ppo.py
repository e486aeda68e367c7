"""Full-network PPO over action chunks, with IN-RIL's IL updates and gradient surgery.

Here RL fine-tunes the policy network itself (no residual), so the RL and IL gradients reach the
same parameters and IN-RIL separates them by gradient surgery (inril.interleave.surgery). One
trainer serves every policy that can be read as a chain of Gaussian steps from observation to
chunk, through the `ChunkActor` interface:

- a Gaussian chunk policy is a chain of one step (inril.algos.gradient_surgery.gaussian_actor), the cheap baseline;
- a diffusion policy is DPPO's chain of its last K denoising steps (inril.algos.gradient_surgery.dppo).

One decision = one chunk: the env executes the chunk's first `action_horizon` actions, the
decision's reward is their sum (up to the end of the episode), and GAE runs over decisions with
`gamma` per decision. The PPO loss is taken per chain step with the step's own clip coefficient
and advantage weight (DPPO's denoising discount; 1 for a one-step chain).

IL updates and surgery. The schedule is residual PPO's (InterleaveScheduler: one IL update per m
RL updates, fixed or adaptive m(t)). When the schedule makes an IL update due at an RL optimizer
step, both gradients are computed at the same weights - g_RL of this PPO minibatch (after its
gradient clip) and g_IL of one demo batch (`il.coef` times the BC loss, after its own clip) - then
combined by `project(g_IL, g_RL, il.surgery)` and applied in that one optimizer step; rho(t) is
their cosine. We chose the combined step over separate interleaved steps projected against the
other objective's most recent gradient because:

1. the surgery's guarantee is first-order at the point where both gradients are taken; in a
   combined step that is the point the step leaves from, while a remembered gradient of the other
   objective is stale by up to m optimizer steps;
2. on separate steps pcgrad and dual_cone collapse to the same one-sided projection, so the
   methods the ablation compares would not differ;
3. one optimizer keeps Adam's moments consistent with the updates actually applied.

`il.surgery = none` is naive interleaving (the plain sum), `il.enabled = False` is RL only.

The critic sees the flattened normalized observation history (the actor's input) and is trained
in the same optimizer step with its own learning rate; IL never reaches it.

The optimizer is guarded like residual PPO's (inril.algos.common.step_guard): a step with a non-finite
gradient is skipped (it still counts as an RL update for the schedule, and an IL update combined
into it is lost with it); `max_nonfinite_streak` skipped steps in a row stop the run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from rsl_rl.env import VecEnv
from rsl_rl.modules import MLP
from rsl_rl.utils.logger import Logger
from torch import Tensor

from inril.algos.bc import bc_loss, held_out_loss
from inril.algos.common.checkpoints import deployed_policy, read_checkpoint, restore_run_keys, run_keys
from inril.algos.common.iteration import PeriodicEvaluation, report_iteration
from inril.algos.common.step_guard import NonFiniteStepGuard, NonFiniteTrainingError
from inril.algos.gradient_surgery.actors import ChunkActor
from inril.algos.gradient_surgery.config import FullNetworkPPOConfig
from inril.data.groups import POLICY_GROUP
from inril.data.layout import Layout
from inril.data.windows import WindowSampler
from inril.interleave.schedule import InterleaveScheduler
from inril.interleave.surgery import assign_flat_grad, flatten_grads, project
from inril.policies.chunk_executor import ObservationHistory
from inril.utils.io import atomic_torch_save


@dataclass
class Rollout:
    """One iteration's decisions, (T, N, ...) each."""

    nobs: Tensor
    chains: Tensor
    log_probs: Tensor
    values: Tensor
    rewards: Tensor
    dones: Tensor

    def advantages_and_returns(self, last_values: Tensor, gamma: float, lam: float) -> tuple[Tensor, Tensor]:
        """GAE over decisions (Schulman et al. 2016): delta_t = r_t + gamma (1 - d_t) V_{t+1} - V_t,
        A_t = delta_t + gamma lam (1 - d_t) A_{t+1}, returns A_t + V_t; V_T = `last_values` (N,). Shapes (T, N).
        Time-outs are bootstrapped before this: `collect` adds gamma * V(s_t) to a truncated decision's reward."""
        advantages = torch.zeros_like(self.rewards)
        running = torch.zeros_like(last_values)
        for t in reversed(range(self.rewards.shape[0])):
            next_values = last_values if t == self.rewards.shape[0] - 1 else self.values[t + 1]
            alive = 1.0 - self.dones[t]
            delta = self.rewards[t] + gamma * alive * next_values - self.values[t]
            running = delta + gamma * lam * alive * running
            advantages[t] = running
        return advantages, advantages + self.values


class FullNetworkPPO:
    """Full-network PPO over chunks with interleaved, surgery-separated IL updates (module docstring).

    `demos` (a window sampler on the same horizons as the policy) is needed when `il.enabled`;
    `val_demos` gives the held-out BC loss every iteration; `evaluate(trainer)` returns an EvalResult.
    With a `log_dir`, `learn` writes `model_<it>.pt` every `cfg.save_interval` iterations and at its end, in
    the checkpoint format residual PPO uses (inril.algos.common.checkpoints), from which `load` resumes;
    `task` and `obs_layout` are recorded there.
    """

    def __init__(self, env: VecEnv, actor: ChunkActor, cfg: FullNetworkPPOConfig, demos: WindowSampler | None = None,
                 val_demos: WindowSampler | None = None, log_dir: str | None = None, device: str = "cpu",
                 seed: int = 0, evaluate: Callable | None = None, task: str | None = None,
                 obs_layout: Layout | None = None):
        if cfg.il.enabled and demos is None:
            raise ValueError("IL updates (il.enabled) need demonstrations")
        policy_cfg = actor.policy.cfg
        if (env.num_actions, env.get_observations()[POLICY_GROUP].shape[1]) != (policy_cfg.action_dim, policy_cfg.obs_dim):
            raise ValueError(f"env has {env.get_observations()[POLICY_GROUP].shape[1]} obs / {env.num_actions} action dims, "
                             f"the policy {policy_cfg.obs_dim} / {policy_cfg.action_dim}")
        self.env, self.actor, self.cfg, self.device = env, actor, cfg, torch.device(device)
        self.demos, self.val_demos, self.evaluate_fn = demos, val_demos, evaluate
        self.task, self.obs_layout, self.log_dir = task, obs_layout, log_dir
        self.evaluation = PeriodicEvaluation(evaluate, cfg.eval_interval)
        self.critic = MLP(policy_cfg.obs_horizon * policy_cfg.obs_dim, 1, cfg.critic_hidden_dims,
                          cfg.critic_activation).to(self.device)
        self.actor_params = actor.parameters()
        self.optimizer = torch.optim.Adam([{"params": self.actor_params, "lr": cfg.actor_lr},
                                           {"params": list(self.critic.parameters()), "lr": cfg.critic_lr}])
        self.guard = NonFiniteStepGuard(self.optimizer)  # a NaN loss is skipped, never applied
        self.scheduler = InterleaveScheduler(cfg.il.interleave)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.il_generator = torch.Generator(device=self.device).manual_seed(seed + 1)
        self.history = ObservationHistory(env.num_envs, policy_cfg.obs_horizon, policy_cfg.obs_dim, self.device)
        self.iterations_done = 0
        self.il_updates = 0
        steps_per_env = cfg.decisions_per_env * policy_cfg.action_horizon
        self.logger = Logger(log_dir, {"num_steps_per_env": steps_per_env, "algorithm": {}, "logger": "tensorboard",
                                       "full_network": asdict(cfg)}, {}, env.num_envs, False, 1, 0, str(self.device))
        self.logger.init_logging_writer()

    @property
    def eval_history(self) -> list[dict]:
        """The periodic evaluations so far, one dict per evaluation (saved in checkpoints)."""
        return self.evaluation.history

    @property
    def env_steps_per_iteration(self) -> int:
        """Env steps of all envs in one iteration: decisions_per_env * action_horizon * num_envs."""
        return self.cfg.decisions_per_env * self.actor.policy.cfg.action_horizon * self.env.num_envs

    def _nobs(self, obs) -> Tensor:
        return self.actor.policy.obs_normalizer(obs[POLICY_GROUP].to(self.device))

    def _value(self, nobs: Tensor) -> Tensor:
        return self.critic(nobs.flatten(1)).squeeze(-1)

    def _execute(self, chunk: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Run the first action_horizon actions of normalized chunks in every env. Returns per env the
        reward sum up to its episode's end, whether the episode ended, and whether it ended by a
        time-out (which `collect` bootstraps with gamma * V(s), as rsl-rl does)."""
        policy = self.actor.policy
        actions = policy.action_normalizer.unnormalize(chunk[:, : policy.cfg.action_horizon])
        reward = torch.zeros(self.env.num_envs, device=self.device)
        done = torch.zeros(self.env.num_envs, dtype=torch.bool, device=self.device)
        truncated = torch.zeros_like(done)
        for step in range(actions.shape[1]):
            # After an env's episode ended inside the chunk, the chunk's remaining actions start its new
            # episode; their rewards are not credited to this decision (they follow another state).
            obs, rewards, dones, extras = self.env.step(actions[:, step])
            self.logger.process_env_step(rewards, dones, extras)
            ended = dones.to(self.device).bool()
            reward += torch.where(done, 0.0, rewards.to(self.device))
            truncated |= ended & ~done & extras.get("time_outs", torch.zeros_like(ended)).to(self.device).bool()
            done |= ended
            self.history.reset(ended)
            self.history.push(self._nobs(obs))
        return reward, done, truncated

    @torch.no_grad()
    def collect(self) -> Rollout:
        """One iteration's rollout: `decisions_per_env` decisions of every env, each a sampled chunk whose first
        `action_horizon` actions are executed (rewards summed; time-outs bootstrapped with gamma * V). Returns
        a Rollout (T = decisions_per_env, N = num_envs) and keeps the last decision's next values for GAE."""
        steps, self._inference_time = [], 0.0
        nobs = self.history.history.clone()
        for _ in range(self.cfg.decisions_per_env):
            start = time.perf_counter()
            chunk, chain, log_probs = self.actor.act(nobs, self.generator)
            self._inference_time += time.perf_counter() - start
            values = self._value(nobs)
            reward, done, truncated = self._execute(chunk)
            reward = reward + self.cfg.gamma * values * truncated
            steps.append((nobs, chain, log_probs, values, reward, done.float()))
            nobs = self.history.history.clone()
        self._last_values = self._value(nobs)
        return Rollout(*(torch.stack(x) for x in zip(*steps)))

    def _il_gradient(self) -> Tensor:
        obs, actions = self.demos.sample(self.cfg.il.batch_size, self.il_generator)
        for p in self.actor_params:
            p.grad = None
        (self.cfg.il.coef * bc_loss(self.actor.policy, obs, actions)).backward()  # epsilon MSE for diffusion
        torch.nn.utils.clip_grad_norm_(self.actor_params, self.cfg.il.grad_clip)
        return flatten_grads(self.actor_params)

    def update(self, rollout: Rollout) -> dict[str, float]:
        """PPO epochs over the rollout's decisions (per-step clip and advantage weight of the actor's chain),
        with one surgery-combined IL gradient at each RL update the schedule makes due. Returns the mean
        surrogate and value losses; diagnostics (KL, clip fraction, rho, m, counters) go to `self.diagnostics`.
        Raises NonFiniteTrainingError after `max_nonfinite_streak` skipped steps in a row."""
        cfg = self.cfg
        advantages, returns = rollout.advantages_and_returns(self._last_values, cfg.gamma, cfg.lam)
        # (T, N, ...) -> (T * N, ...)
        nobs, chains, old_log_probs, advantages, returns = (
            x.flatten(0, 1) for x in (rollout.nobs, rollout.chains, rollout.log_probs, advantages, returns))
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        weights = self.actor.step_weights().to(self.device)
        clips = self.actor.clip_coefs(cfg.clip_param).to(self.device)
        totals = {"surrogate": 0.0, "value_function": 0.0, "approx_kl": 0.0, "clip_fraction": 0.0}
        rhos, il_time, updates = [], 0.0, 0
        self.guard.reset_worst()
        batch = nobs.shape[0] // cfg.num_mini_batches
        for _ in range(cfg.num_learning_epochs):
            order = torch.randperm(nobs.shape[0], generator=self.generator, device=self.device)
            for i in range(cfg.num_mini_batches):
                idx = order[i * batch : (i + 1) * batch]
                log_ratio = self.actor.log_prob(nobs[idx], chains[idx]) - old_log_probs[idx]
                ratio = log_ratio.exp()
                adv = advantages[idx, None] * weights
                surrogate = torch.max(-adv * ratio, -adv * ratio.clamp(1 - clips, 1 + clips)).mean()
                value_loss = (self._value(nobs[idx]) - returns[idx]).square().mean()
                self.optimizer.zero_grad(set_to_none=True)
                (surrogate + cfg.value_loss_coef * value_loss).backward()
                torch.nn.utils.clip_grad_norm_(self.actor_params, cfg.max_grad_norm)
                torch.nn.utils.clip_grad_norm_(self.critic.parameters(), cfg.max_grad_norm)
                combined = self.scheduler.on_rl_step() and cfg.il.enabled  # the RL updates are counted either way
                if combined:
                    start = time.perf_counter()
                    g_rl = flatten_grads(self.actor_params)
                    result = project(self._il_gradient(), g_rl, cfg.il.surgery)
                    assign_flat_grad(self.actor_params, result.update)
                    rhos.append(result.rho)
                    il_time += time.perf_counter() - start
                self.optimizer.step()
                self.il_updates += combined and not self.guard.last_skipped  # a skipped step loses its IL update
                with torch.no_grad():
                    totals["surrogate"] += surrogate.item()
                    totals["value_function"] += value_loss.item()
                    totals["approx_kl"] += ((ratio - 1) - log_ratio).mean().item()
                    totals["clip_fraction"] += ((ratio - 1).abs() > clips).float().mean().item()
                updates += 1
        self.guard.resolve()
        if self.guard.worst_streak >= cfg.max_nonfinite_streak:
            raise NonFiniteTrainingError(f"stopped at iteration {self.iterations_done}: {self.guard.worst_streak} consecutive "
                                     "updates had a non-finite loss or gradient (each was skipped, the weights are "
                                     "the last good ones)")
        stats = {k: v / updates for k, v in totals.items()}
        # rsl-rl's logger prints every entry of the returned dict as a loss; these two are diagnostics.
        self.diagnostics = {"approx_kl": stats.pop("approx_kl"), "clip_fraction": stats.pop("clip_fraction"),
                            "il_time": il_time, "rl_updates_total": float(self.scheduler.rl_steps),
                            "il_updates_total": float(self.il_updates), "m": float(self.scheduler.m),
                            "nonfinite_updates_total": float(self.guard.skipped)}
        if rhos:
            rho = float(torch.stack(rhos).mean())
            self.scheduler.observe_alignment(rho)
            self.diagnostics.update(rho=rho, rho_ema=self.scheduler.rho_ema)
        return stats

    def learn(self, num_iterations: int) -> None:
        """Run `num_iterations` iterations after the `iterations_done` so far (a resumed run continues its count).
        Raises NonFiniteTrainingError when `max_nonfinite_streak` optimizer steps in a row were skipped."""
        if bool(self.history.fresh.all()):  # a new trainer (or a resumed one): start from the env's observations
            self.history.push(self._nobs(self.env.get_observations()))
        total = self.iterations_done + num_iterations
        for _ in range(num_iterations):
            it = self.iterations_done
            start = time.perf_counter()
            rollout = self.collect()
            collect_time = time.perf_counter() - start
            start = time.perf_counter()
            stats = self.update(rollout)
            learn_time = time.perf_counter() - start
            self.iterations_done += 1
            self._end_iteration(it, total, stats, collect_time, learn_time)
            if self.log_dir is not None and (it % self.cfg.save_interval == 0 or self.iterations_done == total):
                self.save(os.path.join(self.log_dir, f"model_{it}.pt"))

    def _end_iteration(self, it: int, total: int, stats: dict[str, float], collect_time: float,
                       learn_time: float) -> None:
        """The diagnostics of iteration `it` and the periodic evaluation (inril.algos.common.iteration)."""
        scalars = dict(self.diagnostics)
        il_time = scalars.pop("il_time")
        scalars.update({"time/policy_inference": self._inference_time, "time/rollout": collect_time - self._inference_time,
                        "time/ppo_update": learn_time - il_time, "time/bc_update": il_time})
        if self.val_demos is not None:
            # The paper's IL-loss-during-RL curve, of the network being fine-tuned.
            scalars["bc_val_loss"] = held_out_loss(self.actor.policy, self.val_demos)
        scalars.update(self.evaluation.after_iteration(self, it, (it + 1) * self.env_steps_per_iteration))
        self.logger.log(it, 0, total, collect_time, learn_time, stats, self.cfg.actor_lr,
                        self.actor.exploration_std(), None)
        if self.logger.writer is not None:
            report_iteration(self.logger.writer, scalars, it)
        self.last_scalars = scalars

    def save(self, path: str) -> None:
        """Atomic checkpoint (inril.algos.common.checkpoints): the fine-tuned policy, critic, optimizer, schedule,
        counters, RNG states and what a deployment needs; `iter` is the last completed iteration."""
        state = {**run_keys("full_network_ppo", self.iterations_done - 1, self._generators(), self.eval_history,
                            self.logger),
                 "policy_state_dict": self.actor.policy.state_dict(), "critic_state_dict": self.critic.state_dict(),
                 "optimizer_state_dict": self.optimizer.state_dict(), "interleave_state_dict": self.scheduler.state_dict(),
                 "il_updates": self.il_updates, "nonfinite_skips": {"rl": self.guard.skipped, "il": 0},
                 "deploy": {**deployed_policy(self.task, self.actor.policy, self.obs_layout), "config": asdict(self.cfg)}}
        atomic_torch_save(state, path)

    def load(self, path: str, map_location: str | None = None) -> None:
        """Resume from a verified checkpoint written by `save` (tensors onto `map_location`, default the
        trainer's device): training continues after its iteration. Raises CheckpointError."""
        state = read_checkpoint(path, map_location or self.device, "full_network_ppo")
        self.actor.policy.load_state_dict(state["policy_state_dict"])
        self.critic.load_state_dict(state["critic_state_dict"])
        self.optimizer.load_state_dict(state["optimizer_state_dict"])
        self.scheduler.load_state_dict(state["interleave_state_dict"])
        self.guard.restore(state["nonfinite_skips"]["rl"])
        self.iterations_done, self.il_updates = state["iter"] + 1, state["il_updates"]
        self.evaluation.history = restore_run_keys(state, self._generators(), self.logger)

    def _generators(self) -> dict[str, torch.Generator]:
        return {"rollout": self.generator, "il_batches": self.il_generator}
