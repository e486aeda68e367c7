"""The residual actor: an rsl-rl-lib 5 `MLPModel` whose output starts at exactly zero.

It reads the normalized observation and the base policy's normalized action for this step (the
`policy` and `base_action` observation groups) and outputs a residual in normalized action
space; the env wrapper executes `clip(base + scale * residual)`. The output layer is zero and
bias-free (ResiP's `action_head_std: 0.0`), so the first rollout executes the base policy exactly
while the layer's gradient (hidden activations times advantages) is non-zero from the first update.

Plug it into rsl-rl-lib by name: `{"class_name": "inril.residual.actor:ResidualActor", ...}`.
"""

from __future__ import annotations

from rsl_rl.models import MLPModel
from tensordict import TensorDict
from torch import nn


class ResidualActor(MLPModel):
    """rsl-rl-lib's `MLPModel` with a zero, bias-free output layer (module docstring): residual (N, A) in
    normalized action units from the actor's observation groups. Raises TypeError if the MLP does not end in
    nn.Linear."""
    def __init__(
        self,
        obs: TensorDict,
        obs_groups: dict[str, list[str]],
        obs_set: str,
        output_dim: int,
        hidden_dims: tuple[int, ...] | list[int] = (256, 256),
        activation: str = "relu",
        obs_normalization: bool = False,
        distribution_cfg: dict | None = None,
    ) -> None:
        super().__init__(obs, obs_groups, obs_set, output_dim, hidden_dims, activation, obs_normalization,
                         distribution_cfg)
        head = self.mlp[-1]
        if not isinstance(head, nn.Linear):
            raise TypeError(f"expected the MLP to end in nn.Linear, got {type(head).__name__}")
        zero_head = nn.Linear(head.in_features, head.out_features, bias=False)
        nn.init.zeros_(zero_head.weight)
        self.mlp[-1] = zero_head

