"""Gradient surgery between the imitation (IL) and reinforcement (RL) gradients of one network.

In full-network mode (DPPO, IDQL, Gaussian PPO) both losses reach the same parameters. The trainer
flattens the two gradients, combines them here and writes the result back before one optimizer step::

    g_il = flatten_grads(params)            # after backward() of the BC loss
    g_rl = flatten_grads(params)            # after backward() of the RL loss (zero_grad in between)
    result = project(g_il, g_rl, "pcgrad")  # or "dual_cone" / "none"
    assign_flat_grad(params, result.update)
    optimizer.step()
    scheduler.observe_alignment(float(result.rho))

For interleaved separate steps (an IL step, then m RL steps) use `project_away(g, other)` to strip
from one gradient the part that conflicts with the most recent gradient of the other objective.

Methods (g1 = g_il, g2 = g_rl, d = g1 . g2):

- ``none``: g1 + g2.
- ``pcgrad`` (Yu et al. 2020, "Gradient Surgery for Multi-Task Learning"), two-task case: when
  d < 0 each gradient loses its component along the other, g1' = g1 - d/|g2|^2 g2 and
  g2' = g2 - d/|g1|^2 g1 (so g1'.g2 = 0 and g2'.g1 = 0); the update is g1' + g2'. When d >= 0 the
  update is exactly g1 + g2.
- ``dual_cone``: the Euclidean projection of g = g1 + g2 onto the dual cone
  K* = {v : v.g1 >= 0, v.g2 >= 0} (as in Dual Cone Gradient Descent, Hwang et al. 2024). If g is
  already in K* it is returned unchanged; this always holds when d >= 0, since then
  g.g1 = |g1|^2 + d >= 0 and likewise for g2. Otherwise exactly one constraint is violated
  (both would need |g|^2 = g.g1 + g.g2 < 0) - say g.g1 < 0 - and the result is the projection of g
  onto the hyperplane v.g1 = 0: v = g - (g.g1)/|g1|^2 g1. It also satisfies the other constraint:
  v.g2 = |g2|^2 - d^2/|g1|^2 >= 0 by Cauchy-Schwarz. A point of K* that is the projection onto a
  half-space containing K* is the projection onto K*, so v is the nearest update to the plain sum
  that makes first-order progress (or none) on both objectives. Unlike pcgrad, a conflicting pair
  whose sum already helps both objectives is left alone.

Numerics: all reductions run on copies scaled by each gradient's max-abs, so gradients of order
1e-30 or 1e+30 in float32 neither underflow nor overflow, and no host synchronisation happens (rho
stays a 0-d tensor; call float() when you need it). A zero gradient has rho = 0 and is never
projected against. Inputs are assumed finite.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import torch
from torch import Tensor

METHODS: tuple[str, ...] = ("none", "pcgrad", "dual_cone")


class SurgeryResult(NamedTuple):
    """The combined gradient and the cosine between the two inputs (0-d tensor, 0 if either is zero)."""

    update: Tensor
    rho: Tensor


class _Pair(NamedTuple):
    """Scale-safe statistics of two gradients a, b: a = scale_a * unit_a with max|unit_a| = 1."""

    scale_a: Tensor
    scale_b: Tensor
    unit_a: Tensor
    unit_b: Tensor
    sq_a: Tensor  # |unit_a|^2
    sq_b: Tensor  # |unit_b|^2
    dot: Tensor  # unit_a . unit_b


def _check(a: Tensor, b: Tensor) -> None:
    if a.dim() != 1 or a.shape != b.shape:
        raise ValueError(f"expected two flat gradients of equal length, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    if a.dtype != b.dtype or a.device != b.device:
        raise ValueError(f"gradients differ in dtype/device: {a.dtype}@{a.device} vs {b.dtype}@{b.device}")


def _unit(g: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    if g.numel() == 0:
        return g.new_zeros(()), g, g.new_zeros(())
    lo, hi = torch.aminmax(g)
    scale = torch.maximum(-lo, hi)
    unit = g / torch.where(scale > 0, scale, torch.ones_like(scale))
    return scale, unit, torch.linalg.vector_norm(unit).square()


def _pair(a: Tensor, b: Tensor) -> _Pair:
    _check(a, b)
    scale_a, unit_a, sq_a = _unit(a)
    scale_b, unit_b, sq_b = _unit(b)
    return _Pair(scale_a, scale_b, unit_a, unit_b, sq_a, sq_b, torch.dot(unit_a, unit_b))


def _safe_div(num: Tensor, den: Tensor) -> Tensor:
    """num / den, and 0 where den is 0 (den >= 0 here)."""
    return torch.where(den > 0, num / torch.where(den > 0, den, torch.ones_like(den)), torch.zeros_like(num))


def _cos(p: _Pair) -> Tensor:
    return _safe_div(p.dot, torch.sqrt(p.sq_a * p.sq_b)).clamp(-1.0, 1.0)


def _conflict_coef(p: _Pair) -> Tensor:
    """c such that a - c * unit_b is a with its component along b removed, and c = 0 unless a.b < 0."""
    # a.b / |b|^2 * b = scale_a * dot / sq_b * unit_b.
    return p.scale_a * _safe_div(p.dot.clamp(max=0.0), p.sq_b)


def cosine(a: Tensor, b: Tensor) -> Tensor:
    """Cosine between two flat gradients as a 0-d tensor; 0 when either is zero."""
    return _cos(_pair(a, b))


def project_away(g: Tensor, other: Tensor) -> Tensor:
    """g without its component along `other` when g . other < 0, else g unchanged (one-sided PCGrad)."""
    p = _pair(g, other)
    return g.addcmul(p.unit_b, -_conflict_coef(p))


def _swap(p: _Pair) -> _Pair:
    return _Pair(p.scale_b, p.scale_a, p.unit_b, p.unit_a, p.sq_b, p.sq_a, p.dot)


def _dual_cone(g_il: Tensor, g_rl: Tensor, p: _Pair) -> Tensor:
    # g = a + b with a = s_a u_a, b = s_b u_b, d = u_a.u_b:  g.a = s_a (s_a |u_a|^2 + s_b d), so the sign of g.a
    # is that of gin_a below, and the component to remove is (g.a / |a|^2) a = (s_a + s_b d / |u_a|^2) u_a.
    gin_a = p.scale_a * p.sq_a + p.scale_b * p.dot
    gin_b = p.scale_b * p.sq_b + p.scale_a * p.dot
    viol_a = gin_a < 0
    # In exact arithmetic at most one constraint is violated; rounding near g = 0 could flag both.
    viol_b = (gin_b < 0) & ~viol_a
    coef_a = torch.where(viol_a, p.scale_a + _safe_div(p.scale_b * p.dot, p.sq_a), torch.zeros_like(gin_a))
    coef_b = torch.where(viol_b, p.scale_b + _safe_div(p.scale_a * p.dot, p.sq_b), torch.zeros_like(gin_b))
    return (g_il + g_rl).addcmul_(p.unit_a, -coef_a).addcmul_(p.unit_b, -coef_b)


def project(g_il: Tensor, g_rl: Tensor, method: str) -> SurgeryResult:
    """Combine the flat IL and RL gradients with `method` in METHODS; see the module docstring."""
    if method not in METHODS:
        raise ValueError(f"unknown gradient surgery method {method!r}; known: {', '.join(METHODS)}")
    p = _pair(g_il, g_rl)
    if method == "none":
        update = g_il + g_rl
    elif method == "pcgrad":
        update = (g_il + g_rl).addcmul_(p.unit_b, -_conflict_coef(p)).addcmul_(p.unit_a, -_conflict_coef(_swap(p)))
    else:
        update = _dual_cone(g_il, g_rl, p)
    return SurgeryResult(update, _cos(p))


def flatten_grads(params: Iterable[Tensor]) -> Tensor:
    """Concatenate the gradients of `params` into one flat tensor; a missing grad counts as zeros."""
    params = list(params)
    if not params:
        raise ValueError("flatten_grads needs at least one parameter")
    return torch.cat([p.grad.reshape(-1) if p.grad is not None else torch.zeros_like(p).reshape(-1) for p in params])


def assign_flat_grad(params: Iterable[Tensor], flat: Tensor) -> None:
    """Write the flat gradient back into `.grad` of `params`, in the order flatten_grads used."""
    params = list(params)
    numels = [p.numel() for p in params]
    if flat.dim() != 1 or flat.numel() != sum(numels):
        raise ValueError(f"flat gradient has shape {tuple(flat.shape)}, parameters need {sum(numels)} elements")
    for p, chunk in zip(params, torch.split(flat.detach(), numels)):
        if p.grad is None:
            p.grad = chunk.view_as(p).clone()
        else:
            p.grad.copy_(chunk.view_as(p))
