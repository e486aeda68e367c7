"""(observation history, action chunk) windows over demonstrations.

A window anchored at step t of an episode of length T holds

    obs[t - To + 1 .. t]        (To steps; indices below 0 repeat obs[0])
    actions[t .. t + Tp - 1]    (Tp steps; indices past T - 1 repeat actions[T - 1])

so every step of every episode is one sample, the chunk starts with the action taken at the
newest observation (what an env wrapper executes first), and padding follows Diffusion Policy:
the robot is assumed to have stood still before the start and to hold its last command after
the end. Sampling is vectorised gather over one flat array, so large batches cost one indexing op.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from inril.data.demos import DemoError, DemoSet


class WindowSampler:
    """Samples or enumerates windows from a subset of a DemoSet's episodes."""

    def __init__(
        self,
        demos: DemoSet,
        episodes: Sequence[int] | None,
        obs_horizon: int,
        pred_horizon: int,
        device: torch.device | str = "cpu",
    ):
        if obs_horizon < 1 or pred_horizon < 1:
            raise ValueError(f"horizons must be >= 1, got obs {obs_horizon}, pred {pred_horizon}")
        episodes = list(range(demos.num_episodes)) if episodes is None else list(episodes)
        if not episodes:
            raise ValueError("a window sampler needs at least one episode")
        longest = max(demos.episode_lengths)
        if max(obs_horizon, pred_horizon) > longest:
            raise DemoError(
                f"{demos.path}: horizon {max(obs_horizon, pred_horizon)} is longer than every demo "
                f"(longest has {longest} steps)"
            )
        lengths = np.array([demos.episode_lengths[i] for i in episodes])
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self.obs_horizon, self.pred_horizon = obs_horizon, pred_horizon
        self.device = torch.device(device)
        self._obs = torch.as_tensor(np.concatenate([demos.obs[i] for i in episodes]), device=self.device)
        self._actions = torch.as_tensor(np.concatenate([demos.actions[i] for i in episodes]), device=self.device)
        # One row per anchor step: where its episode starts, its last index, and t itself.
        self._episode_start = torch.as_tensor(np.repeat(starts, lengths), device=self.device)
        self._episode_last = torch.as_tensor(np.repeat(starts + lengths - 1, lengths), device=self.device)
        self._anchor = torch.arange(int(lengths.sum()), device=self.device)
        self._obs_offsets = torch.arange(-obs_horizon + 1, 1, device=self.device)
        self._act_offsets = torch.arange(pred_horizon, device=self.device)

    def __len__(self) -> int:
        return len(self._anchor)

    @property
    def observations(self) -> torch.Tensor:
        """Every observation row of the sampler's episodes (for fitting normalizers)."""
        return self._obs

    @property
    def actions(self) -> torch.Tensor:
        """Every action row of the sampler's episodes (for fitting normalizers), (rows, A)."""
        return self._actions

    def windows(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows anchored at flat rows `rows`: obs (B, To, obs_dim) and actions (B, Tp, action_dim)."""
        anchor = self._anchor[rows].unsqueeze(1)
        first = self._episode_start[rows].unsqueeze(1)
        last = self._episode_last[rows].unsqueeze(1)
        obs_idx = torch.maximum(anchor + self._obs_offsets, first)
        act_idx = torch.minimum(anchor + self._act_offsets, last)
        return self._obs[obs_idx], self._actions[act_idx]

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """`batch_size` windows drawn uniformly with replacement (from `generator`): obs (B, To, O), actions
        (B, Tp, A), raw units."""
        rows = torch.randint(len(self), (batch_size,), generator=generator, device=self.device)
        return self.windows(rows)

    def batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Every window once, in order (for validation)."""
        for begin in range(0, len(self), batch_size):
            yield self.windows(torch.arange(begin, min(begin + batch_size, len(self)), device=self.device))
