"""Frozen per-dimension min-max normalization to [-1, 1].

Fitted once on the demonstrations and stored as buffers, so it travels inside every checkpoint
(base policy, residual and BC batches all share the same statistics). It is never refitted during
fine-tuning: IL updates on new data must not move the coordinate system the residual acts in.
"""

from __future__ import annotations

import torch
from torch import nn

# Dimensions whose demo range is narrower than this are treated as constant: they map to 0 and
# unnormalize back to the demo value, instead of amplifying noise by 1/range.
_MIN_RANGE = 1e-6


class MinMaxNormalizer(nn.Module):
    """Maps x to 2 * (x - min) / (max - min) - 1, optionally clamped to [-clip, clip]."""

    def __init__(self, low: torch.Tensor, high: torch.Tensor, clip: float | None = None):
        super().__init__()
        low = torch.as_tensor(low, dtype=torch.float32).flatten()
        high = torch.as_tensor(high, dtype=torch.float32).flatten()
        if low.shape != high.shape:
            raise ValueError(f"normalizer bounds differ in shape: {tuple(low.shape)} vs {tuple(high.shape)}")
        if not (torch.isfinite(low).all() and torch.isfinite(high).all()):
            raise ValueError("normalizer bounds must be finite")
        if (high < low).any():
            raise ValueError("normalizer bounds must satisfy low <= high in every dimension")
        if clip is not None and clip <= 0:
            raise ValueError(f"clip must be positive, got {clip}")
        self.register_buffer("low", low)
        self.register_buffer("high", high)
        # A buffer (inf = no clamp) so that the clamp travels with the state_dict and TorchScript.
        self.register_buffer("clip", torch.tensor(float("inf") if clip is None else float(clip)))

    @classmethod
    def fit(cls, data: torch.Tensor, clip: float | None = None) -> MinMaxNormalizer:
        """Fit on samples of shape (..., dim): the statistics are taken over every leading axis."""
        data = torch.as_tensor(data, dtype=torch.float32)
        if data.ndim < 1 or data.numel() == 0:
            raise ValueError("cannot fit a normalizer on empty data")
        flat = data.reshape(-1, data.shape[-1])
        return cls(flat.min(dim=0).values, flat.max(dim=0).values, clip=clip)

    @property
    def dim(self) -> int:
        """The number of dimensions."""
        return self.low.numel()

    def _scale(self) -> tuple[torch.Tensor, torch.Tensor]:
        span = self.high - self.low
        constant = span < _MIN_RANGE
        half_span = torch.where(constant, torch.ones_like(span), span / 2)
        center = torch.where(constant, self.low, (self.high + self.low) / 2)
        return center, half_span

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., dim) in raw units -> [-1, 1] over the fitted range (clamped to [-clip, clip] when set)."""
        center, half_span = self._scale()
        return torch.clamp((x - center) / half_span, -self.clip, self.clip)

    def unnormalize(self, y: torch.Tensor) -> torch.Tensor:
        """Inverse of `normalize` (without clamping): y (..., dim) -> raw units."""
        center, half_span = self._scale()
        return y * half_span + center

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalize(x)

    @classmethod
    def empty(cls, dim: int) -> MinMaxNormalizer:
        """A placeholder of the right shape, to be filled by load_state_dict."""
        return cls(torch.zeros(dim), torch.zeros(dim))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, clip={self.clip.item()}"
