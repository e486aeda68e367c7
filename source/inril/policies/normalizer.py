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
    def fit(cls, data: torch.Tensor, clip: float | None = None, min_span: float = 0.0) -> MinMaxNormalizer:
        """Fit on samples of shape (..., dim): the statistics are taken over every leading axis.

        A dimension whose range is narrower than `min_span` (raw units) gets the range min_span around its
        midpoint, so that a near-constant dimension (e.g. a fixed part's height, which varies by 0.2 mm over
        the demos) is not amplified into [-1, 1] and then saturates at the clip when it moves slightly."""
        data = torch.as_tensor(data, dtype=torch.float32)
        if data.ndim < 1 or data.numel() == 0:
            raise ValueError("cannot fit a normalizer on empty data")
        if min_span < 0:
            raise ValueError(f"min_span must be >= 0, got {min_span}")
        flat = data.reshape(-1, data.shape[-1])
        low, high = flat.min(dim=0).values, flat.max(dim=0).values
        narrow = (high - low) < min_span
        mid = (high + low) / 2
        low = torch.where(narrow, mid - min_span / 2, low)
        high = torch.where(narrow, mid + min_span / 2, high)
        return cls(low, high, clip=clip)

    @property
    def dim(self) -> int:
        return self.low.numel()

    def _scale(self) -> tuple[torch.Tensor, torch.Tensor]:
        span = self.high - self.low
        constant = span < _MIN_RANGE
        half_span = torch.where(constant, torch.ones_like(span), span / 2)
        center = torch.where(constant, self.low, (self.high + self.low) / 2)
        return center, half_span

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        center, half_span = self._scale()
        return torch.clamp((x - center) / half_span, -self.clip, self.clip)

    def unnormalize(self, y: torch.Tensor) -> torch.Tensor:
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
