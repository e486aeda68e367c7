"""The one evaluation path: run a policy in a VecEnv for N episodes and report success.

Training-time evaluation, `play.py` and the BC pre-training hook all call `evaluate`, so a
success rate printed by the trainer is the one play reproduces (dppo#29 is what happens when
they differ). Success is read from the sparse reward, which both backends define the same way
(+1 per newly assembled pair): an episode succeeded when its return reaches the number of pairs.
Each env contributes its first episodes in env order, so the result for a given env seed does
not depend on which env happens to finish first.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from rsl_rl.env import VecEnv
from tensordict import TensorDict

from inril.data.groups import POLICY_GROUP
from inril.policies.base import Policy
from inril.policies.chunk_executor import ChunkExecutor


@dataclass
class EvalResult:
    """The outcome of one `evaluate`: each episode's success (return >= the task's number of pairs), in
    (env, episode) order so two evaluations on the same env seeds pair episode by episode (`compare`), and the
    mean return (sparse reward: pairs assembled) and mean length (env steps) over those episodes."""
    outcomes: tuple[bool, ...]  # success of each episode, in (env, episode) order: comparable across runs
    mean_return: float
    mean_length: float

    @property
    def episodes(self) -> int:
        """Number of episodes evaluated."""
        return len(self.outcomes)

    @property
    def successes(self) -> int:
        """Number of successful episodes."""
        return sum(self.outcomes)

    @property
    def success_rate(self) -> float:
        """successes / episodes, in [0, 1]."""
        return self.successes / self.episodes

    def confidence_interval(self, z: float = 1.96) -> tuple[float, float]:
        """Wilson score interval for the success rate (95% by default); sane at 0% and 100%."""
        n, p = self.episodes, self.success_rate
        center = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return max(0.0, center - half), min(1.0, center + half)

    def summary(self) -> str:
        """One line: success rate with its 95% Wilson interval, episodes, mean return and length."""
        low, high = self.confidence_interval()
        return (f"success {self.success_rate:.1%} [95% CI {low:.1%}, {high:.1%}] over {self.episodes} episodes, "
                f"mean return {self.mean_return:.3f}, mean length {self.mean_length:.1f}")

    def as_dict(self) -> dict[str, float]:
        """The scalars logged as `eval/<key>` and stored in the evaluation history."""
        low, high = self.confidence_interval()
        return {"success_rate": self.success_rate, "success_ci_low": low, "success_ci_high": high,
                "mean_return": self.mean_return, "mean_length": self.mean_length, "episodes": float(self.episodes)}


@dataclass(frozen=True)
class PairedComparison:
    """Two evaluations of the same episodes (same env seeds, envs and count): the outcomes that changed.

    Contact-rich assembly is close to chaotic, so two policies of equal success rate still disagree on
    many episodes; what tells them apart is whether the changes lean one way. The exact McNemar test:
    with no difference each changed episode is a fair coin, and `p_value` is the two-sided binomial tail.
    """

    gained: int  # failures before that succeed after
    lost: int  # successes before that fail after

    @property
    def p_value(self) -> float:
        """Two-sided exact McNemar p-value: 2 * P(Binomial(gained + lost, 1/2) <= min(gained, lost)), at most 1."""
        changed, fewer = self.gained + self.lost, min(self.gained, self.lost)
        tail = sum(math.comb(changed, k) for k in range(fewer + 1)) / 2**changed
        return min(1.0, 2 * tail)

    def summary(self) -> str:
        """One line: episodes gained, lost and the p-value."""
        return f"{self.gained} episodes gained, {self.lost} lost (exact McNemar p = {self.p_value:.2g})"

    def as_dict(self) -> dict[str, float]:
        """gained, lost and p_value as a dict (for the run's summary)."""
        return {"gained": self.gained, "lost": self.lost, "p_value": self.p_value}


def compare(before: EvalResult, after: EvalResult) -> PairedComparison:
    """Episode-by-episode comparison of two evaluations run on the same episodes."""
    if before.episodes != after.episodes:
        raise ValueError(f"cannot pair evaluations of {before.episodes} and {after.episodes} episodes")
    pairs = list(zip(before.outcomes, after.outcomes))
    return PairedComparison(gained=sum(a and not b for b, a in pairs), lost=sum(b and not a for b, a in pairs))


@torch.no_grad()
def evaluate(
    env: VecEnv,
    act: Callable[[TensorDict], torch.Tensor],
    num_episodes: int,
    success_return: float,
    on_reset: Callable[[torch.Tensor], None] | None = None,
    max_steps: int | None = None,
) -> EvalResult:
    """Run `act` (observations -> actions) until every env has finished its share of episodes.

    The env must start fresh episodes in every env when called (a newly made env does). `on_reset`
    receives the ids of envs whose episode just ended (e.g. a chunk executor's `reset`).
    """
    if num_episodes < 1:
        raise ValueError(f"num_episodes must be >= 1, got {num_episodes}")
    n = env.num_envs
    # Env i runs quota[i] episodes: the first (num_episodes % n) envs run one more than the rest.
    quota = torch.full((n,), num_episodes // n, dtype=torch.long)
    quota[: num_episodes % n] += 1
    returns = torch.zeros(n)
    lengths = torch.zeros(n, dtype=torch.long)
    finished = torch.zeros(n, dtype=torch.long)
    results: list[tuple[int, int, float, int]] = []  # (env, episode index, return, length)
    limit = max_steps if max_steps is not None else (int(quota.max()) + 1) * int(env.max_episode_length) + 1
    obs = env.get_observations()
    for _ in range(limit):
        if bool((finished >= quota).all()):
            break
        obs, rewards, dones, _ = env.step(act(obs))
        returns += rewards.cpu()
        lengths += 1
        done_ids = dones.cpu().nonzero(as_tuple=True)[0]
        for i in done_ids.tolist():
            if finished[i] < quota[i]:
                results.append((i, int(finished[i]), float(returns[i]), int(lengths[i])))
            finished[i] += 1
        returns[done_ids] = 0.0
        lengths[done_ids] = 0
        if on_reset is not None and len(done_ids):
            on_reset(done_ids.to(dones.device))
    if not bool((finished >= quota).all()):  # also right when the last episode ends on the last allowed step
        raise RuntimeError(f"evaluation did not finish {num_episodes} episodes within {limit} steps")
    results.sort()
    return EvalResult(
        outcomes=tuple(ret >= success_return - 1e-6 for _, _, ret, _ in results),
        mean_return=sum(r[2] for r in results) / len(results),
        mean_length=sum(r[3] for r in results) / len(results),
    )


def evaluate_policy(policy: Policy, env: VecEnv, num_episodes: int, success_return: float,
                    num_inference_steps: int | None = None) -> EvalResult:
    """Evaluate a chunked BC policy alone (raw env units; deterministic: a Gaussian's mean, DDIM from the diffusion
    policy's fixed initial noise; neither draws random numbers)."""
    executor = ChunkExecutor(policy, env.num_envs, deterministic=True, num_inference_steps=num_inference_steps)
    return evaluate(env, lambda obs: executor.act(obs[POLICY_GROUP]), num_episodes, success_return, executor.reset)


def evaluate_residual(actor: torch.nn.Module, env: VecEnv, num_episodes: int, success_return: float) -> EvalResult:
    """Evaluate base + residual in a residual env (inril.residual.env.ResidualVecEnv, which resets its own chunk
    queues) with the residual's mean `actor`."""
    return evaluate(env, actor, num_episodes, success_return)
