"""The 1:m interleave schedule: when an IL (BC) update is due between RL updates.

Definitions (docs/design.md): an RL update is one optimizer step of the RL algorithm (one PPO
minibatch step), an IL update is one BC optimizer step on one demo batch, and m counts RL updates
per IL update. The trainer calls the scheduler after every RL optimizer step and runs as many IL
updates as it returns::

    sched = InterleaveScheduler(InterleaveConfig(mode="adaptive", m=10))
    for minibatch in ppo_epochs_and_minibatches:
        ppo_step(minibatch)
        for _ in range(sched.on_rl_step()):
            bc_step(next(demo_batches))
    sched.observe_alignment(rho)       # once per measurement of rho(t), inril.interleave.alignment
    checkpoint["interleave"] = sched.state_dict()

The count carries across PPO iterations and checkpoints: with fixed m, after N RL updates exactly
floor(N / m) IL updates have been issued, however the N steps are split into iterations and
resumes.

Adaptive m(t). The paper's Theorem 1 looks at the first-order effect of an IL step on the RL
objective: L_RL(theta - a_IL g_IL) ~ L_RL(theta) - a_IL |g_IL||g_RL| cos(g_IL, g_RL). When the
gradients conflict (cos < 0) every IL step undoes RL progress in proportion to -cos, so the IL
step size relative to RL, i.e. the IL rate 1/m, should fall; when they agree the IL step also
helps RL and the IL rate may rise. We apply this as a smooth map from the smoothed alignment to m:

    rho_ema <- ema * rho_ema + (1 - ema) * rho          (rho_ema starts at 0, i.e. at m)
    m(t)    =  clamp(m * exp(-gain * rho_ema), m_min, m_max)

so the configured m is the ratio at orthogonal gradients (an IL step does no first-order harm or
good to RL), m grows as the gradients conflict and shrinks as they agree, and gain sets how many
e-folds of m one unit of cosine is worth. A map rather than an integrator (log m += -gain * rho)
because alignment measured from minibatches usually has a persistent small bias of one sign,
which an integrator turns into a bang-bang switch between m_min and m_max.

The schedule uses the integer m_int(t) = round(m(t)) and accumulates an exact rational credit of
1/m_int(t) per RL update; an IL update is due whenever the credit reaches 1. So the average IL rate
follows 1/m_int(t), and for a constant m the count is exact (no float drift).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

MODES: tuple[str, ...] = ("fixed", "adaptive")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@dataclass
class InterleaveConfig:
    """How often IL updates are interleaved with RL updates."""

    mode: str = "fixed"
    """``fixed``: one IL update every m RL updates; ``adaptive``: m(t) follows the gradient alignment."""
    m: int = 10
    """RL updates per IL update (the paper's working range is 5 to 15); the adaptive ratio at rho = 0."""
    m_min: int = 2
    """Lower clamp of the adaptive m(t)."""
    m_max: int = 50
    """Upper clamp of the adaptive m(t)."""
    gain: float = 1.0
    """Adaptive: m(t) = m * exp(-gain * rho_ema) before clamping."""
    ema: float = 0.9
    """Adaptive: weight of the old value in the exponential moving average of rho."""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"interleave mode must be one of {MODES}, got {self.mode!r}")
        for name in ("m", "m_min", "m_max"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"interleave {name} must be an integer >= 1 (RL updates per IL update), got {value!r}")
        if not self.m_min <= self.m <= self.m_max:
            raise ValueError(f"interleave needs m_min <= m <= m_max, got m_min={self.m_min}, m={self.m}, m_max={self.m_max}")
        if not (isinstance(self.gain, (int, float)) and math.isfinite(self.gain) and self.gain >= 0):
            raise ValueError(f"interleave gain must be a finite number >= 0, got {self.gain!r}")
        if self.mode == "adaptive" and self.gain == 0:
            raise ValueError("interleave mode 'adaptive' with gain 0 never adapts; use mode 'fixed'")
        if not (isinstance(self.ema, (int, float)) and 0 <= self.ema < 1):
            raise ValueError(f"interleave ema must be in [0, 1), got {self.ema!r}")


class InterleaveScheduler:
    """Stateful 1:m schedule; see the module docstring for the protocol and the adaptive rule."""

    def __init__(self, cfg: InterleaveConfig) -> None:
        self.cfg = cfg
        self._rl_steps = 0
        self._il_updates = 0
        self._credit = Fraction(0)
        self._rho_ema = 0.0

    @property
    def m(self) -> int:
        """The integer ratio the next RL update is credited with."""
        return round(self.m_continuous)

    @property
    def m_continuous(self) -> float:
        """m(t) before rounding (equals cfg.m in fixed mode)."""
        if self.cfg.mode == "fixed":
            return float(self.cfg.m)
        return min(max(self.cfg.m * math.exp(-self.cfg.gain * self._rho_ema), self.cfg.m_min), self.cfg.m_max)

    @property
    def rho_ema(self) -> float:
        """Smoothed alignment (tracked in both modes, for logging)."""
        return self._rho_ema

    @property
    def rl_steps(self) -> int:
        """RL updates (optimizer steps) recorded so far, resumed runs included."""
        return self._rl_steps

    @property
    def il_updates(self) -> int:
        """IL updates made due so far (the sum of `on_rl_step`'s returns)."""
        return self._il_updates

    def on_rl_step(self) -> int:
        """Record one RL optimizer step; return how many IL updates are due now (0 or more)."""
        self._rl_steps += 1
        self._credit += Fraction(1, self.m)
        due = math.floor(self._credit)
        self._credit -= due
        self._il_updates += due
        return due

    def observe_alignment(self, rho: float) -> None:
        """Feed one measurement of rho(t) in [-1, 1] (values a rounding error outside are clamped)."""
        rho = float(rho)
        if not math.isfinite(rho):
            raise ValueError(f"alignment rho must be finite, got {rho}")
        rho = min(max(rho, -1.0), 1.0)
        self._rho_ema = self.cfg.ema * self._rho_ema + (1.0 - self.cfg.ema) * rho

    def state_dict(self) -> dict[str, Any]:
        """Counters, the fractional IL credit (exact), rho_ema and the config, for checkpoints."""
        return {
            "rl_steps": self._rl_steps,
            "il_updates": self._il_updates,
            "credit": (self._credit.numerator, self._credit.denominator),
            "rho_ema": self._rho_ema,
            "config": asdict(self.cfg),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore counters saved by state_dict; the config saved with them must match this one."""
        if state["config"] != asdict(self.cfg):
            raise ValueError(f"interleave state was saved with config {state['config']}, this scheduler has {asdict(self.cfg)}")
        self._rl_steps = int(state["rl_steps"])
        self._il_updates = int(state["il_updates"])
        self._credit = Fraction(*state["credit"])
        self._rho_ema = float(state["rho_ema"])
