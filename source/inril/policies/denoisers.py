"""The denoisers of the diffusion policy: Diffusion Policy's 1-D temporal UNet with FiLM conditioning
(Chi et al. 2023, `ConditionalUnet1D`) and DPPO's MLP denoiser for low-dim furniture tasks (`ConditionalMLP`).
Both map a noisy normalized chunk (B, Tp, A), the diffusion step (B,) and the flattened observation history
(B, To * O) to a chunk-shaped prediction (B, Tp, A)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SinusoidalEmbedding(nn.Module):
    """Transformer-style sin/cos features of the (integer) diffusion step."""

    def __init__(self, dim: int):
        super().__init__()
        half = dim // 2
        self.register_buffer("freqs", torch.exp(-math.log(10_000.0) * torch.arange(half) / half), persistent=False)

    def forward(self, t: Tensor) -> Tensor:
        """Steps t (B,) -> features (B, dim): sin of t * freqs, then cos."""
        angles = t.float()[:, None] * self.freqs[None]
        return torch.cat([angles.sin(), angles.cos()], dim=-1)


def conv_block(in_channels: int, out_channels: int, kernel_size: int, n_groups: int) -> nn.Sequential:
    """Conv1d (length-preserving) -> GroupNorm -> Mish, Diffusion Policy's Conv1dBlock."""
    return nn.Sequential(
        nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
        nn.GroupNorm(n_groups, out_channels),
        nn.Mish(),
    )


class FiLMResidualBlock(nn.Module):
    """Two conv blocks; the conditioning vector scales and shifts the channels between them."""

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int, kernel_size: int, n_groups: int):
        super().__init__()
        self.block1 = conv_block(in_channels, out_channels, kernel_size, n_groups)
        self.block2 = conv_block(out_channels, out_channels, kernel_size, n_groups)
        self.film = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, 2 * out_channels))
        self.skip = nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        """x (B, C_in, T) and cond (B, cond_dim) -> (B, C_out, T)."""
        scale, bias = self.film(cond).unsqueeze(-1).chunk(2, dim=1)
        # (1 + scale) so that a freshly initialised FiLM layer is close to the identity.
        h = self.block1(x) * (1 + scale) + bias
        return self.block2(h) + self.skip(x)


class ConditionalUnet1D(nn.Module):
    """Denoiser f(x_t, t, obs) over action chunks x_t of shape (B, T, action_dim): the noise or the clean chunk, as
    the policy's `prediction_type` says.

    Every residual block is FiLM-conditioned on [step embedding ‖ flattened normalized obs history].
    Level i has down_dims[i] channels; between levels the time axis is halved (strided conv) on the
    way down and doubled (transposed conv) on the way up, where the matching down level's features
    are concatenated. Chunk lengths that are not a multiple of 2**(levels - 1) are padded internally
    by repeating the last action and cropped back, so any pred_horizon works.
    """

    def __init__(
        self,
        action_dim: int,
        cond_dim: int,
        down_dims: list[int],
        kernel_size: int,
        n_groups: int,
        step_embed_dim: int,
    ):
        super().__init__()
        self.time_multiple = 2 ** (len(down_dims) - 1)
        self.step_encoder = nn.Sequential(
            SinusoidalEmbedding(step_embed_dim),
            nn.Linear(step_embed_dim, 4 * step_embed_dim),
            nn.Mish(),
            nn.Linear(4 * step_embed_dim, step_embed_dim),
        )
        cond_dim = cond_dim + step_embed_dim

        def res(cin: int, cout: int) -> FiLMResidualBlock:
            return FiLMResidualBlock(cin, cout, cond_dim, kernel_size, n_groups)

        in_dims = [action_dim, *down_dims[:-1]]
        self.down = nn.ModuleList(
            nn.ModuleList([res(cin, cout), res(cout, cout)]) for cin, cout in zip(in_dims, down_dims)
        )
        self.downsample = nn.ModuleList(nn.Conv1d(d, d, 3, stride=2, padding=1) for d in down_dims[:-1])
        self.mid = nn.ModuleList([res(down_dims[-1], down_dims[-1]), res(down_dims[-1], down_dims[-1])])
        # up[i] brings level i+1 back to level i's resolution and channels.
        self.upsample = nn.ModuleList(nn.ConvTranspose1d(d, d, 4, stride=2, padding=1) for d in down_dims[1:])
        self.up = nn.ModuleList(
            nn.ModuleList([res(down_dims[i + 1] + down_dims[i], down_dims[i]), res(down_dims[i], down_dims[i])])
            for i in range(len(down_dims) - 1)
        )
        self.head = nn.Sequential(
            conv_block(down_dims[0], down_dims[0], kernel_size, n_groups),
            nn.Conv1d(down_dims[0], action_dim, 1),
        )

    def forward(self, x: Tensor, timestep: Tensor | int, obs_cond: Tensor) -> Tensor:
        """x (B, T, action_dim), timestep scalar or (B,), obs_cond (B, cond_dim) -> eps (B, T, action_dim)."""
        batch, length = x.shape[0], x.shape[1]
        t = torch.as_tensor(timestep, device=x.device).expand(batch)
        cond = torch.cat([self.step_encoder(t), obs_cond], dim=-1)

        h = x.transpose(1, 2)
        padded = -(-length // self.time_multiple) * self.time_multiple
        if padded != length:
            h = F.pad(h, (0, padded - length), mode="replicate")

        skips = []
        for level, (block1, block2) in enumerate(self.down):
            h = block2(block1(h, cond), cond)
            if level < len(self.downsample):
                skips.append(h)
                h = self.downsample[level](h)
        for block in self.mid:
            h = block(h, cond)
        for level in reversed(range(len(self.up))):
            h = torch.cat([self.upsample[level](h), skips[level]], dim=1)
            block1, block2 = self.up[level]
            h = block2(block1(h, cond), cond)
        return self.head(h)[:, :, :length].transpose(1, 2)


class ConditionalMLP(nn.Module):
    """Denoiser over action chunks x_t (B, T, action_dim) as one flat vector: an MLP (Mish) on
    [flattened x_t ‖ step embedding ‖ flattened normalized obs history] -> the flat output chunk.
    DPPO's furniture MLP denoiser has the same inputs (with residual blocks and LayerNorm at 7 x 1024)."""

    def __init__(self, action_dim: int, horizon: int, cond_dim: int, hidden_dims: list[int], step_embed_dim: int):
        super().__init__()
        self.step_encoder = nn.Sequential(
            SinusoidalEmbedding(step_embed_dim), nn.Linear(step_embed_dim, 2 * step_embed_dim), nn.Mish(),
            nn.Linear(2 * step_embed_dim, step_embed_dim),
        )
        layers: list[nn.Module] = []
        width = horizon * action_dim + step_embed_dim + cond_dim
        for hidden in hidden_dims:
            layers += [nn.Linear(width, hidden), nn.Mish()]
            width = hidden
        self.mlp = nn.Sequential(*layers, nn.Linear(width, horizon * action_dim))

    def forward(self, x: Tensor, timestep: Tensor | int, obs_cond: Tensor) -> Tensor:
        """x (B, T, action_dim), timestep scalar or (B,), obs_cond (B, cond_dim) -> (B, T, action_dim)."""
        t = torch.as_tensor(timestep, device=x.device).expand(x.shape[0])
        h = torch.cat([x.flatten(1), self.step_encoder(t), obs_cond], dim=-1)
        return self.mlp(h).view_as(x)
